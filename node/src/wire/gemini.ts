/**
 * Google Gemini API and Vertex AI `generateContent` / `streamGenerateContent`
 * (`.../models/{model}:generateContent`, `...:streamGenerateContent?alt=sse`).
 */
import type { AttributeValue } from '@opentelemetry/api';
import type { Any, CallState, WireFormat } from './common.js';

const PATH = /\/models\/([^/:]+):(generateContent|streamGenerateContent)$/;

function chunk(body: Any, st: CallState): void {
  st.responseId(body?.responseId);
  st.responseModel(body?.modelVersion);
  if (Array.isArray(body?.candidates)) {
    const reasons = body.candidates.map((c: Any) => c?.finishReason).filter(Boolean);
    if (reasons.length) st.finishAll(reasons);
    for (const c of body.candidates) {
      for (const part of c?.content?.parts ?? []) if (typeof part?.text === 'string') st.outputChars += part.text.length;
    }
  }
  // usageMetadata is cumulative: each report replaces the last
  if (body?.usageMetadata && typeof body.usageMetadata === 'object') {
    st.usage = undefined;
    st.addUsage(body.usageMetadata, 'usageMetadata');
  }
  if (body?.error) st.errorType = String(body.error.status ?? body.error.code ?? 'error');
}

export const gemini: WireFormat = {
  name: 'gemini',
  family: 'gcp.gemini',
  operation: 'generate_content',
  flavor: 'default',
  reference: 'google',
  referenceFlavor: 'default',
  match: path => PATH.test(path),
  request(body: Any, url: URL) {
    const m = PATH.exec(url.pathname);
    const attrs: Record<string, AttributeValue> = {};
    const cfg = body?.generationConfig ?? {};
    if (typeof cfg.maxOutputTokens === 'number') attrs['gen_ai.request.max_tokens'] = cfg.maxOutputTokens;
    if (typeof cfg.temperature === 'number') attrs['gen_ai.request.temperature'] = cfg.temperature;
    if (typeof cfg.topP === 'number') attrs['gen_ai.request.top_p'] = cfg.topP;
    return { model: m ? decodeURIComponent(m[1]!) : undefined, stream: m?.[2] === 'streamGenerateContent', attrs };
  },
  json(body: Any, st: CallState) {
    // streamGenerateContent without alt=sse answers one JSON array of chunks
    if (Array.isArray(body)) for (const c of body) chunk(c, st);
    else chunk(body, st);
  },
  event(data: Any, _event, st: CallState) {
    if (data !== undefined) chunk(data, st);
  },
};
