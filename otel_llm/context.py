"""Per-request state shared by the middleware, the span processor and the log processors.

The edge middleware (:mod:`otel_llm.requestid`) opens a :class:`RequestState` for each
incoming request; the span processor reads it at span start to stamp ``request.id`` and
attribution attributes; the structlog processors read it for ``request_id``. Outside a
request (a worker, a script) the request ID falls back to the W3C baggage entry
``request.id``, so IDs still flow across process hops.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import baggage
from opentelemetry import context as otel_context

from otel_llm.semconv import BAGGAGE_REQUEST_ID


@dataclass(slots=True)
class RequestState:
    """What we know about the request being served."""

    request_id: str
    attribution: dict[str, str] = field(default_factory=dict)
    """Attribution values for this request, e.g. ``{"user": "u-42", "tenant": "acme"}``."""
    scope: MutableMapping[str, Any] | None = None
    """The ASGI scope, read lazily for the matched route (known only after routing)."""

    def route(self) -> str | None:
        if self.scope is None:
            return None
        route = self.scope.get("route")
        path = getattr(route, "path", None)
        return path if isinstance(path, str) else None


_state: ContextVar[RequestState | None] = ContextVar("otel_llm_request_state", default=None)


def current_state() -> RequestState | None:
    return _state.get()


def current_request_id(ctx: otel_context.Context | None = None) -> str | None:
    """The request ID of the current request: middleware state first, then baggage."""
    state = _state.get()
    if state is not None:
        return state.request_id
    value = baggage.get_baggage(BAGGAGE_REQUEST_ID, ctx)
    if not isinstance(value, str) or not value:
        return None
    # Baggage can be set by any code or upstream hop: hold it to the same rule as the header.
    from otel_llm.requestid import validate_request_id

    return validate_request_id(value)


def current_attribution() -> Mapping[str, str]:
    """Attribution values (user, tenant, route...) of the current request, possibly empty."""
    state = _state.get()
    if state is None:
        return {}
    route = state.route()
    if route is not None and "route" not in state.attribution:
        return {**state.attribution, "route": route}
    return state.attribution


@contextmanager
def request_state(state: RequestState) -> Iterator[RequestState]:
    """Make ``state`` current for the duration of the block."""
    token = _state.set(state)
    try:
        yield state
    finally:
        _state.reset(token)


def set_attribution(**labels: str | None) -> None:
    """Attribute the current request's LLM spend, e.g. ``set_attribution(user="u-42")``.

    Only labels listed in ``OTEL_LLM_ATTRIBUTION_LABELS`` become metric labels; values are
    bounded (top-N then ``other``) and user values can be pseudonymised. Outside a request
    this opens a state for the current context with a fresh request ID.
    """
    state = _state.get()
    if state is None:
        import uuid

        state = RequestState(request_id=str(uuid.uuid4()))
        _state.set(state)
    for key, value in labels.items():
        if value is None:
            state.attribution.pop(key, None)
        else:
            state.attribution[key] = str(value)
