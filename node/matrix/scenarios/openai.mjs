// openai: chat, chat stream (no include_usage asked), Responses and Responses stream.
export async function calls({ load, baseUrl }) {
  const mod = await load('openai');
  const OpenAI = mod.OpenAI ?? mod.default;
  const client = new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey: 'sk-test', maxRetries: 0 });
  const messages = [{ role: 'user', content: 'Name three prime numbers.' }];
  const chat = { operation: 'chat', provider: 'openai', model: 'gpt-4o-mini', responseModel: 'gpt-4o-mini-2024-07-18' };
  const list = [
    {
      name: 'chat',
      expect: chat,
      run: async () => (await client.chat.completions.create({ model: 'gpt-4o-mini', messages })).choices[0].message.content,
    },
    {
      name: 'chat-stream',
      expect: { ...chat, stream: true },
      run: async () => {
        const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true });
        let text = '';
        for await (const chunk of stream) {
          if (!chunk.choices.length) throw new Error('the usage-only chunk reached a caller that did not ask for it');
          text += chunk.choices[0].delta?.content ?? '';
        }
        return text;
      },
    },
  ];
  if (client.responses) {
    const resp = { operation: 'chat', provider: 'openai', model: 'gpt-5-mini', responseModel: 'gpt-5-mini-2025-08-07' };
    list.push(
      {
        name: 'responses',
        expect: resp,
        run: async () => (await client.responses.create({ model: 'gpt-5-mini', input: 'Name three prime numbers.' })).output_text,
      },
      {
        name: 'responses-stream',
        expect: { ...resp, stream: true },
        run: async () => {
          const stream = await client.responses.create({ model: 'gpt-5-mini', input: 'Name three prime numbers.', stream: true });
          let text = '';
          for await (const ev of stream) if (ev.type === 'response.output_text.delta') text += ev.delta;
          return text;
        },
      },
    );
  }
  return list;
}
