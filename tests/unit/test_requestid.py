"""X-Request-ID end to end: middleware, context, spans, logs and propagation.

Real FastAPI apps on httpx's ASGI transport; the downstream app runs in a fresh
``contextvars.Context`` so that only what travels in HTTP headers reaches it, as with a
second process. Spans go to an in-memory exporter; global state (propagator, logging,
FastAPI instrumentation) is restored by the fixtures.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import json
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from opentelemetry import baggage, propagate, trace
from opentelemetry import context as otel_context
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from otel_llm import requestid
from otel_llm._asgi import Message, Scope
from otel_llm.config import Settings
from otel_llm.context import RequestState, current_request_id, request_state
from otel_llm.logs import configure_logging, get_logger
from otel_llm.requestid import (
    RequestIDMiddleware,
    RequestIDPropagator,
    install_request_id_middleware,
    new_request_id,
    validate_request_id,
)
from tests.unit.test_logs import restore_logging  # noqa: F401  (fixture: logging put back)

NO_NATIVE = {"tracing": False, "metrics": False, "logs": False}
SETTINGS = Settings(service_name="test-svc", log_format="json")


# --- fixtures ------------------------------------------------------------------------
class StampRequestID(SpanProcessor):
    """Stand-in for the span processor's on_start: ``request.id`` from the context."""

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        rid = current_request_id(parent_context)
        if rid is not None:
            span.set_attribute("request.id", rid)

    def on_end(self, span: ReadableSpan) -> None:
        pass


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    tp = TracerProvider()
    tp.add_span_processor(StampRequestID())
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    yield tp
    tp.shutdown()


@pytest.fixture
def bare_provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    """No stamping processor: only the middleware can put request.id on a span."""
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    yield tp
    tp.shutdown()


@pytest.fixture(autouse=True)
def global_propagator() -> Iterator[None]:
    old = propagate.get_global_textmap()
    propagate.set_global_textmap(
        CompositePropagator(
            [TraceContextTextMapPropagator(), W3CBaggagePropagator(), RequestIDPropagator(SETTINGS)]
        )
    )
    yield
    propagate.set_global_textmap(old)


@pytest.fixture
def log_stream(restore_logging: None) -> io.StringIO:  # noqa: F811
    stream = io.StringIO()
    configure_logging(SETTINGS, stream=stream)
    return stream


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.fixture
def instrumented() -> Iterator[list[FastAPI]]:
    """FastAPI apps instrumented during the test; uninstrumented afterwards."""
    apps: list[FastAPI] = []
    yield apps
    for app in apps:
        FastAPIInstrumentor.uninstrument_app(app)


def isolated(app: Any) -> Callable[[Scope, Any, Any], Awaitable[None]]:
    """Run ``app`` in an empty context, as a separate process would."""

    async def run(scope: Scope, receive: Any, send: Any) -> None:
        await asyncio.create_task(app(scope, receive, send), context=contextvars.Context())

    return run


def is_uuid4(value: str | None) -> bool:
    try:
        return (
            value is not None and uuid.UUID(value).version == 4 and str(uuid.UUID(value)) == value
        )
    except ValueError:
        return False


def assert_nothing_leaked() -> None:
    """Called in the task that ran the app (ASGITransport runs it in the caller's task)."""
    assert current_request_id() is None
    assert baggage.get_all() == {}
    assert structlog.contextvars.get_contextvars() == {}
    assert not trace.get_current_span().get_span_context().is_valid


