// The Vercel AI SDK: generateText and streamText with @ai-sdk/openai (Responses API by
// default) and @ai-sdk/anthropic; first without telemetry (the wire layer alone), then
// with @ai-sdk/otel registered (its spans enriched, nothing counted twice, no content).
export async function calls({ load, baseUrl }) {
  const ai = await load('ai');
  const { createOpenAI } = await load('@ai-sdk/openai');
  const { createAnthropic } = await load('@ai-sdk/anthropic');
  const openai = createOpenAI({ baseURL: `${baseUrl}/v1`, apiKey: 'sk-test' });
  const anthropic = createAnthropic({ baseURL: `${baseUrl}/v1`, apiKey: 'sk-ant-test' });
  const prompt = 'Name three prime numbers.';
  const gpt = { operation: 'chat', provider: 'openai', model: 'gpt-5-mini', responseModel: 'gpt-5-mini-2025-08-07' };
  const claude = { operation: 'chat', provider: 'anthropic', model: 'claude-sonnet-4-5', responseModel: 'claude-sonnet-4-5-20250929', noReasoning: true };
  const text = async r => r.text;
  const streamed = async r => {
    let t = '';
    for await (const part of r.textStream) t += part;
    return t;
  };
  const base = [
    { name: 'generate-openai', expect: gpt, run: () => ai.generateText({ model: openai('gpt-5-mini'), prompt, maxRetries: 0 }).then(text) },
    { name: 'stream-openai', expect: { ...gpt, stream: true }, run: () => streamed(ai.streamText({ model: openai('gpt-5-mini'), prompt, maxRetries: 0 })) },
    { name: 'generate-anthropic', expect: claude, run: () => ai.generateText({ model: anthropic('claude-sonnet-4-5'), prompt, maxRetries: 0 }).then(text) },
    { name: 'stream-anthropic', expect: { ...claude, stream: true }, run: () => streamed(ai.streamText({ model: anthropic('claude-sonnet-4-5'), prompt, maxRetries: 0 })) },
  ];
  let registered = false;
  const withOtel = async run => {
    if (!registered) {
      const { OpenTelemetry } = await load('@ai-sdk/otel');
      ai.registerTelemetry(new OpenTelemetry());
      registered = true;
    }
    return run();
  };
  const otel = base.map(c => ({ name: `${c.name}-otel`, expect: { ...c.expect, aiSdkTelemetry: true }, run: () => withOtel(c.run) }));
  return [...base, ...otel];
}
