/**
 * Zero-code entry for CommonJS apps: `node --require @otel-llm/node/register app.js`.
 * (`--import @otel-llm/node/register` loads ./register-esm.js, which also hooks ES modules.)
 */
import { start } from './autostart.js';

start();
