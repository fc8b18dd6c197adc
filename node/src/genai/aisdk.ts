/**
 * The Vercel AI SDK's own telemetry (`registerTelemetry(new OpenTelemetry())` from
 * `ai` + `@ai-sdk/otel`), brought to the contract. Its `chat {model}` CLIENT span is active
 * while the provider's HTTP call runs, so the wire layer (src/wire/) enriches that span
 * instead of making a second one: one priced span per call, with reasoning tokens,
 * `gen_ai.request.stream` and the provider from the endpoint. The `invoke_agent` root span
 * is not an inference operation and is never priced, so nothing is counted twice.
 *
 * This span processor, first in the chain, does the rest at the end of every GenAI span:
 * - what the wire layer read for a span it enriched is applied again, over figures the
 *   SDK instrumentation wrote later from its own parse of the response;
 * - `gen_ai.client.operation.time_to_first_chunk` (the SDK's name) is also written as the
 *   contract's `gen_ai.response.time_to_first_chunk` when that is missing;
 * - prompt and completion content (`gen_ai.input.messages`, `gen_ai.output.messages`,
 *   `gen_ai.system_instructions`, tool arguments and results, the SDK's `ai.prompt*` /
 *   `ai.response.*` text) is removed unless content capture is on
 *   (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT); the AI SDK records it by default.
 */
import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import {
  GEN_AI_OPERATION_NAME,
  GEN_AI_PROVIDER_NAME,
  GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
  GEN_AI_SYSTEM,
} from '../semconv.js';
import { isContentKey } from '../redact.js';
import { WIRE_READINGS } from '../wire/index.js';

export const AI_SDK_TTFC = 'gen_ai.client.operation.time_to_first_chunk';

/** Attribute keys that carry prompt or completion content (besides the redaction pattern's). */
const CONTENT_KEYS = new Set([
  'gen_ai.input.messages',
  'gen_ai.output.messages',
  'gen_ai.system_instructions',
  'gen_ai.tool.call.arguments',
  'gen_ai.tool.call.result',
  'gen_ai.tool.definitions',
  'ai.prompt',
  'ai.prompt.messages',
  'ai.prompt.tools',
  'ai.response.text',
  'ai.response.object',
  'ai.response.toolCalls',
  'ai.response.reasoning',
  'ai.toolCall.args',
  'ai.toolCall.result',
  'ai.value',
  'ai.values',
  'ai.request.text',
  'ai.schema',
]);

const contentKeyMemo = new Map<string, boolean>();

export function isGenAiContentKey(key: string): boolean {
  // every GenAI span's keys are checked as it ends: the same few dozen names, tested once
  let found = contentKeyMemo.get(key);
  if (found === undefined) {
    found = CONTENT_KEYS.has(key) || isContentKey(key);
    if (contentKeyMemo.size >= 4096) contentKeyMemo.clear();
    contentKeyMemo.set(key, found);
  }
  return found;
}

type Writable = ReadableSpan & { attributes: Record<string, unknown> };

export class GenAiSpanNormalizer implements SpanProcessor {
  constructor(private readonly captureContent = false) {}

  onStart(_span: Span, _ctx: Context): void {}

  onEnding(span: Span): void {
    try {
      const attrs = (span as unknown as Writable).attributes;
      if (!attrs) return;
      const genai =
        attrs[GEN_AI_OPERATION_NAME] !== undefined || attrs[GEN_AI_PROVIDER_NAME] !== undefined || attrs[GEN_AI_SYSTEM] !== undefined;
      if (!genai) return;
      // what the wire layer read, with the endpoint's provider, wins over figures an SDK
      // instrumentation wrote after it
      const read = WIRE_READINGS.get(span);
      if (read) {
        WIRE_READINGS.delete(span);
        span.setAttributes(read);
      }
      const ttfc = attrs[AI_SDK_TTFC];
      if (typeof ttfc === 'number' && attrs[GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] === undefined) {
        span.setAttribute(GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, ttfc);
      }
      if (!this.captureContent) {
        for (const key in attrs) {
          // the span is still being ended: its attribute map is ours to trim (a key
          // deleted during for-in is one already visited: the others are still visited)
          if (isGenAiContentKey(key)) delete attrs[key];
        }
      }
    } catch {
      // telemetry only
    }
  }

  onEnd(_span: ReadableSpan): void {}

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
