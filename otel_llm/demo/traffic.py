"""A realistic, seeded mix of demo traffic: several models, streaming and not, a few users.

Each request carries a fresh ``X-Request-ID`` chosen here, as an edge proxy would, so the
caller can look any of them up afterwards with ``otel-llm trace <id>``.

The driver plays the users' browsers, not a part of the service: when it runs inside an
instrumented process (``otel-llm demo`` drives its in-process service), its own HTTP
client is kept out of the tracing (OpenTelemetry's suppress-instrumentation context), so
it neither records client spans nor sends ``traceparent``; each request's trace starts at
the service's server span.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

# (weight, model, api, stream probability)
MIX: tuple[tuple[int, str, str, float], ...] = (
    (30, "gpt-4o-mini", "chat", 0.5),
    (8, "gpt-4o", "chat", 0.3),
    (10, "o4-mini", "chat", 0.0),
    (10, "gpt-4.1-mini", "responses", 0.4),
    (14, "claude-haiku-4-5", "chat", 0.5),
    (8, "claude-sonnet-4-5", "chat", 0.3),
    (8, "text-embedding-3-small", "chat", 0.0),
    (3, "acme-llm-1", "chat", 0.0),  # a self-hosted model with no public price
)
USERS = ("alice", "bob", "carol", "dave", "erin")
USER_WEIGHTS = (40, 25, 15, 12, 8)
PROMPTS = (
    "Summarise the attached incident report in three bullet points.",
    "Translate 'the invoice is overdue' into French, German and Spanish.",
    "Write a SQL query that finds customers with more than three orders last month.",
    "Explain the difference between p95 and average latency to a product manager.",
    "Draft a polite reply declining the meeting invitation for Thursday.",
)
SYSTEM = "You are a concise assistant for an operations team. " * 120  # cacheable prefix


@dataclass(frozen=True, slots=True)
class Sent:
    request_id: str
    model: str
    user: str
    stream: bool
    status: int
    duration_s: float
    via_gateway: bool = False


def plan(requests: int, seed: int) -> list[dict[str, Any]]:
    """The request bodies, deterministic for a seed."""
    rng = random.Random(seed)
    weights = [m[0] for m in MIX]
    bodies = []
    for i in range(requests):
        _, model, api, p_stream = rng.choices(MIX, weights)[0]
        if i % 20 == 10:  # always show a few calls of the model with no public price
            _, model, api, p_stream = MIX[-1]
        user = rng.choices(USERS, USER_WEIGHTS)[0]
        if i % 25 == 5:  # a speech-to-text call: tracked by hand, priced per second of audio
            bodies.append(
                {
                    "model": "chirp-2",
                    "api": "transcribe",
                    "audio_seconds": float(rng.choice((15, 42, 90, 180))),
                    "stream": False,
                    "user": user,
                    "session": f"{user}-{i % 3}",
                    "source": rng.choice(("voicemail", "meeting-notes")),
                }
            )
            continue
        bodies.append(
            {
                "model": model,
                "api": api,
                "prompt": rng.choice(PROMPTS),
                "stream": rng.random() < p_stream,
                "user": user,
                "session": f"{user}-{i % 3}",
                "system": SYSTEM if model.startswith(("claude", "gpt-4o")) else None,
            }
        )
    return bodies


async def _drive(
    base_url: str,
    bodies: list[dict[str, Any]],
    concurrency: int,
    on_done: Callable[[Sent], None] | None,
    timeout_s: float,
    gateway_url: str | None,
) -> list[Sent]:
    sem = asyncio.Semaphore(max(1, concurrency))
    results: list[Sent] = []

    async with httpx.AsyncClient(timeout=timeout_s) as client:

        async def one(i: int, body: dict[str, Any]) -> None:
            request_id = str(uuid.uuid4())
            # A quarter of the chat calls enter through the Node gateway when it runs.
            via_gateway = gateway_url is not None and i % 4 == 1 and body["api"] == "chat"
            async with sem:
                started = time.perf_counter()
                try:
                    if body["api"] == "transcribe":
                        resp = await client.post(
                            f"{base_url}/transcribe",
                            json={
                                k: v for k, v in body.items() if k not in ("model", "api", "stream")
                            },
                            headers={"X-Request-ID": request_id},
                        )
                    elif via_gateway:
                        resp = await client.post(
                            f"{gateway_url}/ask",
                            json={k: body[k] for k in ("model", "prompt", "user", "stream")},
                            headers={"X-Request-ID": request_id},
                        )
                    else:
                        resp = await client.post(
                            f"{base_url}/chat", json=body, headers={"X-Request-ID": request_id}
                        )
                    status = resp.status_code
                except httpx.HTTPError:
                    status = 0
                sent = Sent(
                    request_id,
                    body["model"],
                    body["user"],
                    body["stream"],
                    status,
                    time.perf_counter() - started,
                    via_gateway,
                )
            results.append(sent)
            if on_done is not None:
                on_done(sent)

        await asyncio.gather(*(one(i, b) for i, b in enumerate(bodies)))
    return results


def drive(
    base_url: str,
    requests: int = 200,
    *,
    concurrency: int = 8,
    seed: int = 7,
    on_done: Callable[[Sent], None] | None = None,
    timeout_s: float = 60.0,
    gateway_url: str | None = None,
) -> list[Sent]:
    """Send ``requests`` demo requests to ``base_url`` (some via ``gateway_url``); bounded."""
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    # asyncio.run copies this context into every task of the driver
    with suppress_instrumentation():
        return asyncio.run(
            _drive(base_url, plan(requests, seed), concurrency, on_done, timeout_s, gateway_url)
        )
