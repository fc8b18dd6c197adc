// The mock OpenAI Chat Completions server of the Node benchmarks (loopback): a JSON reply,
// or an SSE stream of 4 chunks (+ the usage chunk when `stream_options.include_usage`).
import http from 'node:http';

export function startServer() {
  const usage = { prompt_tokens: 1200, completion_tokens: 340, total_tokens: 1540, prompt_tokens_details: { cached_tokens: 1024 }, completion_tokens_details: { reasoning_tokens: 120 } };
  const json = JSON.stringify({
    id: 'chatcmpl-bench', object: 'chat.completion', created: 1, model: 'gpt-4o-mini-2024-07-18',
    choices: [{ index: 0, message: { role: 'assistant', content: '2, 3, 5.' }, finish_reason: 'stop' }], usage,
  });
  const chunk = (delta, finish = null, extra = {}) =>
    `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini-2024-07-18', choices: delta ? [{ index: 0, delta, finish_reason: finish }] : [], ...extra })}\n\n`;
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', c => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw);
      if (!body.stream) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(json);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let out = chunk({ role: 'assistant', content: '' }) + chunk({ content: '2, 3' }) + chunk({ content: ', 5.' }) + chunk({}, 'stop');
      if (body.stream_options?.include_usage) out += chunk(null, null, { usage });
      res.end(`${out}data: [DONE]\n\n`);
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise(r => server.listen(0, '127.0.0.1', () => r(server)));
}
