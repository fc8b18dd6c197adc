// @google/genai: generateContent and generateContentStream (Gemini API).
export async function calls({ load, baseUrl }) {
  const { GoogleGenAI } = await load('@google/genai');
  const ai = new GoogleGenAI({ apiKey: 'test-key', httpOptions: { baseUrl } });
  const expect = { operation: 'generate_content', provider: 'gcp.gemini', model: 'gemini-2.5-flash', responseModel: 'gemini-2.5-flash' };
  const args = { model: 'gemini-2.5-flash', contents: 'Name three prime numbers.' };
  return [
    { name: 'generate', expect, run: async () => (await ai.models.generateContent(args)).text },
    {
      name: 'generate-stream',
      expect: { ...expect, stream: true },
      run: async () => {
        let text = '';
        for await (const chunk of await ai.models.generateContentStream(args)) text += chunk.text ?? '';
        return text;
      },
    },
  ];
}
