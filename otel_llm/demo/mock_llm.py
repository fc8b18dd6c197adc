"""An OpenAI- and Anthropic-compatible mock LLM server for tests, demos and benchmarks.

It speaks enough of each wire format for the client libraries to work unchanged:
``/v1/completions`` (legacy), ``/v1/chat/completions`` (with the
``stream_options.include_usage`` usage chunk; also
under Groq's ``/openai/v1`` and OpenRouter's ``/api/v1`` prefixes, and with OpenRouter's
``usage.cost`` when the request's Host is openrouter.ai), ``/v1/responses`` (with the
``response.*`` stream events), ``/v1/embeddings``, Anthropic's ``/v1/messages`` (SSE
``message_start`` ... ``message_stop``), Gemini's ``models/{model}:generateContent`` and
``:streamGenerateContent`` (``alt=sse`` or a JSON array; on the ``/v1beta`` and Vertex
``/v1/projects/...`` paths), Cohere's ``/v2/chat`` (JSON and typed SSE events) and
Bedrock's ``/model/{id}/converse`` (JSON; boto3 reaches it through ``endpoint_url``).
Clients keep their real host names when a transport sends their requests here (the
client matrix in tests/matrix does that below the instrumented ``send``).

Why a Starlette app and not FastAPI: ``FastAPIInstrumentor().instrument()`` patches the
``fastapi.FastAPI`` class, so a plain Starlette app stays out of the traces of the
service under test; the mock plays the provider, not a part of the service.

Behaviour that matters for telemetry is deterministic:

- token counts come from the request (words and punctuation of the prompt), never from
  the RNG, so a test can predict them;
- a prompt prefix seen before (all messages but the last one, per model) is reported as
  cached input tokens (OpenAI ``cached_tokens``); Anthropic blocks marked with
  ``cache_control`` are written to the cache on first use and read afterwards;
  ``cache_share`` reports a fixed share of every prompt as cached on top;
- reasoning models (o1, o3, o4-mini, gpt-5...) report reasoning tokens, included in the
  output tokens as the providers do;
- latency, stream pacing and errors come from a seedable RNG (lognormal latency around a
  per-model median; error statuses with the providers' own JSON error bodies).

Per-request switches, sent as request headers (e.g. ``extra_headers`` in the SDKs):
``x-mock-error: 429`` forces an error status, ``x-mock-ignore-include-usage: 1`` drops
the usage chunk as some OpenAI-compatible providers do, ``x-mock-abort-after: N`` ends
the stream body after N content chunks (no finish chunk, no usage, no end event).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import math
import random
import re
import struct
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from otel_llm.demo.server import ServerHandle
from otel_llm.demo.server import serve_in_thread as serve_app_in_thread

__all__ = [
    "MockLLMConfig",
    "MockLLMServer",
    "add_arguments",
    "create_app",
    "run_from_args",
    "serve_in_thread",
]

DEFAULT_MODEL_MEDIANS: dict[str, float] = {
    "gpt-4o-mini": 0.45,
    "gpt-4o": 0.8,
    "gpt-4.1-mini": 0.5,
    "gpt-4.1": 0.9,
    "gpt-5": 3.0,
    "gpt-5-mini": 1.5,
    "o3": 4.0,
    "o4-mini": 2.0,
    "claude-3-5-haiku-latest": 0.6,
    "claude-haiku-4-5": 0.6,
    "claude-sonnet-4-5": 1.4,
    "claude-opus-4-1": 2.5,
    "text-embedding-3-small": 0.08,
    "text-embedding-3-large": 0.12,
}
"""Median end-to-end latency in seconds per model (prefix match on the model name)."""

REASONING_MODEL_PREFIXES: tuple[str, ...] = ("o1", "o3", "o4", "gpt-5", "gemini-2.5", "grok-4")

_WORDS = tuple(
    [
        "the",
        "quick",
        "brown",
        "fox",
        "jumps",
        "over",
        "a",
        "lazy",
        "dog",
        "while",
        "telemetry",
        "flows",
        "through",
        "spans",
        "metrics",
        "and",
        "logs",
        "so",
        "that",
        "every",
        "request",
        "can",
        "be",
        "traced",
        "from",
        "edge",
        "to",
        "model",
        "and",
        "back",
    ]
)
_TOKEN_RE = re.compile(r"\w+|[^\w\s]")


@dataclass
class MockLLMConfig:
    """How the mock behaves. Defaults look like a real provider; tests set latency to 0."""

    seed: int | None = None
    """Seed of the RNG that draws latencies and errors (None: a fresh seed)."""
    latency_scale: float = 1.0
    """Multiplies every delay; 0 makes the server answer at once (unit tests)."""
    default_median_s: float = 0.5
    """Median latency of a model not in ``model_medians_s``."""
    model_medians_s: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MODEL_MEDIANS))
    latency_sigma: float = 0.35
    """Shape of the lognormal latency distribution (sigma of the underlying normal)."""
    ttfc_share: float = 0.3
    """Share of a streamed call's latency spent before the first chunk."""
    chunk_delay_s: float | None = None
    """Fixed delay between stream chunks; None spreads the rest of the latency evenly."""
    error_rate: float = 0.0
    """Probability that a call fails with one of the error statuses below."""
    openai_error_statuses: tuple[int, ...] = (429, 500, 503)
    anthropic_error_statuses: tuple[int, ...] = (429, 500, 529)
    cache_share: float = 0.0
    """Share of every prompt reported as cached (read) on top of repeated prefixes."""
    prompt_cache_min_tokens: int = 1024
    """Shortest repeated prefix that OpenAI-style automatic caching reports."""
    cache_entries: int = 4096
    """Bound on remembered prompt prefixes."""
    min_output_tokens: int = 12
    max_output_tokens: int = 64
    """Output length range; the exact length is a hash of the prompt (and max_tokens caps it)."""
    embedding_dimensions: int = 16
    """Default embedding size (small on purpose; ``dimensions`` in the request wins)."""

    def median_for(self, model: str) -> float:
        best = ""
        for name in self.model_medians_s:
            if model.startswith(name) and len(name) > len(best):
                best = name
        return self.model_medians_s[best] if best else self.default_median_s