async def get(
    app: Any, path: str, headers: dict[str, str] | None = None, *, raise_app_exceptions: bool = True
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    async with httpx.AsyncClient(transport=transport, base_url="http://upstream") as client:
        response = await client.get(path, headers=headers)
    assert_nothing_leaked()
    return response


# --- apps ----------------------------------------------------------------------------
def make_downstream(
    received: list[dict[str, Any]], tp: TracerProvider, instrumented: list[FastAPI]
) -> FastAPI:
    app = FastAPI(telemetry=NO_NATIVE)  # type: ignore[arg-type]

    @app.get("/echo")
    async def echo(request: Request) -> dict[str, Any]:
        received.append(
            {
                "x-request-id": request.headers.get("x-request-id"),
                "baggage": request.headers.get("baggage"),
                "traceparent": request.headers.get("traceparent"),
                "current": current_request_id(),
            }
        )
        get_logger("downstream").info("downstream handled")
        return {"request_id": current_request_id()}

    FastAPIInstrumentor.instrument_app(app, tracer_provider=tp)
    instrumented.append(app)
    install_request_id_middleware(app, SETTINGS)
    return app


def make_upstream(
    downstream: Any,
    tp: TracerProvider,
    instrumented: list[FastAPI],
    barrier: Callable[[], Awaitable[None]] | None = None,
) -> FastAPI:
    app = FastAPI(telemetry=NO_NATIVE)  # type: ignore[arg-type]

    @app.get("/call")
    async def call(me: str = "") -> dict[str, Any]:
        log = get_logger("upstream")
        log.info("upstream start", expected=me)
        if barrier is not None:
            await barrier()
        log.info("upstream after barrier", expected=me)
        transport = httpx.ASGITransport(app=isolated(downstream))
        async with httpx.AsyncClient(transport=transport, base_url="http://downstream") as client:
            HTTPXClientInstrumentor.instrument_client(client, tracer_provider=tp)
            response = await client.get("/echo")
        return {
            "request_id": current_request_id(),
            "downstream": response.json(),
            "downstream_header": response.headers.get("x-request-id"),
        }

    @app.get("/boom")
    async def boom() -> None:
        get_logger("upstream").info("about to fail")
        raise RuntimeError("boom")

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> Any:
            for i in range(3):
                get_logger("upstream").info("chunk", i=i)
                yield f"{current_request_id()}\n"
                await asyncio.sleep(0)

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.get("/own-header")
    async def own_header() -> JSONResponse:
        return JSONResponse({}, headers={"X-Request-ID": "app-chosen-id"})

    FastAPIInstrumentor.instrument_app(app, tracer_provider=tp)
    instrumented.append(app)
    install_request_id_middleware(app, SETTINGS)  # after instrumenting: ours is outermost
    return app


# --- end to end ----------------------------------------------------------------------
def test_valid_incoming_id_is_echoed_and_on_every_span_and_log(
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    log_stream: io.StringIO,
    instrumented: list[FastAPI],
) -> None:
    received: list[dict[str, Any]] = []
    upstream = make_upstream(
        make_downstream(received, provider, instrumented), provider, instrumented
    )
    rid = "req_abc-123.XYZ"
    response = asyncio.run(get(upstream, "/call", {"X-Request-ID": rid, "baggage": "tenant=acme"}))

    assert response.status_code == 200
    assert response.headers.get_list("x-request-id") == [rid]
    body = response.json()
    assert body["request_id"] == rid
    assert body["downstream"]["request_id"] == rid
    assert body["downstream_header"] == rid

    # Downstream got the header, the baggage entry (other entries kept) and traceparent.
    (got,) = received
    assert got["x-request-id"] == rid
    carried = W3CBaggagePropagator().extract({"baggage": got["baggage"]})
    assert baggage.get_all(carried) == {"request.id": rid, "tenant": "acme"}
    spans = exporter.get_finished_spans()
    trace_ids = {span.context.trace_id for span in spans}
    assert len(trace_ids) == 1
    assert got["traceparent"].split("-")[1] == format(trace_ids.pop(), "032x")

    # Every span of both services, the server spans included, carries request.id.
    assert len(spans) >= 4
    assert all(span.attributes.get("request.id") == rid for span in spans), [
        (s.name, dict(s.attributes or {})) for s in spans
    ]
    server_spans = [s for s in spans if s.kind is trace.SpanKind.SERVER]
    assert len(server_spans) == 2

    records = lines(log_stream)
    events = {r["event"] for r in records}
    assert {"upstream start", "downstream handled"} <= events
    for record in records:
        if record["event"] in ("upstream start", "upstream after barrier", "downstream handled"):
            assert record["request_id"] == rid
            assert len(record["trace_id"]) == 32
            assert len(record["span_id"]) == 16
            assert record["service"] == "test-svc"


def test_missing_id_is_minted_and_propagated(
    provider: TracerProvider, exporter: InMemorySpanExporter, instrumented: list[FastAPI]
) -> None:
    received: list[dict[str, Any]] = []
    upstream = make_upstream(
        make_downstream(received, provider, instrumented), provider, instrumented
    )
    response = asyncio.run(get(upstream, "/call"))
    minted = response.headers["x-request-id"]
    assert is_uuid4(minted)
    assert response.json()["request_id"] == minted
    assert received[0]["x-request-id"] == minted
    assert all(s.attributes.get("request.id") == minted for s in exporter.get_finished_spans())


def test_hostile_incoming_baggage_is_not_trusted(
    provider: TracerProvider, exporter: InMemorySpanExporter, instrumented: list[FastAPI]
) -> None:
    received: list[dict[str, Any]] = []
    upstream = make_upstream(
        make_downstream(received, provider, instrumented), provider, instrumented
    )
    hostile = "request.id=evil%0D%0Ainjected%2Cx,tenant=acme"
    response = asyncio.run(get(upstream, "/call", {"baggage": hostile}))
    minted = response.headers["x-request-id"]
    assert is_uuid4(minted)
    carried = W3CBaggagePropagator().extract({"baggage": received[0]["baggage"]})
    assert baggage.get_all(carried) == {"request.id": minted, "tenant": "acme"}
    assert all(s.attributes.get("request.id") == minted for s in exporter.get_finished_spans())


def test_concurrent_requests_keep_their_own_ids(
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    log_stream: io.StringIO,
    instrumented: list[FastAPI],
) -> None:
    received: list[dict[str, Any]] = []
    ids = ["first-request", "second-request"]

    async def scenario() -> list[httpx.Response]:
        arrived = 0
        both_in = asyncio.Event()

        async def barrier() -> None:  # both handlers are inside before either goes on
            nonlocal arrived
            arrived += 1
            if arrived == len(ids):
                both_in.set()
            await asyncio.wait_for(both_in.wait(), timeout=5)

        upstream = make_upstream(
            make_downstream(received, provider, instrumented), provider, instrumented, barrier
        )
        return await asyncio.gather(
            *(get(upstream, f"/call?me={rid}", {"X-Request-ID": rid}) for rid in ids)
        )

    responses = asyncio.run(scenario())
    for rid, response in zip(ids, responses, strict=True):
        assert response.headers["x-request-id"] == rid
        assert response.json()["request_id"] == rid
        assert response.json()["downstream"]["request_id"] == rid
    assert sorted(r["x-request-id"] for r in received) == sorted(ids)
    assert all(r["current"] == r["x-request-id"] for r in received)

    by_trace: dict[int, set[str]] = {}
    for span in exporter.get_finished_spans():
        by_trace.setdefault(span.context.trace_id, set()).add(str(span.attributes["request.id"]))
    assert sorted(by_trace.values(), key=sorted) == [{"first-request"}, {"second-request"}]

    mine = [r for r in lines(log_stream) if r["event"].startswith("upstream")]
    assert len(mine) == 4
    assert all(r["request_id"] == r["expected"] for r in mine)


def test_exception_gives_500_with_header_and_resets_context(
    provider: TracerProvider, log_stream: io.StringIO, instrumented: list[FastAPI]
) -> None:
    upstream = make_upstream(FastAPI(), provider, instrumented)

    response = asyncio.run(
        get(upstream, "/boom", {"X-Request-ID": "fails-1"}, raise_app_exceptions=False)
    )
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "fails-1"
    assert any(r["request_id"] == "fails-1" for r in lines(log_stream))


def test_streaming_response_keeps_the_id_until_the_end(
    provider: TracerProvider, log_stream: io.StringIO, instrumented: list[FastAPI]
) -> None:
    upstream = make_upstream(FastAPI(), provider, instrumented)
    response = asyncio.run(get(upstream, "/stream", {"X-Request-ID": "stream-1"}))
    assert response.headers["x-request-id"] == "stream-1"
    assert response.text.splitlines() == ["stream-1"] * 3
    chunks = [r for r in lines(log_stream) if r["event"] == "chunk"]
    assert [r["request_id"] for r in chunks] == ["stream-1"] * 3


def test_app_set_header_is_replaced_not_duplicated(
    provider: TracerProvider, instrumented: list[FastAPI]
) -> None:
    upstream = make_upstream(FastAPI(), provider, instrumented)
    response = asyncio.run(get(upstream, "/own-header", {"X-Request-ID": "edge-7"}))
    assert response.headers.get_list("x-request-id") == ["edge-7"]


def test_inner_ordering_still_stamps_the_server_span(
    bare_provider: TracerProvider, exporter: InMemorySpanExporter, instrumented: list[FastAPI]
) -> None:
    """Installed before the instrumentation (so inside its server span): the middleware
    sets request.id on the server span itself, and the instrumentation still works."""
    app = FastAPI(telemetry=NO_NATIVE)  # type: ignore[arg-type]

    @app.get("/x")
    async def x() -> dict[str, str | None]:
        return {"rid": current_request_id()}

    install_request_id_middleware(app, SETTINGS)
    FastAPIInstrumentor.instrument_app(app, tracer_provider=bare_provider)
    instrumented.append(app)
    response = asyncio.run(get(app, "/x", {"X-Request-ID": "inner-1"}))
    assert response.headers["x-request-id"] == "inner-1"
    (server,) = [s for s in exporter.get_finished_spans() if s.kind is trace.SpanKind.SERVER]
    assert server.attributes["request.id"] == "inner-1"


def test_plain_asgi_ordering_outside_otel_middleware(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """The recommended order for any ASGI app: RequestIDMiddleware(OpenTelemetryMiddleware(app))."""
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        seen["baggage"] = baggage.get_all()
        seen["rid"] = current_request_id()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    stack = RequestIDMiddleware(OpenTelemetryMiddleware(app, tracer_provider=provider), SETTINGS)
    response = asyncio.run(
        get(stack, "/", {"X-Request-ID": "outer-1", "baggage": "request.id=other,tenant=acme"})
    )
    assert response.headers["x-request-id"] == "outer-1"
    # The header wins; our propagator rewrote the baggage extracted by the OTel middleware.
    assert seen == {"baggage": {"request.id": "outer-1", "tenant": "acme"}, "rid": "outer-1"}
    spans = exporter.get_finished_spans()
    (server,) = [s for s in spans if s.kind is trace.SpanKind.SERVER]
    assert server.attributes["request.id"] == "outer-1"
    assert all(s.attributes["request.id"] == "outer-1" for s in spans)  # http send spans too


# --- hostile input -------------------------------------------------------------------
VALID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~:@/+=-"
BAD_ASCII = [chr(c) for c in range(0x20)] + [chr(0x7F)] + list(" ,;\"'\\`%<>()[]{}|&$!*?#^")
_valid_text = st.text(alphabet=VALID_CHARS, max_size=20)
hostile_ids = st.one_of(
    st.just(b""),
    st.text(alphabet=VALID_CHARS, min_size=129, max_size=400).map(str.encode),
    st.tuples(_valid_text, st.sampled_from(BAD_ASCII), _valid_text).map(
        lambda t: "".join(t).encode("latin-1")
    ),
    st.tuples(_valid_text, st.characters(min_codepoint=0x80), _valid_text).map(
        lambda t: "".join(t).encode("utf-8", "surrogatepass")
    ),
    st.binary(min_size=1, max_size=64).filter(lambda b: validate_request_id(b) is None),
)


async def call_raw(
    app: Any, headers: list[tuple[bytes, bytes]], scope_type: str = "http"
) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    try:
        await app({"type": scope_type, "path": "/", "headers": headers}, receive, send)
    finally:
        assert_nothing_leaked()
    return sent


def response_ids(sent: list[Message]) -> list[bytes]:
    start = next(m for m in sent if m["type"] in requestid._START_MESSAGES)
    return [v for k, v in start["headers"] if k.lower() == b"x-request-id"]


async def logging_app(scope: Scope, receive: Any, send: Any) -> None:
    get_logger("app").info("handled", seen=current_request_id())
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-a", b"1")]})
    await send({"type": "http.response.body", "body": b"ok"})


@hsettings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(hostile=hostile_ids)
def test_hostile_ids_are_replaced_and_never_reflected(
    hostile: bytes, log_stream: io.StringIO
) -> None:
    log_stream.seek(0)
    log_stream.truncate()
    sent = asyncio.run(
        call_raw(RequestIDMiddleware(logging_app, SETTINGS), [(b"x-request-id", hostile)])
    )
    (effective,) = response_ids(sent)
    assert effective != hostile
    assert is_uuid4(effective.decode())
    # exactly one line from the app; lines other threads of the test session may log
    # meanwhile (a mock server, an exporter) are not this request's
    (record,) = [r for r in lines(log_stream) if r.get("logger") == "app"]
    assert record["request_id"] == record["seen"] == effective.decode()
    if len(hostile) >= 8:  # short values could occur in any JSON line by chance
        text = log_stream.getvalue()
        assert hostile.decode("latin-1") not in text
        assert hostile.decode("utf-8", "replace") not in text


@given(value=st.text(max_size=200))
def test_validation_accepts_exactly_the_documented_charset(value: str) -> None:
    accepted = validate_request_id(value)
    expected = 1 <= len(value) <= 128 and all(c in VALID_CHARS for c in value)
    assert (accepted == value) if expected else (accepted is None)
    if value.isascii():
        assert validate_request_id(value.encode()) == accepted


def test_new_request_id_is_a_valid_uuid4() -> None:
    ids = {new_request_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(is_uuid4(i) and validate_request_id(i) == i for i in ids)


# --- middleware details --------------------------------------------------------------
def test_header_name_from_settings_case_insensitive_first_decides() -> None:
    settings = Settings(request_id_header="X-Correlation-ID")
    mw = RequestIDMiddleware(logging_app, settings)
    sent = asyncio.run(
        call_raw(mw, [(b"X-CORRELATION-ID", b"first"), (b"x-correlation-id", b"second")])
    )
    assert response_ids_named(sent, b"x-correlation-id") == [b"first"]
    sent = asyncio.run(
        call_raw(mw, [(b"x-correlation-id", b"bad value"), (b"x-correlation-id", b"second")])
    )
    (minted,) = response_ids_named(sent, b"x-correlation-id")
    assert is_uuid4(minted.decode())
    with pytest.raises(ValueError, match="HTTP token"):
        RequestIDMiddleware(logging_app, Settings(request_id_header="X Request"))


def response_ids_named(sent: list[Message], name: bytes) -> list[bytes]:
    (start,) = [m for m in sent if m["type"] == "http.response.start"]
    assert (b"x-a", b"1") in start["headers"]  # the app's other headers are kept
    return [v for k, v in start["headers"] if k == name]


def test_untrusted_mode_always_mints() -> None:
    mw = RequestIDMiddleware(logging_app, Settings(trust_incoming_request_id=False))
    sent = asyncio.run(call_raw(mw, [(b"x-request-id", b"well-formed-but-untrusted")]))
    (effective,) = response_ids(sent)
    assert is_uuid4(effective.decode())


def test_websocket_accept_carries_the_header() -> None:
    async def ws_app(scope: Scope, receive: Any, send: Any) -> None:
        assert current_request_id() == "ws-1"
        await send({"type": "websocket.accept", "headers": [(b"x-request-id", b"stale")]})
        await send({"type": "websocket.close", "code": 1000})

    sent = asyncio.run(
        call_raw(RequestIDMiddleware(ws_app, SETTINGS), [(b"x-request-id", b"ws-1")], "websocket")
    )
    assert response_ids(sent) == [b"ws-1"]
    assert sent[1] == {"type": "websocket.close", "code": 1000}


def test_lifespan_and_other_scopes_pass_through_untouched() -> None:
    calls: list[tuple[Scope, Any, Any]] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        calls.append((scope, receive, send))
        assert current_request_id() is None
        assert baggage.get_all() == {}

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        pass

    scope: Scope = {"type": "lifespan"}
    asyncio.run(RequestIDMiddleware(app, SETTINGS)(scope, receive, send))
    assert calls == [(scope, receive, send)]


def test_our_failures_never_break_the_request(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("broken")

    monkeypatch.setattr(requestid, "request_state", broken)
    sent = asyncio.run(call_raw(RequestIDMiddleware(logging_app, SETTINGS), []))
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == b"ok"
    monkeypatch.undo()

    async def odd_headers(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [("str", 1)]})

    sent = asyncio.run(call_raw(RequestIDMiddleware(odd_headers, SETTINGS), []))
    assert sent[0]["headers"] == [("str", 1)]  # left as the app made it


def test_app_exceptions_propagate_unchanged_and_context_is_reset() -> None:
    async def failing(scope: Scope, receive: Any, send: Any) -> None:
        raise KeyError("app bug")

    with pytest.raises(KeyError, match="app bug"):  # call_raw checks the reset
        asyncio.run(call_raw(RequestIDMiddleware(failing, SETTINGS), []))


def test_install_is_idempotent_and_rejects_non_starlette_apps() -> None:
    app = FastAPI()
    install_request_id_middleware(app, SETTINGS)
    install_request_id_middleware(app, SETTINGS)
    stack = app.build_middleware_stack()
    layers = []
    while stack is not None:
        layers.append(type(stack).__name__)
        stack = getattr(stack, "app", None)
    assert layers.count("RequestIDMiddleware") == 1
    assert layers[:2] == ["ServerErrorMiddleware", "RequestIDMiddleware"]

    async def plain(scope: Scope, receive: Any, send: Any) -> None:
        pass

    with pytest.raises(TypeError):
        install_request_id_middleware(plain, SETTINGS)


# --- propagator ----------------------------------------------------------------------
PROPAGATOR = RequestIDPropagator(SETTINGS)


def test_inject_writes_header_and_baggage_from_the_current_request() -> None:
    carrier: dict[str, str] = {}
    with request_state(RequestState("state-id")):
        propagate.inject(carrier)
    assert carrier["X-Request-ID"] == "state-id"
    assert "request.id=state-id" in carrier["baggage"]


def test_inject_from_baggage_and_skips_malformed_values() -> None:
    ctx = baggage.set_baggage("request.id", "from-baggage")
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier, ctx)
    assert carrier == {"X-Request-ID": "from-baggage"}  # baggage already holds it

    carrier = {}
    PROPAGATOR.inject(carrier, baggage.set_baggage("request.id", "bad\r\nvalue"))
    assert carrier == {}
    PROPAGATOR.inject(carrier, otel_context.Context())
    assert carrier == {}


def test_extract_fills_validates_and_prefers_the_served_request() -> None:
    def extracted(carrier: dict[str, str]) -> dict[str, object]:
        ctx = W3CBaggagePropagator().extract(carrier, otel_context.Context())
        return dict(baggage.get_all(PROPAGATOR.extract(carrier, ctx)))

    assert extracted({"x-request-id": "hdr-1"}) == {"request.id": "hdr-1"}
    assert extracted({"X-Request-ID": "hdr-2"}) == {"request.id": "hdr-2"}
    assert extracted({"x-request-id": "hdr", "baggage": "request.id=bag,k=v"}) == {
        "request.id": "bag",
        "k": "v",
    }
    bad_baggage = {"x-request-id": "hdr-3", "baggage": "request.id=a%2Cb,k=v"}
    assert extracted(bad_baggage) == {"request.id": "hdr-3", "k": "v"}
    assert extracted({"x-request-id": "bad value", "baggage": "request.id=%0A,k=v"}) == {"k": "v"}
    assert extracted({}) == {}
    with request_state(RequestState("served")):
        assert extracted({"x-request-id": "hdr", "baggage": "request.id=bag"}) == {
            "request.id": "served"
        }
    assert PROPAGATOR.fields == {"X-Request-ID", "baggage"}


def test_fastapi_native_telemetry_server_span_is_stamped(
    bare_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """FastAPI's own telemetry wraps ``FastAPI.__call__``, outside any middleware stack:
    installed there, ours runs inside the native server span and stamps it directly."""
    app = FastAPI(telemetry={"tracer_provider": bare_provider, "metrics": False, "logs": False})

    @app.get("/n")
    async def n() -> dict[str, str | None]:
        return {"rid": current_request_id()}

    install_request_id_middleware(app, SETTINGS)
    response = asyncio.run(get(app, "/n", {"X-Request-ID": "native-1"}))
    assert response.json() == {"rid": "native-1"}
    assert response.headers["x-request-id"] == "native-1"
    servers = [s for s in exporter.get_finished_spans() if s.kind is trace.SpanKind.SERVER]
    assert [s.attributes["request.id"] for s in servers] == ["native-1"]


def test_hostile_baggage_request_id_is_not_trusted() -> None:
    from opentelemetry import baggage
    from opentelemetry import context as otel_context

    from otel_llm.context import current_request_id

    good = baggage.set_baggage("request.id", "abc-123")
    bad = baggage.set_baggage("request.id", "evil\r\nSet-Cookie: x")
    assert current_request_id(good) == "abc-123"
    assert current_request_id(bad) is None
    token = otel_context.attach(bad)
    try:
        assert current_request_id() is None
    finally:
        otel_context.detach(token)
