// Test access to internals that are not part of the public API.
export { contextWithState as contextWithStateForTests } from '../dist/esm/context.js';
