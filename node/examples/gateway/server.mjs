// Example gateway: an ordinary Express app that knows nothing about tracing.
//
//   node --import @otel-llm/node/register examples/gateway/server.mjs
//
// POST /ask {"prompt", "model"?, "user"?, "stream"?} forwards the question to the Python
// demo service (POST $DEMO_URL/chat) and makes one LLM call of its own (a one-line
// summary) with the official openai SDK against $OPENAI_BASE_URL. Telemetry (server,
// fetch and LLM spans, X-Request-ID, cost, /metrics on $OTEL_LLM_METRICS_PORT) comes
// from the --import entry alone.
import express from 'express';
import OpenAI from 'openai';

const port = Number(process.env.PORT || 8080);
const demoUrl = (process.env.DEMO_URL || 'http://127.0.0.1:8000').replace(/\/$/, '');
const summaryModel = process.env.SUMMARY_MODEL || 'gpt-4o-mini';
const openai = new OpenAI({ apiKey: process.env.OPENAI_API_KEY || 'sk-demo-not-a-real-key', maxRetries: 0 });

const app = express();
app.use(express.json({ limit: '64kb' }));

app.get('/healthz', (_req, res) => res.json({ status: 'ok' }));

app.post('/ask', async (req, res) => {
  const { prompt, model = 'gpt-4o-mini', user = null, stream = false } = req.body ?? {};
  if (typeof prompt !== 'string' || !prompt) {
    res.status(400).json({ error: 'prompt (a non-empty string) is required' });
    return;
  }
  try {
    const upstream = await fetch(`${demoUrl}/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, prompt, stream: Boolean(stream), user }),
    });
    if (!upstream.ok) {
      res.status(502).json({ error: `demo service answered ${upstream.status}` });
      return;
    }
    const answer = await upstream.json();
    const summary = await openai.chat.completions.create({
      model: summaryModel,
      messages: [
        { role: 'system', content: 'Summarise the answer in one line.' },
        { role: 'user', content: String(answer.text ?? '') },
      ],
    });
    res.json({
      model: answer.model,
      answer: answer.text,
      summary: summary.choices[0]?.message?.content ?? '',
      request_id: res.getHeader('x-request-id') ?? null,
    });
  } catch (err) {
    res.status(504).json({ error: `upstream failure: ${err?.constructor?.name ?? 'Error'}` });
  }
});

const server = app.listen(port, '127.0.0.1', () => {
  console.log(JSON.stringify({ event: 'gateway listening', port: server.address().port, demo: demoUrl }));
});

const stop = () => server.close();
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
