/**
 * X-Request-ID: validation, the edge hook, middleware for Express, Fastify and node:http,
 * and a propagator that carries the ID to downstream calls (mirrors otel_llm/requestid.py).
 *
 * The rule lives here once and is tested against spec/vectors/request_id.json: a
 * well-formed incoming ID is kept, anything else is replaced by a fresh UUID4 and never
 * reflected. The effective ID is echoed on the response, put in the request state and the
 * W3C baggage entry `request.id`, and injected as `X-Request-ID` on outgoing calls.
 */
import { randomUUID } from 'node:crypto';
import diagnosticsChannel from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context, TextMapGetter, TextMapPropagator, TextMapSetter } from '@opentelemetry/api';
import { propagation } from '@opentelemetry/api';
import {
  contextWithState,
  currentState,
  newRequestState,
  requestIdOf,
  runWithState,
  type RequestState,
} from './context.js';
import { BAGGAGE_REQUEST_ID, REQUEST_ID_HEADER } from './semconv.js';

/**
 * A well-formed request ID: 1 to 128 characters from `A-Z a-z 0-9 - _ . ~ : @ / + =`
 * (UUIDs, ULIDs, nanoids, `req_...` IDs, base64/base64url). Everything that could split a
 * header, a log line, a W3C baggage list or a TraceQL string is excluded. The same pattern
 * as otel_llm/requestid.py, documented in spec/vectors/README.md.
 */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._~:@/+=-]{1,128}$/;

export function isValidRequestId(value: unknown): value is string {
  return typeof value === 'string' && REQUEST_ID_PATTERN.test(value);
}

/** A fresh request ID (UUID4). */
export function newRequestId(): string {
  return randomUUID();
}

/** The request ID carried in a raw W3C `baggage` header, if any and well formed. */
export function requestIdFromBaggageHeader(header: unknown): string | undefined {
  const raw = Array.isArray(header) ? header.join(',') : header;
  if (typeof raw !== 'string' || !raw.includes(BAGGAGE_REQUEST_ID)) return undefined;
  for (const member of raw.split(',')) {
    const eq = member.indexOf('=');
    if (eq < 0 || member.slice(0, eq).trim() !== BAGGAGE_REQUEST_ID) continue;
    let value = member.slice(eq + 1).split(';')[0]!.trim();
    try {
      value = decodeURIComponent(value);
    } catch {
      return undefined;
    }
    return isValidRequestId(value) ? value : undefined;
  }
  return undefined;
}

export interface RequestIdOptions {
  /** Header name (default X-Request-ID, or OTEL_LLM_REQUEST_ID_HEADER). */
  header?: string;
  /** Accept a well-formed incoming ID (default true); false always mints. */
  trustIncoming?: boolean;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The effective request ID for an incoming request: the first request-ID header when
 * trusted and well formed, else a new UUID4 (the rejected value goes nowhere).
 */
export function resolveRequestId(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  options: RequestIdOptions = {},
  distinct?: Readonly<Record<string, string[] | undefined>>,
): string {
  if (options.trustIncoming ?? true) {
    const name = (options.header ?? REQUEST_ID_HEADER).toLowerCase();
    // duplicates: node joins them with ", " in `headers`; the first one decides
    const incoming = distinct?.[name]?.[0] ?? first(headers[name]);
    if (isValidRequestId(incoming)) return incoming;
  }
  return newRequestId();
}

/** Where the edge hook leaves the effective ID: on the request and on its headers object. */
export const EFFECTIVE_REQUEST_ID = Symbol.for('otel-llm.effective_request_id');

type Tagged = { [EFFECTIVE_REQUEST_ID]?: string };

/** The effective ID of `req`: the one the edge hook chose, else resolved now (and kept). */
export function requestIdFor(req: IncomingMessage, options: RequestIdOptions = {}): string {
  const tagged = req as unknown as Tagged;
  const known = tagged[EFFECTIVE_REQUEST_ID];
  if (known) return known;
  const id = resolveRequestId(req.headers, options, safeDistinct(req));
  tag(req, id);
  return id;
}

function safeDistinct(req: IncomingMessage): Record<string, string[] | undefined> | undefined {
  try {
    return (req as { headersDistinct?: Record<string, string[]> }).headersDistinct;
  } catch {
    return undefined;
  }
}

function tag(req: IncomingMessage, id: string): void {
  (req as unknown as Tagged)[EFFECTIVE_REQUEST_ID] = id;
  if (req.headers) (req.headers as unknown as Tagged)[EFFECTIVE_REQUEST_ID] = id;
}

function echo(res: ServerResponse | undefined, header: string, id: string): void {
  if (res && !res.headersSent) res.setHeader(header, id);
}

/** The state for `req`: the one the propagator already put in context (same ID), else new. */
function stateFor(id: string): RequestState {
  const existing = currentState();
  return existing && existing.requestId === id ? existing : newRequestState(id);
}

// --- zero-code edge hook ---------------------------------------------------------------

const EDGE_KEY = Symbol.for('otel-llm.node.edge_hook');
type EdgeMessage = { request: IncomingMessage; response: ServerResponse };

/**
 * Choose, tag and echo the request ID of every incoming node:http request (Express and
 * Fastify included) before any listener runs, through the `http.server.request.start`
 * diagnostics channel. The propagator then puts the tagged ID into the server span's
 * context. Idempotent; returns a function that removes the hook.
 */
export function installEdgeHook(options: RequestIdOptions = {}): () => void {
  const g = globalThis as unknown as Record<symbol, (() => void) | undefined>;
  if (g[EDGE_KEY]) return g[EDGE_KEY]!;
  const header = options.header ?? REQUEST_ID_HEADER;
  const onStart = (message: unknown): void => {
    try {
      const { request, response } = message as EdgeMessage;
      const id = requestIdFor(request, options);
      echo(response, header, id);
    } catch {
      // never break the host: the middleware (if any) still mints an ID
    }
  };
  diagnosticsChannel.subscribe('http.server.request.start', onStart);
  const remove = (): void => {
    diagnosticsChannel.unsubscribe('http.server.request.start', onStart);
    g[EDGE_KEY] = undefined;
  };
  g[EDGE_KEY] = remove;
  return remove;
}

// --- propagator --------------------------------------------------------------------------

/**
 * Extracts the request ID of an incoming message into the context (request state and the
 * baggage entry `request.id`), and injects `X-Request-ID` into outgoing calls. Put it after
 * the W3C baggage propagator so that the validated ID wins over an upstream baggage value.
 */
export class RequestIdPropagator implements TextMapPropagator {
  private readonly header: string;
  private readonly trust: boolean;

