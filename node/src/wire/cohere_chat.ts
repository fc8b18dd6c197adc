/** Cohere's v2 chat API (`POST .../v2/chat`): JSON and its typed SSE events. */
import { bodyRequest, type Any, type CallState, type WireFormat } from './common.js';

function message(data: Any, st: CallState): void {
  if (!data || typeof data !== 'object') return;
  st.responseId(data.id);
  if (typeof data.finish_reason === 'string') st.finishAll([data.finish_reason]);
  if (data.usage && typeof data.usage === 'object') st.addUsage(data.usage);
}

export const cohereChat: WireFormat = {
  name: 'cohere_chat',
  family: 'cohere',
  operation: 'chat',
  flavor: 'default',
  reference: 'cohere',
  referenceFlavor: 'default',
  match: path => path.endsWith('/v2/chat'),
  request: (body: Any) => bodyRequest(body),
  json: (body: Any, st: CallState) => message(body, st),
  event(data: Any, event, st: CallState) {
    const kind = data?.type ?? event;
    if (kind === 'message-start') st.responseId(data?.id);
    else if (kind === 'content-delta') {
      const text = data?.delta?.message?.content?.text;
      if (typeof text === 'string') st.outputChars += text.length;
    } else if (kind === 'message-end') message(data?.delta, st);
  },
};
