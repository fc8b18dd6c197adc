// A tiny OpenAI/Anthropic-compatible server for the tests (loopback only).
import http from 'node:http';

export function startStub() {
  const requests = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', c => (raw += c));
    req.on('end', () => {
      const body = raw ? JSON.parse(raw) : {};
      requests.push({ url: req.url, headers: req.headers, rawHeaders: req.rawHeaders, body });
      const status = Number(req.headers['x-stub-status'] || 200);
      if (status !== 200) {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'stub error', type: 'rate_limit_error' } }));
        return;
      }
      if (req.url.startsWith('/v1/chat/completions')) return openai(req, res, body);
      if (req.url.startsWith('/v1/messages')) return anthropic(req, res, body);
      res.writeHead(404).end();
    });
  });
  return new Promise(resolve =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({ server, port, url: `http://127.0.0.1:${port}`, requests });
    }),
  );
}

const usage = {
  prompt_tokens: 120,
  completion_tokens: 80,
  total_tokens: 200,
  prompt_tokens_details: { cached_tokens: 64 },
  completion_tokens_details: { reasoning_tokens: 16 },
};

function openai(req, res, body) {
  const model = body.model;
  const base = { id: 'chatcmpl-stub', object: 'chat.completion', created: 1, model: `${model}-2024-07-18` };
  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        ...base,
        choices: [{ index: 0, message: { role: 'assistant', content: 'Hello there, friend.' }, finish_reason: 'stop' }],
        ...(req.headers['x-stub-no-usage'] ? {} : { usage }),
      }),
    );
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const chunk = (delta, finish = null) => ({
    ...base,
    object: 'chat.completion.chunk',
    choices: [{ index: 0, delta, finish_reason: finish }],
  });
  const events = [
    chunk({ role: 'assistant', content: '' }),
    chunk({ content: 'Hello ' }),
    chunk({ content: 'there.' }),
    chunk({}, 'stop'),
  ];
  const abortAfter = Number(req.headers['x-stub-abort-after'] || 0);
  const wantUsage = body.stream_options?.include_usage && !req.headers['x-stub-no-usage'];
  if (wantUsage) events.push({ ...base, object: 'chat.completion.chunk', choices: [], usage });
  let i = 0;
  const next = () => {
    if (abortAfter && i >= abortAfter) {
      res.destroy();
      return;
    }
    if (i < events.length) {
      res.write(`data: ${JSON.stringify(events[i++])}\n\n`);
      setTimeout(next, 5);
    } else {
      res.end('data: [DONE]\n\n');
    }
  };
  setTimeout(next, 20);
}

function anthropic(req, res, body) {
  const message = {
    id: 'msg_stub',
    type: 'message',
    role: 'assistant',
    model: `${body.model}-20250929`,
    content: [{ type: 'text', text: 'Hi.' }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 10, output_tokens: 20, cache_read_input_tokens: 300, cache_creation_input_tokens: 40 },
  };
  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(message));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const ev = (type, data) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  res.write(ev('message_start', { message: { ...message, content: [], stop_reason: null, usage: { ...message.usage, output_tokens: 1 } } }));
  res.write(ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }));
  res.write(ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hi.' } }));
  res.write(ev('content_block_stop', { index: 0 }));
  res.write(ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 20 } }));
  res.end(ev('message_stop', {}));
}
