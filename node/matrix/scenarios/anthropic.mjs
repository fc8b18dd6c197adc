// @anthropic-ai/sdk: messages and messages stream.
export async function calls({ load, baseUrl }) {
  const mod = await load('@anthropic-ai/sdk');
  const Anthropic = mod.Anthropic ?? mod.default;
  const client = new Anthropic({ baseURL: baseUrl, apiKey: 'sk-ant-test', maxRetries: 0 });
  const args = { model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'Name three prime numbers.' }] };
  const expect = { operation: 'chat', provider: 'anthropic', model: 'claude-sonnet-4-5', responseModel: 'claude-sonnet-4-5-20250929', noReasoning: true };
  return [
    { name: 'messages', expect, run: async () => (await client.messages.create(args)).content[0].text },
    {
      name: 'messages-stream',
      expect: { ...expect, stream: true },
      run: async () => {
        const stream = await client.messages.create({ ...args, stream: true });
        let text = '';
        for await (const ev of stream) if (ev.type === 'content_block_delta') text += ev.delta.text;
        return text;
      },
    },
  ];
}
