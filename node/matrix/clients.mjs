// The Node client matrix: each supported client library at its newest release and the
// oldest release we claim (docs/node.md lists the same ranges). Each entry installs into
// its own directory under ~/.cache/otel-llm/node-matrix/, keyed by the versions.
export const MATRIX = [
  { id: 'openai-7-newest', scenario: 'openai', packages: { openai: '7.59.0' } },
  { id: 'openai-7-oldest', scenario: 'openai', packages: { openai: '7.0.0' } },
  { id: 'openai-6-newest', scenario: 'openai', packages: { openai: '6.49.0' } },
  { id: 'openai-oldest', scenario: 'openai', packages: { openai: '4.19.0' } },
  { id: 'anthropic-newest', scenario: 'anthropic', packages: { '@anthropic-ai/sdk': '1.14.0' } },
  { id: 'anthropic-oldest', scenario: 'anthropic', packages: { '@anthropic-ai/sdk': '1.0.0' } },
  { id: 'google-genai-newest', scenario: 'google-genai', packages: { '@google/genai': '3.3.0' } },
  { id: 'google-genai-oldest', scenario: 'google-genai', packages: { '@google/genai': '1.0.0' } },
  {
    id: 'ai-sdk-newest',
    scenario: 'ai-sdk',
    packages: { ai: '7.0.173', '@ai-sdk/openai': '4.0.118', '@ai-sdk/anthropic': '4.0.105', '@ai-sdk/otel': '1.0.173' },
  },
  {
    id: 'ai-sdk-oldest',
    scenario: 'ai-sdk',
    packages: { ai: '7.0.0', '@ai-sdk/openai': '4.0.0', '@ai-sdk/anthropic': '4.0.0', '@ai-sdk/otel': '1.0.0' },
  },
  { id: 'langchain-newest', scenario: 'langchain', packages: { '@langchain/openai': '1.6.0', '@langchain/core': '1.4.0' } },
  { id: 'langchain-oldest', scenario: 'langchain', packages: { '@langchain/openai': '1.0.0', '@langchain/core': '1.0.0' } },
];