# --- deterministic helpers -------------------------------------------------------------


def count_tokens(text: str) -> int:
    """Tokens of ``text`` as the mock counts them: words and punctuation marks."""
    return len(_TOKEN_RE.findall(text))


def _texts(value: Any) -> Iterable[str]:
    """Every text inside a message content / input structure, in order."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key in ("text", "content", "input", "instructions", "system"):
            if key in value:
                yield from _texts(value[key])
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


def _hash(*parts: str) -> int:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def is_reasoning_model(model: str) -> bool:
    return model.startswith(REASONING_MODEL_PREFIXES)


def _new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def _now() -> int:
    return int(time.time())


@dataclass
class _Plan:
    """What one call will answer: counts and text, fixed before any byte is sent."""

    model: str
    input_tokens: int
    cache_read: int
    cache_creation: int
    words: list[str]
    reasoning_tokens: int
    finish_reason: str

    @property
    def output_tokens(self) -> int:
        return len(self.words) + self.reasoning_tokens

    @property
    def text(self) -> str:
        return " ".join(self.words)


class _MockState:
    """Per-app mutable state: RNG, prompt-prefix cache. One event loop, so no lock."""

    def __init__(self, config: MockLLMConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.prefixes: OrderedDict[str, None] = OrderedDict()

    # prompt cache ------------------------------------------------------------------
    def seen(self, key: str) -> bool:
        hit = key in self.prefixes
        if hit:
            self.prefixes.move_to_end(key)
        else:
            self.prefixes[key] = None
            while len(self.prefixes) > max(1, self.config.cache_entries):
                self.prefixes.popitem(last=False)
        return hit

    # randomness -------------------------------------------------------------------
    def latency(self, model: str) -> float:
        cfg = self.config
        if cfg.latency_scale <= 0:
            return 0.0
        median = cfg.median_for(model)
        return cfg.latency_scale * median * math.exp(self.rng.gauss(0.0, cfg.latency_sigma))

    def error_status(self, request: Request, statuses: tuple[int, ...]) -> int | None:
        forced = request.headers.get("x-mock-error")
        if forced and forced.isdigit():
            return int(forced)
        if self.config.error_rate > 0 and statuses and self.rng.random() < self.config.error_rate:
            return self.rng.choice(statuses)
        return None

    # planning -----------------------------------------------------------------------
    def plan(
        self,
        model: str,
        prompt_parts: list[str],
        *,
        max_tokens: int | None,
        cache_read: int = 0,
        cache_creation: int = 0,
    ) -> _Plan:
        cfg = self.config
        prompt = "\n".join(prompt_parts)
        input_tokens = max(1, count_tokens(prompt))
        share = int(input_tokens * min(max(cfg.cache_share, 0.0), 1.0))
        cache_read = min(input_tokens - cache_creation, max(cache_read, share))
        h = _hash(model, prompt)
        span = max(0, cfg.max_output_tokens - cfg.min_output_tokens)
        n_words = cfg.min_output_tokens + (h % (span + 1))
        reasoning = (64 + (h >> 16) % 192) if is_reasoning_model(model) else 0
        finish = "stop"
        if max_tokens is not None and max_tokens > 0 and n_words + reasoning > max_tokens:
            reasoning = min(reasoning, max_tokens // 2)
            n_words = max(1, max_tokens - reasoning)
            finish = "length"
        words = [_WORDS[(h + i * 7919) % len(_WORDS)] for i in range(n_words)]
        return _Plan(model, input_tokens, cache_read, cache_creation, words, reasoning, finish)

    def openai_prefix_cache(self, model: str, prefix_parts: list[str]) -> int:
        """Cached tokens of a repeated prefix (OpenAI automatic caching)."""
        if not prefix_parts:
            return 0
        prefix = "\n".join(prefix_parts)
        tokens = count_tokens(prefix)
        hit = self.seen(f"openai\x1f{model}\x1f{prefix}")
        return tokens if hit and tokens >= self.config.prompt_cache_min_tokens else 0

    def chunk_delays(self, total: float, n_chunks: int) -> tuple[float, float]:
        """(time to first chunk, delay between chunks) for a stream of ``n_chunks``."""
        if total <= 0:
            return 0.0, 0.0
        ttfc = total * min(max(self.config.ttfc_share, 0.0), 1.0)
        if self.config.chunk_delay_s is not None:
            return ttfc, self.config.chunk_delay_s * self.config.latency_scale
        return ttfc, (total - ttfc) / max(1, n_chunks)


async def _sleep(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)


def _abort_after(request: Request) -> int | None:
    raw = request.headers.get("x-mock-abort-after")
    return int(raw) if raw and raw.isdigit() else None


def _sse(data: Mapping[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _headers(request_id: str, *, anthropic: bool = False) -> dict[str, str]:
    headers = {"x-request-id": request_id}
    if anthropic:
        headers["request-id"] = request_id
    return headers


async def _json_body(request: Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


# --- errors ----------------------------------------------------------------------------

_OPENAI_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Try again later."),
    500: ("server_error", None, "The server had an error while processing your request."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}
_ANTHROPIC_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    429: ("rate_limit_error", "Number of requests has exceeded your rate limit."),
    500: ("api_error", "Internal server error."),
    529: ("overloaded_error", "Overloaded"),
}


def _openai_error(status: int, request_id: str, message: str | None = None) -> JSONResponse:
    etype, code, default = _OPENAI_ERRORS.get(status, ("server_error", None, "Error."))
    headers = _headers(request_id)
    if status == 429:
        headers["retry-after"] = "1"
    body = {"error": {"message": message or default, "type": etype, "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def _anthropic_error(status: int, request_id: str, message: str | None = None) -> JSONResponse:
    etype, default = _ANTHROPIC_ERRORS.get(status, ("api_error", "Error."))
    headers = _headers(request_id, anthropic=True)
    if status == 429:
        headers["retry-after"] = "1"
    body = {
        "type": "error",
        "error": {"type": etype, "message": message or default},
        "request_id": request_id,
    }
    return JSONResponse(body, status_code=status, headers=headers)


class _Call(NamedTuple):
    """A call that passed the checks every endpoint makes first."""

    state: _MockState
    request_id: str
    body: dict[str, Any]
    model: str
    latency: float


async def _begin(
    request: Request, *, anthropic: bool = False, delay_errors: bool = True
) -> _Call | Response:
    """Parse the body and draw latency, then error (in that order: a seeded RNG stays stable).

    Returns the provider's error response for a body without a model or for a drawn or
    forced error status; ``delay_errors`` waits a fifth of the latency before the latter.
    """
    state: _MockState = request.app.state.mock
    error = _anthropic_error if anthropic else _openai_error
    request_id = _new_id("req_")
    body = await _json_body(request)
    if body is None or not isinstance(body.get("model"), str):
        return error(400, request_id, "A JSON body with a model is required.")
    model: str = body["model"]
    latency = state.latency(model)
    cfg = state.config
    statuses = cfg.anthropic_error_statuses if anthropic else cfg.openai_error_statuses
    status = state.error_status(request, statuses)
    if status is not None:
        if delay_errors:
            await _sleep(latency * 0.2)
        return error(status, request_id)
    return _Call(state, request_id, body, model, latency)


def _word_deltas(request: Request, plan: _Plan) -> tuple[list[str], bool]:
    """The text deltas a stream sends (a word each) and whether it runs to its end.

    ``x-mock-abort-after: N`` keeps the first N: the body then ends with no finish, no
    usage and no end event.
    """
    deltas = [word if i == 0 else " " + word for i, word in enumerate(plan.words)]
    abort_after = _abort_after(request)
    if abort_after is not None and abort_after < len(deltas):
        return deltas[:abort_after], False
    return deltas, True


# --- OpenAI: chat completions ----------------------------------------------------------


OPENROUTER_USD_PER_TOKEN = 1e-6
"""What the mock charges, as OpenRouter's ``usage.cost``, when addressed as openrouter.ai."""


