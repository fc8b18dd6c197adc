/**
 * The undici (fetch) instrumentation, injecting propagation headers once per request: an
 * SDK that propagates by itself (@anthropic-ai/sdk 1.x injects `traceparent`, `baggage`
 * and `X-Request-ID` into its own headers) no longer sends each header twice, with two
 * different parents. The instrumentation's injection wins, since its HTTP span is the
 * request's real parent; a header it does not inject again is left as the SDK set it.
 */
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { NOTHING_TO_RESTORE, dedupePropagationHeaders } from './index.js';

type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any

export class SinglePropagationUndiciInstrumentation extends UndiciInstrumentation {}

// enable() (run by the base constructor) subscribes `this.onRequestCreated.bind(this)`,
// so the override lives on the subclass prototype.
const base = (UndiciInstrumentation.prototype as Any).onRequestCreated as ((message: Any) => void) | undefined;
if (typeof base === 'function') {
  Object.defineProperty(SinglePropagationUndiciInstrumentation.prototype, 'onRequestCreated', {
    configurable: true,
    writable: true,
    value: function onRequestCreatedOnce(this: Any, message: Any) {
      let restore: () => void = NOTHING_TO_RESTORE;
      try {
        restore = dedupePropagationHeaders(message?.request);
      } catch {
        // leave the request as it is
      }
      try {
        return base.call(this, message);
      } finally {
        if (restore !== NOTHING_TO_RESTORE) {
          try {
            restore();
          } catch {
            // best effort
          }
        }
      }
    },
  });
}
