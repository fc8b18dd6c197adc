/**
 * Zero-code entry: `node --import @otel-llm/node/register app.js` (ESM and CommonJS apps)
 * or `node --require @otel-llm/node/register app.js` (CommonJS). Configured only through
 * the environment (OTEL_* and OTEL_LLM_*); flushes spans on SIGTERM/SIGINT and at exit.
 */
import { diag } from '@opentelemetry/api';
import { register, shutdown } from './setup.js';

function start(): void {
  if ((process.env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true') return;
  try {
    register();
  } catch (err) {
    // bad configuration must not stop the application: report it and run uninstrumented
    process.stderr.write(`otel-llm: not instrumenting: ${(err as Error).message}\n`);
    return;
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
}

start();