def _chat_usage(plan: _Plan, request: Request | None = None) -> dict[str, Any]:
    usage = _chat_usage_counts(plan)
    if request is not None and request.headers.get("host", "").startswith("openrouter.ai"):
        usage["cost"] = round(
            (plan.input_tokens + plan.output_tokens) * OPENROUTER_USD_PER_TOKEN, 9
        )
    return usage


def _chat_usage_counts(plan: _Plan) -> dict[str, Any]:
    return {
        "prompt_tokens": plan.input_tokens,
        "completion_tokens": plan.output_tokens,
        "total_tokens": plan.input_tokens + plan.output_tokens,
        "prompt_tokens_details": {"cached_tokens": plan.cache_read, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": plan.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


async def _chat_completions(request: Request) -> Response:
    call = await _begin(request)
    if isinstance(call, Response):
        return call
    state, request_id, body, model, latency = call
    messages = body.get("messages") or []
    if not isinstance(messages, list):
        messages = []
    parts = [" ".join(_texts(m)) for m in messages]
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    cached = state.openai_prefix_cache(model, parts[:-1])
    plan = state.plan(model, parts, max_tokens=max_tokens, cache_read=cached)
    completion_id = _new_id("chatcmpl-")
    created = _now()
    headers = _headers(request_id)
    if not body.get("stream"):
        await _sleep(latency)
        payload = {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_mock",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": plan.text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": plan.finish_reason,
                }
            ],
            "usage": _chat_usage(plan, request),
        }
        return JSONResponse(payload, headers=headers)

    stream_options = body.get("stream_options") or {}
    include_usage = bool(isinstance(stream_options, dict) and stream_options.get("include_usage"))
    if request.headers.get("x-mock-ignore-include-usage"):
        include_usage = False
    deltas, complete = _word_deltas(request, plan)
    ttfc, gap = state.chunk_delays(latency, len(plan.words) + 1)

    def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_mock",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            data["usage"] = None
        return data

    async def events() -> AsyncIterator[bytes]:
        await _sleep(ttfc)
        yield _sse(chunk({"role": "assistant", "content": "", "refusal": None}, None))
        for delta in deltas:
            await _sleep(gap)
            yield _sse(chunk({"content": delta}, None))
        if not complete:
            return
        yield _sse(chunk({}, plan.finish_reason))
        if include_usage:
            final = chunk({}, None)
            final["choices"] = []
            final["usage"] = _chat_usage(plan, request)
            yield _sse(final)
        yield b"data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


