/** OpenAI Embeddings (`POST .../embeddings`) and OpenAI-compatible embedding APIs. */
import type { Any, CallState, WireFormat } from './common.js';

export const openaiEmbeddings: WireFormat = {
  name: 'openai_embeddings',
  family: 'openai',
  operation: 'embeddings',
  flavor: 'embeddings',
  reference: 'openai',
  referenceFlavor: 'embeddings',
  match: path => path.endsWith('/embeddings'),
  request(body: Any) {
    return { model: typeof body?.model === 'string' ? body.model : undefined, stream: false };
  },
  json(body: Any, st: CallState) {
    st.responseModel(body?.model);
    if (body?.usage) st.addUsage(body.usage);
  },
  event() {},
};
