/** OpenAI legacy Completions (`POST .../completions`): `text_completion`. */
import { bodyRequest, requestAttrs, type Any, type CallState, type WireFormat } from './common.js';

export const openaiCompletions: WireFormat = {
  name: 'openai_completions',
  family: 'openai',
  operation: 'text_completion',
  flavor: 'chat',
  reference: 'openai',
  referenceFlavor: 'chat',
  match: path => path.endsWith('/completions') && !path.endsWith('/chat/completions'),
  request: (body: Any) => bodyRequest(body, requestAttrs(body)),
  json(body: Any, st: CallState) {
    st.responseId(body?.id);
    st.responseModel(body?.model);
    if (Array.isArray(body?.choices)) {
      st.finishAll(body.choices.map((c: Any) => c?.finish_reason));
      for (const c of body.choices) if (typeof c?.text === 'string') st.outputChars += c.text.length;
    }
    if (body?.usage) st.addUsage(body.usage);
  },
  event(data: Any, _event, st: CallState) {
    if (data === undefined) {
      st.completed = true;
      return;
    }
    st.responseId(data?.id);
    st.responseModel(data?.model);
    if (Array.isArray(data?.choices)) {
      for (const c of data.choices) {
        if (typeof c?.text === 'string') st.outputChars += c.text.length;
        if (c?.finish_reason) st.finish(c.finish_reason);
      }
    }
    if (data?.usage) st.addUsage(data.usage);
  },
  usageOnly: (data: Any) => !!data?.usage && Array.isArray(data?.choices) && data.choices.length === 0,
};