# --- OpenAI: responses -----------------------------------------------------------------


def _responses_parts(body: Mapping[str, Any]) -> list[str]:
    parts: list[str] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str):
        parts.append(instructions)
    raw = body.get("input")
    if isinstance(raw, str):
        parts.append(raw)
    elif isinstance(raw, list):
        parts.extend(" ".join(_texts(item)) for item in raw)
    return parts


def _response_object(
    response_id: str, plan: _Plan | None, model: str, created: int, status: str, msg_id: str
) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    usage: dict[str, Any] | None = None
    if plan is not None and status == "completed":
        output.append(
            {
                "type": "message",
                "id": msg_id,
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": plan.text, "annotations": []}],
            }
        )
        usage = {
            "input_tokens": plan.input_tokens,
            "input_tokens_details": {"cached_tokens": plan.cache_read},
            "output_tokens": plan.output_tokens,
            "output_tokens_details": {"reasoning_tokens": plan.reasoning_tokens},
            "total_tokens": plan.input_tokens + plan.output_tokens,
        }
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "temperature": 1.0,
        "top_p": 1.0,
        "usage": usage,
    }


async def _responses(request: Request) -> Response:
    call = await _begin(request)
    if isinstance(call, Response):
        return call
    state, request_id, body, model, latency = call
    parts = _responses_parts(body)
    cached = state.openai_prefix_cache(model, parts[:-1])
    plan = state.plan(model, parts, max_tokens=body.get("max_output_tokens"), cache_read=cached)
    response_id = _new_id("resp_")
    msg_id = _new_id("msg_")
    created = _now()
    headers = _headers(request_id)
    if not body.get("stream"):
        await _sleep(latency)
        return JSONResponse(
            _response_object(response_id, plan, model, created, "completed", msg_id),
            headers=headers,
        )
    deltas, complete = _word_deltas(request, plan)
    ttfc, gap = state.chunk_delays(latency, len(plan.words) + 1)

    async def events() -> AsyncIterator[bytes]:
        seq = 0

        def ev(kind: str, **data: Any) -> bytes:
            nonlocal seq
            payload = {"type": kind, "sequence_number": seq, **data}
            seq += 1
            return _sse(payload, kind)

        pending = _response_object(response_id, plan, model, created, "in_progress", msg_id)
        await _sleep(ttfc)
        yield ev("response.created", response=pending)
        yield ev("response.in_progress", response=pending)
        item = {"type": "message", "id": msg_id, "status": "in_progress", "role": "assistant"}
        yield ev("response.output_item.added", output_index=0, item={**item, "content": []})
        part = {"type": "output_text", "text": "", "annotations": []}
        yield ev(
            "response.content_part.added",
            item_id=msg_id,
            output_index=0,
            content_index=0,
            part=part,
        )
        for delta in deltas:
            await _sleep(gap)
            yield ev(
                "response.output_text.delta",
                item_id=msg_id,
                output_index=0,
                content_index=0,
                delta=delta,
                logprobs=[],
            )
        if not complete:
            return
        text = plan.text
        yield ev(
            "response.output_text.done",
            item_id=msg_id,
            output_index=0,
            content_index=0,
            text=text,
            logprobs=[],
        )
        done_part = {**part, "text": text}
        yield ev(
            "response.content_part.done",
            item_id=msg_id,
            output_index=0,
            content_index=0,
            part=done_part,
        )
        done_item = {**item, "status": "completed", "content": [done_part]}
        yield ev("response.output_item.done", output_index=0, item=done_item)
        final = _response_object(response_id, plan, model, created, "completed", msg_id)
        yield ev("response.completed", response=final)

    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


