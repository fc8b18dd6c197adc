// Test access to internals that are not part of the public API.
export { contextWithState as contextWithStateForTests } from '../dist/esm/context.js';
export { parsePricing as parsePricingForTests } from '../dist/esm/pricing.js';
export { extractTokens as extractTokensForTests, libraryExtract as libraryExtractForTests } from '../dist/esm/wire/common.js';
export { setUsageDetails as setUsageDetailsForTests, usageDetails as usageDetailsForTests } from '../dist/esm/genai/openai.js';
