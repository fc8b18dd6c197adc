/**
 * Zero-code entry: `node --import @otel-llm/node/register app.js`, for ES module and
 * CommonJS apps alike. Registers import-in-the-middle's loader hook so that ES modules
 * (openai, express, fastify...) can be patched, limited to the modules our
 * instrumentations name (the message channel), then starts telemetry from the
 * environment and waits until the loader knows every module to patch.
 */
import module from 'node:module';
import { createAddHookMessageChannel } from 'import-in-the-middle';
import { start } from './autostart.js';

const disabled = (process.env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true';
if (!disabled && typeof module.register === 'function') {
  const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
  module.register('import-in-the-middle/hook.mjs', import.meta.url, registerOptions);
  if (start()) await waitForAllMessagesAcknowledged();
} else {
  start();
}