# --- OpenAI: embeddings ----------------------------------------------------------------


async def _embeddings(request: Request) -> Response:
    call = await _begin(request, delay_errors=False)
    if isinstance(call, Response):
        return call
    state, request_id, body, model, latency = call
    raw = body.get("input")
    inputs: list[str]
    if isinstance(raw, str):
        inputs = [raw]
    elif isinstance(raw, list):
        inputs = [x if isinstance(x, str) else " ".join(map(str, x)) for x in raw]
    else:
        return _openai_error(400, request_id, "input must be a string or a list.")
    dims = body.get("dimensions")
    dims = dims if isinstance(dims, int) and 0 < dims <= 4096 else state.config.embedding_dimensions
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, text in enumerate(inputs):
        rng = random.Random(_hash(model, text))
        vector = [rng.uniform(-1.0, 1.0) for _ in range(dims)]
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        vector = [v / norm for v in vector]
        embedding: Any = (
            base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode() if as_base64 else vector
        )
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = sum(max(1, count_tokens(t)) for t in inputs)
    await _sleep(latency)
    payload = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return JSONResponse(payload, headers=_headers(request_id))


# --- Anthropic: messages ---------------------------------------------------------------


def _anthropic_blocks(body: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """(text, has cache_control) for every system and message block, in prompt order."""
    blocks: list[tuple[str, bool]] = []

    def add(content: Any) -> None:
        if isinstance(content, str):
            blocks.append((content, False))
        elif isinstance(content, list):
            for block in content:
                if isinstance(block, Mapping):
                    text = " ".join(_texts(block))
                    blocks.append((text, block.get("cache_control") is not None))
                elif isinstance(block, str):
                    blocks.append((block, False))

    add(body.get("system"))
    for message in body.get("messages") or []:
        if isinstance(message, Mapping):
            add(message.get("content"))
    return blocks


async def _messages(request: Request) -> Response:
    call = await _begin(request, anthropic=True)
    if isinstance(call, Response):
        return call
    state, request_id, body, model, latency = call
    blocks = _anthropic_blocks(body)
    texts = [text for text, _ in blocks]
    cache_read = cache_creation = 0
    marked = [i for i, (_, cached) in enumerate(blocks) if cached]
    if marked:
        prefix = "\n".join(texts[: marked[-1] + 1])
        tokens = count_tokens(prefix)
        if state.seen(f"anthropic\x1f{model}\x1f{prefix}"):
            cache_read = tokens
        else:
            cache_creation = tokens
    max_tokens = body.get("max_tokens")
    plan = state.plan(
        model,
        texts,
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        cache_read=cache_read,
        cache_creation=cache_creation,
    )
    # Anthropic reports input_tokens without the cached reads and writes.
    uncached = max(0, plan.input_tokens - plan.cache_read - plan.cache_creation)
    stop_reason = "end_turn" if plan.finish_reason == "stop" else "max_tokens"
    message_id = _new_id("msg_")
    headers = _headers(request_id, anthropic=True)
    counts = {
        "input_tokens": uncached,
        "cache_creation_input_tokens": plan.cache_creation,
        "cache_read_input_tokens": plan.cache_read,
        "output_tokens": plan.output_tokens,
    }
    usage = {**counts, "service_tier": "standard"}
    if not body.get("stream"):
        await _sleep(latency)
        payload = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": plan.text}],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }
        return JSONResponse(payload, headers=headers)
    deltas, complete = _word_deltas(request, plan)
    ttfc, gap = state.chunk_delays(latency, len(plan.words) + 1)

    async def events() -> AsyncIterator[bytes]:
        start: dict[str, Any] = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**usage, "output_tokens": 1},
        }
        await _sleep(ttfc)
        yield _sse({"type": "message_start", "message": start}, "message_start")
        block = {"type": "text", "text": ""}
        yield _sse(
            {"type": "content_block_start", "index": 0, "content_block": block},
            "content_block_start",
        )
        yield _sse({"type": "ping"}, "ping")
        for delta in deltas:
            await _sleep(gap)
            text_delta = {"type": "text_delta", "text": delta}
            yield _sse(
                {"type": "content_block_delta", "index": 0, "delta": text_delta},
                "content_block_delta",
            )
        if not complete:
            return
        yield _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        yield _sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": counts,
            },
            "message_delta",
        )
        yield _sse({"type": "message_stop"}, "message_stop")

    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


