/**
 * Per-request state shared by the middleware, the span processor and the log mixin
 * (mirrors otel_llm/context.py).
 *
 * The state lives in two places: an AsyncLocalStorage (works even when no OpenTelemetry
 * SDK is registered) and the OpenTelemetry context under a well-known key, next to the W3C
 * baggage entry `request.id` that carries the ID across process hops. Both are keyed
 * through `globalThis`/`Symbol.for` so that the ESM and CommonJS builds of this package,
 * loaded side by side, share one state.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { context as otelContext, propagation, type Context } from '@opentelemetry/api';
import { BAGGAGE_REQUEST_ID } from './semconv.js';

/** What we know about the request being served. */
export interface RequestState {
  requestId: string;
  /** Attribution values of this request, e.g. {user: 'u-42', tenant: 'acme'}. */
  attribution: Record<string, string>;
  /** The matched route template, read lazily: frameworks know it only after routing. */
  route?: () => string | undefined;
}

interface Shared {
  als: AsyncLocalStorage<RequestState>;
}

const SHARED_KEY = Symbol.for('otel-llm.node.shared');
const g = globalThis as unknown as Record<symbol, Shared | undefined>;
const shared: Shared = (g[SHARED_KEY] ??= { als: new AsyncLocalStorage<RequestState>() });

/** The OpenTelemetry context key of the request state (same symbol in every copy). */
export const REQUEST_STATE_KEY = Symbol.for('otel-llm.request_state');

export function newRequestState(requestId: string = randomUUID()): RequestState {
  return { requestId, attribution: {} };
}

/** The state of the current request: AsyncLocalStorage first, then the OTel context. */
export function currentState(ctx?: Context): RequestState | undefined {
  const fromAls = shared.als.getStore();
  if (fromAls) return fromAls;
  const value = (ctx ?? otelContext.active()).getValue(REQUEST_STATE_KEY);
  return value as RequestState | undefined;
}

/** The request ID of the current request: request state first, then W3C baggage. */
export function currentRequestId(ctx?: Context): string | undefined {
  const state = currentState(ctx);
  if (state) return state.requestId;
  const entry = propagation.getBaggage(ctx ?? otelContext.active())?.getEntry(BAGGAGE_REQUEST_ID);
  return entry?.value || undefined;
}

/** Request ID carried by an explicit context (span start): its state or its baggage. */
export function requestIdOf(ctx: Context): string | undefined {
  const state = ctx.getValue(REQUEST_STATE_KEY) as RequestState | undefined;
  if (state) return state.requestId;
  const entry = propagation.getBaggage(ctx)?.getEntry(BAGGAGE_REQUEST_ID);
  if (entry?.value) return entry.value;
  return shared.als.getStore()?.requestId;
}

/** Attribution values (user, tenant, route...) of the current request, possibly empty. */
const NO_ATTRIBUTION: Readonly<Record<string, string>> = Object.freeze({});

export function currentAttribution(ctx?: Context): Readonly<Record<string, string>> {
  const state = currentState(ctx);
  if (!state) return NO_ATTRIBUTION;
  if (state.route !== undefined && state.attribution.route === undefined) {
    let route: string | undefined;
    try {
      route = state.route();
    } catch {
      route = undefined;
    }
    if (route) return { ...state.attribution, route };
  }
  return state.attribution;
}

/** A context carrying `state`: the state key plus the baggage entry `request.id`. */
export function contextWithState(state: RequestState, ctx: Context = otelContext.active()): Context {
  const bag = propagation.getBaggage(ctx) ?? propagation.createBaggage();
  const withBag = propagation.setBaggage(ctx, bag.setEntry(BAGGAGE_REQUEST_ID, { value: state.requestId }));
  return withBag.setValue(REQUEST_STATE_KEY, state);
}

/** Run `fn` with `state` current, in both the AsyncLocalStorage and the OTel context. */
export function runWithState<T>(state: RequestState, fn: () => T): T {
  return shared.als.run(state, () => otelContext.with(contextWithState(state), fn));
}

/**
 * Attribute the current request's LLM spend, e.g. `setAttribution({user: 'u-42'})`.
 *
 * Only labels listed in OTEL_LLM_ATTRIBUTION_LABELS become metric labels; values are
 * bounded (first N distinct values, then `other`) and user values can be pseudonymised.
 * Outside a request this opens a state for the current async context with a fresh ID.
 */
export function setAttribution(labels: Record<string, string | null | undefined>): void {
  let state = currentState();
  if (!state) {
    state = newRequestState();
    shared.als.enterWith(state);
  }
  for (const [key, value] of Object.entries(labels)) {
    if (value === null || value === undefined) delete state.attribution[key];
    else state.attribution[key] = String(value);
  }
}
