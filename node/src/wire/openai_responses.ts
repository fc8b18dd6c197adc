/** OpenAI Responses API (`POST .../responses`). */
import { openaiUsageAttributes } from '../pricing-units.js';
import { bodyRequest, requestAttrs, type Any, type CallState, type WireFormat } from './common.js';

function response(res: Any, st: CallState): void {
  if (!res || typeof res !== 'object') return;
  st.responseId(res.id);
  st.responseModel(res.model);
  if (typeof res.status === 'string') {
    const reason = res.incomplete_details?.reason;
    st.finishAll([typeof reason === 'string' ? reason : res.status]);
  }
  if (Array.isArray(res.output)) {
    for (const item of res.output) {
      if (Array.isArray(item?.content)) {
        for (const part of item.content) if (typeof part?.text === 'string') st.outputChars += part.text.length;
      }
    }
  }
  if (res.usage) {
    st.addUsage(res.usage);
    for (const [k, v] of Object.entries(openaiUsageAttributes(res.usage))) st.set(k, v);
  }
}

export const openaiResponses: WireFormat = {
  name: 'openai_responses',
  family: 'openai',
  operation: 'chat',
  flavor: 'responses',
  reference: 'openai',
  referenceFlavor: 'responses',
  match: path => path.endsWith('/responses'),
  request: (body: Any) => bodyRequest(body, requestAttrs(body)),
  json: (body: Any, st: CallState) => response(body, st),
  event(data: Any, event, st: CallState) {
    const type = data?.type ?? event;
    if (type === 'response.created' || type === 'response.in_progress') {
      st.responseId(data?.response?.id);
      st.responseModel(data?.response?.model);
      if (data?.response?.usage) st.addUsage(data.response.usage);
    } else if (type === 'response.completed' || type === 'response.incomplete' || type === 'response.failed') {
      response(data?.response, st);
      st.completed = true;
    } else if (type === 'response.output_text.delta' && typeof data?.delta === 'string') {
      st.outputChars += data.delta.length;
    } else if (type === 'error') {
      st.errorType = String(data?.code ?? 'error');
    }
  },
};