# --- OpenAI: legacy completions -------------------------------------------------------


async def _completions(request: Request) -> Response:
    call = await _begin(request)
    if isinstance(call, Response):
        return call
    state, request_id, body, model, latency = call
    prompt = body.get("prompt")
    parts = list(_texts(prompt))
    max_tokens = body.get("max_tokens")
    plan = state.plan(model, parts, max_tokens=max_tokens if isinstance(max_tokens, int) else None)
    completion_id = _new_id("cmpl-")
    usage = {
        "prompt_tokens": plan.input_tokens,
        "completion_tokens": plan.output_tokens,
        "total_tokens": plan.input_tokens + plan.output_tokens,
    }
    headers = _headers(request_id)

    def payload(text: str, finish: str | None) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": "text_completion",
            "created": _now(),
            "model": model,
            "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}],
        }

    if not body.get("stream"):
        await _sleep(latency)
        return JSONResponse(
            {**payload(plan.text, plan.finish_reason), "usage": usage}, headers=headers
        )
    options = body.get("stream_options") or {}
    include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
    deltas, complete = _word_deltas(request, plan)

    async def events() -> AsyncIterator[bytes]:
        await _sleep(latency * 0.2)
        for delta in deltas:
            yield _sse(payload(delta, None))
        if not complete:
            return
        yield _sse(payload("", plan.finish_reason))
        if include_usage:
            yield _sse({**payload("", None), "choices": [], "usage": usage})
        yield b"data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


# --- Google Gemini (generativelanguage and Vertex AI paths) ---------------------------


def _gemini_error(status: int, request_id: str, message: str = "Error.") -> JSONResponse:
    names = {400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}
    body = {
        "error": {"code": status, "message": message, "status": names.get(status, "UNAVAILABLE")}
    }
    return JSONResponse(body, status_code=status, headers=_headers(request_id))


def _gemini_texts(contents: Any) -> list[str]:
    if isinstance(contents, str):
        return [contents]
    if isinstance(contents, dict):
        contents = [contents]
    out: list[str] = []
    for content in contents if isinstance(contents, list) else ():
        parts = content.get("parts") if isinstance(content, dict) else None
        out.append(
            " ".join(
                p["text"]
                for p in parts or ()
                if isinstance(p, dict) and isinstance(p.get("text"), str)
            )
        )
    return out


async def _gemini(request: Request) -> Response:
    """``models/{model}:generateContent`` and ``:streamGenerateContent`` (SSE with
    ``alt=sse``, else one JSON array), on the Gemini API and Vertex AI paths."""
    state: _MockState = request.app.state.mock
    request_id = _new_id("req_")
    head, _, action = request.url.path.rpartition(":")
    model = head.rsplit("/models/", 1)[-1]
    body = await _json_body(request)
    if body is None or not model or action not in ("generateContent", "streamGenerateContent"):
        return _gemini_error(400, request_id, "Invalid request.")
    latency = state.latency(model)
    status = state.error_status(request, (429, 500))
    if status is not None:
        await _sleep(latency * 0.2)
        return _gemini_error(status, request_id)
    texts = _gemini_texts(body.get("contents")) + _gemini_texts(body.get("systemInstruction"))
    config = body.get("generationConfig") or {}
    max_tokens = config.get("maxOutputTokens") if isinstance(config, dict) else None
    plan = state.plan(model, texts, max_tokens=max_tokens if isinstance(max_tokens, int) else None)
    finish = "STOP" if plan.finish_reason == "stop" else "MAX_TOKENS"
    response_id = _new_id("")
    headers = _headers(request_id)

    def usage(n_words: int, final: bool) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "promptTokenCount": plan.input_tokens,
            "candidatesTokenCount": n_words,
        }
        if final and plan.reasoning_tokens:
            meta["thoughtsTokenCount"] = plan.reasoning_tokens
        meta["totalTokenCount"] = (
            plan.input_tokens + n_words + (plan.reasoning_tokens if final else 0)
        )
        return meta

    def chunk(text: str, n_words: int, final: bool) -> dict[str, Any]:
        candidate: dict[str, Any] = {
            "content": {"role": "model", "parts": [{"text": text}]},
            "index": 0,
        }
        if final:
            candidate["finishReason"] = finish
        return {
            "candidates": [candidate],
            "usageMetadata": usage(n_words, final),
            "modelVersion": model,
            "responseId": response_id,
        }

    if action == "generateContent":
        await _sleep(latency)
        return JSONResponse(chunk(plan.text, len(plan.words), True), headers=headers)
    deltas, complete = _word_deltas(request, plan)
    ttfc, gap = state.chunk_delays(latency, len(plan.words) + 1)
    sse = request.query_params.get("alt") == "sse"

    async def events() -> AsyncIterator[bytes]:
        await _sleep(ttfc)
        if not sse:
            yield b"["
        for i, delta in enumerate(deltas):
            if i:
                await _sleep(gap)
            final = complete and i == len(deltas) - 1
            data = chunk(delta, i + 1, final)
            if sse:
                yield _sse(data)
            else:
                yield (b"," if i else b"") + json.dumps(data).encode()
        if not sse:
            yield b"]"

    media = "text/event-stream" if sse else "application/json"
    return StreamingResponse(events(), media_type=media, headers=headers)