  constructor(options: RequestIdOptions = {}) {
    this.header = (options.header ?? REQUEST_ID_HEADER).toLowerCase();
    this.trust = options.trustIncoming ?? true;
  }

  inject(ctx: Context, carrier: unknown, setter: TextMapSetter): void {
    const id = requestIdOf(ctx);
    if (id && isValidRequestId(id)) setter.set(carrier, this.header, id);
  }

  extract(ctx: Context, carrier: unknown, getter: TextMapGetter): Context {
    let id: string | undefined;
    const tagged = carrier && typeof carrier === 'object' ? (carrier as Tagged)[EFFECTIVE_REQUEST_ID] : undefined;
    if (typeof tagged === 'string') id = tagged;
    if (!id && this.trust) {
      const raw = getter.get(carrier, this.header);
      const value = Array.isArray(raw) ? raw[0] : raw;
      if (isValidRequestId(value)) id = value;
      if (!id) {
        const fromBaggage = propagation.getBaggage(ctx)?.getEntry(BAGGAGE_REQUEST_ID)?.value;
        if (isValidRequestId(fromBaggage)) id = fromBaggage;
      }
    }
    if (!id) return ctx;
    return contextWithState(newRequestState(id), ctx);
  }

  fields(): string[] {
    return [this.header];
  }
}

// --- middleware --------------------------------------------------------------------------

type Next = (err?: unknown) => void;

function routeOfExpress(req: unknown): string | undefined {
  const r = req as { route?: { path?: unknown }; baseUrl?: string };
  const path = r.route?.path;
  return typeof path === 'string' ? `${r.baseUrl ?? ''}${path}` : undefined;
}

/**
 * Express (and Connect) middleware: accept or mint the ID, echo it, and run the rest of the
 * request with it in context. Mount it first: `app.use(requestIdMiddleware())`.
 */
export function requestIdMiddleware(options: RequestIdOptions = {}) {
  const header = options.header ?? REQUEST_ID_HEADER;
  return function otelLlmRequestId(req: IncomingMessage, res: ServerResponse, next: Next): void {
    let state: RequestState;
    try {
      const id = requestIdFor(req, options);
      echo(res, header, id);
      state = stateFor(id);
      state.route ??= () => routeOfExpress(req);
      (req as unknown as { requestId?: string }).requestId = id;
    } catch {
      next();
      return;
    }
    runWithState(state, () => next());
  };
}

/** Wrap a plain node:http request listener: `http.createServer(withRequestId(handler))`. */
export function withRequestId<Req extends IncomingMessage, Res extends ServerResponse>(
  handler: (req: Req, res: Res) => unknown,
  options: RequestIdOptions = {},
): (req: Req, res: Res) => unknown {
  const header = options.header ?? REQUEST_ID_HEADER;
  return function otelLlmRequestIdListener(req: Req, res: Res): unknown {
    let state: RequestState;
    try {
      const id = requestIdFor(req, options);
      echo(res, header, id);
      state = stateFor(id);
    } catch {
      return handler(req, res);
    }
    return runWithState(state, () => handler(req, res));
  };
}

interface FastifyLike {
  addHook(
    name: 'onRequest',
    hook: (request: FastifyReq, reply: FastifyReply, done: Next) => void,
  ): unknown;
  decorateRequest?(name: string, value: unknown): unknown;
  hasRequestDecorator?(name: string): boolean;
}
interface FastifyReq {
  raw: IncomingMessage;
  routeOptions?: { url?: string };
  requestId?: string;
}
interface FastifyReply {
  header(name: string, value: string): unknown;
}

/**
 * Fastify plugin: `await app.register(fastifyRequestId)`. Applies to the whole instance
 * (not encapsulated), like a plugin wrapped with fastify-plugin.
 */
export function fastifyRequestId(fastify: FastifyLike, options: RequestIdOptions, done: Next): void {
  const header = options?.header ?? REQUEST_ID_HEADER;
  if (fastify.hasRequestDecorator && fastify.decorateRequest && !fastify.hasRequestDecorator('requestId')) {
    fastify.decorateRequest('requestId', '');
  }
  fastify.addHook('onRequest', (request, reply, next) => {
    let state: RequestState;
    try {
      const id = requestIdFor(request.raw, options ?? {});
      reply.header(header, id);
      request.requestId = id;
      state = stateFor(id);
      state.route ??= () => request.routeOptions?.url;
    } catch {
      next();
      return;
    }
    runWithState(state, () => next());
  });
  done();
}
Object.assign(fastifyRequestId, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'otel-llm-request-id',
});
