/** OpenAI Chat Completions (`POST .../chat/completions`), also every OpenAI-compatible API. */
import { openaiUsageAttributes } from '../pricing-units.js';
import { bodyRequest, requestAttrs, textLength, type Any, type CallState, type WireFormat } from './common.js';

/** Usage, plus audio/image/prediction tokens (priced apart; src/pricing-units.ts). */
function addUsage(st: CallState, usage: Any): void {
  st.addUsage(usage);
  for (const [k, v] of Object.entries(openaiUsageAttributes(usage))) st.set(k, v);
}

export const openaiChat: WireFormat = {
  name: 'openai_chat',
  family: 'openai',
  operation: 'chat',
  flavor: 'chat',
  reference: 'openai',
  referenceFlavor: 'chat',
  match: path => path.endsWith('/chat/completions'),
  request: (body: Any) => bodyRequest(body, requestAttrs(body)),
  json(body: Any, st: CallState) {
    st.responseId(body?.id);
    st.responseModel(body?.model);
    if (Array.isArray(body?.choices)) {
      st.finishAll(body.choices.map((c: Any) => c?.finish_reason));
      for (const c of body.choices) st.outputChars += textLength(c?.message?.content);
    }
    if (body?.usage) addUsage(st, body.usage);
  },
  event(data: Any, _event, st: CallState) {
    if (data === undefined) {
      st.completed = true;
      return;
    }
    if (data?.error) st.errorType = String(data.error.type ?? data.error.code ?? 'error');
    st.responseId(data?.id);
    st.responseModel(data?.model);
    if (Array.isArray(data?.choices)) {
      for (const c of data.choices) {
        st.outputChars += textLength(c?.delta?.content);
        if (c?.finish_reason) st.finish(c.finish_reason);
      }
    }
    if (data?.usage) addUsage(st, data.usage);
  },
  usageOnly: (data: Any) => !!data?.usage && Array.isArray(data?.choices) && data.choices.length === 0,
};