# --- Cohere: v2 chat -------------------------------------------------------------------


async def _cohere_chat(request: Request) -> Response:
    call = await _begin(request)
    if isinstance(call, Response):
        return call
    state, request_id, body, model, latency = call
    messages = body.get("messages") or []
    parts = [" ".join(_texts(m)) for m in messages if isinstance(m, dict)]
    max_tokens = body.get("max_tokens")
    plan = state.plan(model, parts, max_tokens=max_tokens if isinstance(max_tokens, int) else None)
    finish = "COMPLETE" if plan.finish_reason == "stop" else "MAX_TOKENS"
    message_id = _new_id("")
    headers = _headers(request_id)
    usage = {
        "billed_units": {"input_tokens": plan.input_tokens, "output_tokens": plan.output_tokens},
        "tokens": {"input_tokens": plan.input_tokens + 5, "output_tokens": plan.output_tokens},
    }
    if not body.get("stream"):
        await _sleep(latency)
        payload = {
            "id": message_id,
            "finish_reason": finish,
            "message": {"role": "assistant", "content": [{"type": "text", "text": plan.text}]},
            "usage": usage,
        }
        return JSONResponse(payload, headers=headers)
    deltas, complete = _word_deltas(request, plan)
    ttfc, gap = state.chunk_delays(latency, len(plan.words) + 1)

    def ev(kind: str, **data: Any) -> bytes:
        return _sse({"type": kind, **data}, kind)

    async def events() -> AsyncIterator[bytes]:
        await _sleep(ttfc)
        yield ev(
            "message-start", id=message_id, delta={"message": {"role": "assistant", "content": []}}
        )
        yield ev(
            "content-start", index=0, delta={"message": {"content": {"type": "text", "text": ""}}}
        )
        for delta in deltas:
            await _sleep(gap)
            yield ev("content-delta", index=0, delta={"message": {"content": {"text": delta}}})
        if not complete:
            return
        yield ev("content-end", index=0)
        yield ev("message-end", delta={"finish_reason": finish, "usage": usage})

    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


# --- AWS Bedrock: converse (JSON) ------------------------------------------------------


async def _bedrock(request: Request) -> Response:
    """``/model/{modelId}/converse`` (boto3 ``bedrock-runtime`` ``converse``); the binary
    event stream of ``converse-stream`` is not served."""
    from urllib.parse import unquote

    state: _MockState = request.app.state.mock
    request_id = _new_id("")
    path = unquote(request.url.path)
    if not path.endswith("/converse"):
        return JSONResponse({"message": "Unsupported operation"}, status_code=404)
    model = path[len("/model/") : -len("/converse")]
    body = await _json_body(request)
    if body is None or not model:
        return JSONResponse({"message": "Malformed input request"}, status_code=400)
    texts = [
        " ".join(_texts(m.get("content")))
        for m in body.get("messages") or ()
        if isinstance(m, dict)
    ]
    config = body.get("inferenceConfig") or {}
    max_tokens = config.get("maxTokens") if isinstance(config, dict) else None
    plan = state.plan(model, texts, max_tokens=max_tokens if isinstance(max_tokens, int) else None)
    await _sleep(state.latency(model))
    payload = {
        "output": {"message": {"role": "assistant", "content": [{"text": plan.text}]}},
        "stopReason": "end_turn" if plan.finish_reason == "stop" else "max_tokens",
        "usage": {
            "inputTokens": plan.input_tokens,
            "outputTokens": plan.output_tokens,
            "totalTokens": plan.input_tokens + plan.output_tokens,
        },
        "metrics": {"latencyMs": 1},
    }
    return JSONResponse(payload, headers={"x-amzn-requestid": request_id})


