/**
 * What the zero-code entries run: register() from the environment (OTEL_* and OTEL_LLM_*),
 * and a flush of pending spans on SIGTERM/SIGINT and before exit. A bad configuration is
 * reported on stderr and the application runs uninstrumented: it is never stopped.
 */
import { diag } from '@opentelemetry/api';
import { register, shutdown } from './setup.js';

/** Returns whether telemetry was started. */
export function start(): boolean {
  if ((process.env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true') return false;
  try {
    register();
  } catch (err) {
    // bad configuration must not stop the application: report it and run uninstrumented
    process.stderr.write(`otel-llm: not instrumenting: ${(err as Error).message}\n`);
    return false;
  }
  const flush = (signal: NodeJS.Signals): void => {
    shutdown()
      .catch(err => diag.error(`otel-llm: shutdown failed: ${(err as Error).message}`))
      .finally(() => {
        // re-raise the default behaviour once our handler is gone
        if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
      });
  };
  process.once('SIGTERM', flush);
  process.once('SIGINT', flush);
  process.once('beforeExit', () => void shutdown());
  return true;
}
