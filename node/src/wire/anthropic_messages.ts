/** Anthropic Messages (`POST .../v1/messages`). */
import type { AttributeValue } from '@opentelemetry/api';
import { bodyRequest, type Any, type CallState, type WireFormat } from './common.js';

function message(msg: Any, st: CallState): void {
  st.responseId(msg?.id);
  st.responseModel(msg?.model);
  if (msg?.stop_reason) st.finishAll([msg.stop_reason]);
  if (Array.isArray(msg?.content)) {
    for (const part of msg.content) if (typeof part?.text === 'string') st.outputChars += part.text.length;
  }
  if (msg?.usage) st.addUsage(msg.usage);
}

export const anthropicMessages: WireFormat = {
  name: 'anthropic_messages',
  family: 'anthropic',
  operation: 'chat',
  flavor: 'anthropic',
  reference: 'anthropic',
  referenceFlavor: 'default',
  match: path => path.endsWith('/v1/messages') || path === '/messages',
  request(body: Any) {
    const attrs: Record<string, AttributeValue> = {};
    if (typeof body?.max_tokens === 'number') attrs['gen_ai.request.max_tokens'] = body.max_tokens;
    if (typeof body?.temperature === 'number') attrs['gen_ai.request.temperature'] = body.temperature;
    if (typeof body?.top_p === 'number') attrs['gen_ai.request.top_p'] = body.top_p;
    if (typeof body?.top_k === 'number') attrs['gen_ai.request.top_k'] = body.top_k;
    return bodyRequest(body, attrs);
  },
  json: (body: Any, st: CallState) => message(body, st),
  event(data: Any, event, st: CallState) {
    const type = data?.type ?? event;
    if (type === 'message_start') message(data?.message, st);
    else if (type === 'message_delta') {
      if (data?.delta?.stop_reason) st.finishAll([data.delta.stop_reason]);
      if (data?.usage) st.addUsage(data.usage);
    } else if (type === 'content_block_delta' && typeof data?.delta?.text === 'string') {
      st.outputChars += data.delta.text.length;
    } else if (type === 'message_stop') st.completed = true;
    else if (type === 'error') st.errorType = String(data?.error?.type ?? 'error');
  },
};