async def _models(request: Request) -> Response:
    cfg: MockLLMConfig = request.app.state.mock.config
    data = [
        {"id": name, "object": "model", "created": 0, "owned_by": "mock"}
        for name in sorted(cfg.model_medians_s)
    ]
    return JSONResponse({"object": "list", "data": data})


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def create_app(config: MockLLMConfig | None = None) -> ASGIApp:
    """The mock as a plain Starlette ASGI app (out of reach of the FastAPI instrumentation)."""
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", _chat_completions, methods=["POST"]),
            # Groq's and OpenRouter's paths to the same format
            Route("/openai/v1/chat/completions", _chat_completions, methods=["POST"]),
            Route("/api/v1/chat/completions", _chat_completions, methods=["POST"]),
            Route("/v1beta/models/{rest:path}", _gemini, methods=["POST"]),
            Route("/v1/models/{rest:path}", _gemini, methods=["POST"]),
            Route("/v1/projects/{rest:path}", _gemini, methods=["POST"]),
            Route("/v2/chat", _cohere_chat, methods=["POST"]),
            Route("/model/{rest:path}", _bedrock, methods=["POST"]),
            Route("/v1/responses", _responses, methods=["POST"]),
            Route("/v1/completions", _completions, methods=["POST"]),
            Route("/v1/embeddings", _embeddings, methods=["POST"]),
            Route("/v1/messages", _messages, methods=["POST"]),
            Route("/v1/models", _models, methods=["GET"]),
            Route("/healthz", _health, methods=["GET"]),
        ]
    )
    app.state.mock = _MockState(config or MockLLMConfig())
    return app


# --- serving ---------------------------------------------------------------------------


class MockLLMServer(ServerHandle):
    """A running mock: ``.port``, ``.base_url`` (``http://host:port``) and ``.close()``."""

    @property
    def openai_base_url(self) -> str:
        """What ``OpenAI(base_url=...)`` wants: the root with ``/v1``."""
        return f"{self.base_url}/v1"


def serve_in_thread(
    config: MockLLMConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    startup_timeout: float = 10.0,
) -> MockLLMServer:
    """Start the mock with uvicorn in a daemon thread; port 0 picks a free port."""
    handle = serve_app_in_thread(
        create_app(config), host, port, startup_timeout_s=startup_timeout, name="mock-llm"
    )
    return MockLLMServer(handle.server, handle.thread, handle.host, handle.port)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``otel-llm mock-llm``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8300, help="port (default 8300)")
    parser.add_argument("--seed", type=int, default=None, help="RNG seed for latency and errors")
    parser.add_argument(
        "--latency-scale",
        type=float,
        default=1.0,
        help="multiply all delays (0 answers at once; default 1)",
    )
    parser.add_argument(
        "--latency-sigma", type=float, default=0.35, help="lognormal sigma (default 0.35)"
    )
    parser.add_argument(
        "--ttfc-share",
        type=float,
        default=0.3,
        help="share of latency before the first stream chunk (default 0.3)",
    )
    parser.add_argument(
        "--error-rate", type=float, default=0.0, help="share of failing calls (default 0)"
    )
    parser.add_argument(
        "--cache-share",
        type=float,
        default=0.0,
        help="share of every prompt reported as cached (default 0)",
    )
    parser.add_argument(
        "--prompt-cache-min-tokens",
        type=int,
        default=1024,
        help="shortest repeated prefix reported as cached (default 1024)",
    )


def config_from_args(args: argparse.Namespace) -> MockLLMConfig:
    for name in ("latency_scale", "error_rate", "cache_share", "latency_sigma", "ttfc_share"):
        value = getattr(args, name)
        if value < 0 or (name in ("error_rate", "cache_share", "ttfc_share") and value > 1):
            raise ValueError(f"--{name.replace('_', '-')} out of range: {value}")
    return MockLLMConfig(
        seed=args.seed,
        latency_scale=args.latency_scale,
        latency_sigma=args.latency_sigma,
        ttfc_share=args.ttfc_share,
        error_rate=args.error_rate,
        cache_share=args.cache_share,
        prompt_cache_min_tokens=args.prompt_cache_min_tokens,
    )


def run_from_args(args: argparse.Namespace) -> int:
    """Serve in the foreground until interrupted; returns the process exit code."""
    import sys

    import uvicorn

    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"mock-llm: {exc}", file=sys.stderr)
        return 2
    print(
        f"mock LLM on http://{args.host}:{args.port} "
        f"(OpenAI base_url http://{args.host}:{args.port}/v1, Anthropic base_url "
        f"http://{args.host}:{args.port})",
        file=sys.stderr,
    )
    uvicorn.run(
        create_app(config),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    _parser = argparse.ArgumentParser(description="OpenAI/Anthropic-compatible mock LLM")
    add_arguments(_parser)
    raise SystemExit(run_from_args(_parser.parse_args()))
