// @langchain/openai: ChatOpenAI invoke and stream (through the openai SDK it depends on).
export async function calls({ load, baseUrl }) {
  const { ChatOpenAI } = await load('@langchain/openai');
  const model = new ChatOpenAI({ model: 'gpt-4o-mini', apiKey: 'sk-test', maxRetries: 0, configuration: { baseURL: `${baseUrl}/v1` } });
  const expect = { operation: 'chat', provider: 'openai', model: 'gpt-4o-mini', responseModel: 'gpt-4o-mini-2024-07-18' };
  return [
    { name: 'invoke', expect, run: async () => (await model.invoke('Name three prime numbers.')).content },
    {
      name: 'stream',
      expect: { ...expect, stream: true },
      run: async () => {
        let text = '';
        for await (const chunk of await model.stream('Name three prime numbers.')) text += chunk.content;
        return text;
      },
    },
  ];
}
