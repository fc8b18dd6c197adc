// A fake LLM API on loopback for the client matrix: OpenAI Chat Completions and
// Responses, Anthropic Messages and Gemini generateContent, JSON and SSE, each reporting
// 1200 input tokens (1024 of them cached), 340 output tokens (120 of them reasoning).
// Every request's headers are kept so tests can count propagation headers.
import http from 'node:http';

export const USAGE = { input: 1200, cached: 1024, output: 340, reasoning: 120 };

export function startMockLlm() {
  const requests = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', c => (raw += c));
    req.on('end', () => {
      let body = {};
      try {
        body = raw ? JSON.parse(raw) : {};
      } catch {
        body = { unparsed: raw };
      }
      requests.push({ method: req.method, url: req.url, rawHeaders: req.rawHeaders, headers: req.headers, body });
      const path = req.url.split('?')[0];
      res.setHeader('x-request-id', `req_${requests.length}`);
      if (path.endsWith('/chat/completions')) return chat(res, body);
      if (path.endsWith('/responses')) return responses(res, body);
      if (path.endsWith('/messages')) return messages(res, body);
      const g = /\/models\/([^/:]+):(generateContent|streamGenerateContent)$/.exec(path);
      if (g) return gemini(res, g[1], g[2] === 'streamGenerateContent');
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not found"}}');
    });
  });
  return new Promise(resolve =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({ server, port, url: `http://127.0.0.1:${port}`, requests });
    }),
  );
}

function sse(res, events, named = false) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const e of events) {
    if (e === '[DONE]') res.write('data: [DONE]\n\n');
    else if (named) res.write(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
    else res.write(`data: ${JSON.stringify(e)}\n\n`);
  }
  res.end();
}

const chatUsage = () => ({
  prompt_tokens: USAGE.input,
  completion_tokens: USAGE.output,
  total_tokens: USAGE.input + USAGE.output,
  prompt_tokens_details: { cached_tokens: USAGE.cached },
  completion_tokens_details: { reasoning_tokens: USAGE.reasoning },
});

function chat(res, body) {
  const base = { id: 'chatcmpl-mock', created: 1764300000, model: `${body.model}-2024-07-18` };
  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        ...base,
        object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant', content: '2, 3, 5.', refusal: null }, logprobs: null, finish_reason: 'stop' }],
        usage: chatUsage(),
      }),
    );
    return;
  }
  const chunk = (delta, finish = null) => ({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] });
  const events = [chunk({ role: 'assistant', content: '' }), chunk({ content: '2, 3' }), chunk({ content: ', 5.' }), chunk({}, 'stop')];
  if (body.stream_options?.include_usage) events.push({ ...base, object: 'chat.completion.chunk', choices: [], usage: chatUsage() });
  events.push('[DONE]');
  sse(res, events);
}

function responses(res, body) {
  const usage = {
    input_tokens: USAGE.input,
    input_tokens_details: { cached_tokens: USAGE.cached },
    output_tokens: USAGE.output,
    output_tokens_details: { reasoning_tokens: USAGE.reasoning },
    total_tokens: USAGE.input + USAGE.output,
  };
  const message = { id: 'msg_mock', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: '2, 3, 5.', annotations: [] }] };
  const done = {
    id: 'resp_mock',
    object: 'response',
    created_at: 1764300000,
    status: 'completed',
    model: `${body.model}-2025-08-07`,
    output: [message],
    usage,
    incomplete_details: null,
    error: null,
  };
  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(done));
    return;
  }
  const pending = { ...done, status: 'in_progress', output: [], usage: null };
  sse(
    res,
    [
      { type: 'response.created', sequence_number: 0, response: pending },
      { type: 'response.output_item.added', sequence_number: 1, output_index: 0, item: { ...message, status: 'in_progress', content: [] } },
      { type: 'response.content_part.added', sequence_number: 2, output_index: 0, item_id: 'msg_mock', content_index: 0, part: { type: 'output_text', text: '', annotations: [] } },
      { type: 'response.output_text.delta', sequence_number: 3, output_index: 0, item_id: 'msg_mock', content_index: 0, delta: '2, 3, 5.' },
      { type: 'response.output_text.done', sequence_number: 4, output_index: 0, item_id: 'msg_mock', content_index: 0, text: '2, 3, 5.' },
      { type: 'response.content_part.done', sequence_number: 5, output_index: 0, item_id: 'msg_mock', content_index: 0, part: message.content[0] },
      { type: 'response.output_item.done', sequence_number: 6, output_index: 0, item: message },
      { type: 'response.completed', sequence_number: 7, response: done },
    ],
    true,
  );
}

function messages(res, body) {
  const usage = {
    input_tokens: USAGE.input - USAGE.cached,
    cache_read_input_tokens: USAGE.cached,
    cache_creation_input_tokens: 0,
    output_tokens: USAGE.output,
  };
  const msg = {
    id: 'msg_mock',
    type: 'message',
    role: 'assistant',
    model: `${body.model}-20250929`,
    content: [{ type: 'text', text: '2, 3, 5.' }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage,
  };
  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(msg));
    return;
  }
  sse(
    res,
    [
      { type: 'message_start', message: { ...msg, content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } } },
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: '2, 3, 5.' } },
      { type: 'content_block_stop', index: 0 },
      { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: USAGE.output } },
      { type: 'message_stop' },
    ],
    true,
  );
}

function gemini(res, model, stream) {
  const usageMetadata = {
    promptTokenCount: USAGE.input,
    cachedContentTokenCount: USAGE.cached,
    candidatesTokenCount: USAGE.output - USAGE.reasoning,
    thoughtsTokenCount: USAGE.reasoning,
    totalTokenCount: USAGE.input + USAGE.output,
  };
  const part = (text, finish) => ({
    candidates: [{ content: { role: 'model', parts: [{ text }] }, index: 0, ...(finish ? { finishReason: finish } : {}) }],
    modelVersion: model,
    responseId: 'gemini-mock',
  });
  if (!stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ...part('2, 3, 5.', 'STOP'), usageMetadata }));
    return;
  }
  sse(res, [{ ...part('2, 3', null), usageMetadata: { ...usageMetadata, candidatesTokenCount: 2, thoughtsTokenCount: USAGE.reasoning } }, { ...part(', 5.', 'STOP'), usageMetadata }]);
}
