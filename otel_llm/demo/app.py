"""The demo service: an ordinary FastAPI app that calls LLMs through the official SDKs.

Nothing in here knows about tracing: that is the point. ``otel-llm demo-app`` runs it
behind :func:`otel_llm.configure`; it would get the same telemetry under
``otel-llm-instrument uvicorn otel_llm.demo.app:app``. The otel-llm calls are
:func:`otel_llm.set_attribution`, which a service makes to attribute spend to a user, and
:func:`otel_llm.track` around the one AI call no instrumentation sees: ``POST /transcribe``,
a speech-to-text call billed per second of audio (priced from ``otel_llm/demo/pricing.yaml``).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import structlog
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from otel_llm.context import set_attribution
from otel_llm.tracking import track

log = structlog.get_logger("otel_llm.demo.app")

EMBEDDING_PREFIX = "text-embedding"


class ChatRequest(BaseModel):
    model: str = "gpt-4o-mini"
    prompt: str = Field(default="Say hello.", max_length=20_000)
    stream: bool = False
    user: str | None = Field(default=None, max_length=128)
    session: str | None = Field(default=None, max_length=128)
    api: str = Field(default="chat", pattern="^(chat|responses)$")
    system: str | None = Field(default=None, max_length=20_000)


class ChatResponse(BaseModel):
    model: str
    text: str
    input_tokens: int | None = None
    output_tokens: int | None = None


class TranscribeRequest(BaseModel):
    audio_seconds: float = Field(default=30.0, gt=0, le=4 * 3600)
    language: str = Field(default="en-US", max_length=16)
    user: str | None = Field(default=None, max_length=128)
    session: str | None = Field(default=None, max_length=128)
    source: str = Field(default="voicemail", max_length=64)


class TranscribeResponse(BaseModel):
    model: str
    text: str
    audio_seconds: float


STT_MODEL = "chirp-2"
STT_PROVIDER = "gcp.vertex_ai"
DEMO_PRICING_FILE = os.path.join(os.path.dirname(__file__), "pricing.yaml")
"""The demo's pricing file: chirp-2 per minute of audio."""


def _usage(obj: Any, inp: str, out: str) -> tuple[int | None, int | None]:
    usage = getattr(obj, "usage", None)
    if usage is None:
        return None, None
    return getattr(usage, inp, None), getattr(usage, out, None)


def create_app(llm_base_url: str | None = None) -> FastAPI:
    """The demo FastAPI app; ``llm_base_url`` is the OpenAI/Anthropic-compatible server."""
    import anthropic
    import openai

    base = llm_base_url or os.environ.get("OTEL_LLM_DEMO_LLM_URL") or "http://127.0.0.1:8100"
    base = base.rstrip("/")
    oai = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="sk-demo-not-a-real-key", max_retries=0)
    claude = anthropic.AsyncAnthropic(base_url=base, api_key="sk-ant-demo", max_retries=0)
    app = FastAPI(title="otel-llm demo service")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/chat", response_model=ChatResponse)
    async def chat(req: ChatRequest) -> ChatResponse:
        set_attribution(user=req.user, session=req.session)
        started = time.perf_counter()
        try:
            if req.model.startswith(EMBEDDING_PREFIX):
                result = await _embed(oai, req)
            elif req.model.startswith("claude"):
                result = await _anthropic(claude, req)
            elif req.api == "responses":
                result = await _responses(oai, req)
            else:
                result = await _openai_chat(oai, req)
        except (openai.APIStatusError, anthropic.APIStatusError) as exc:
            log.warning("llm call failed", model=req.model, status=exc.status_code)
            raise HTTPException(status_code=502, detail=f"LLM error {exc.status_code}") from exc
        except (openai.APIConnectionError, anthropic.APIConnectionError) as exc:
            log.warning("llm unreachable", model=req.model)
            raise HTTPException(status_code=504, detail="LLM unreachable") from exc
        log.info(
            "chat completed",
            model=req.model,
            stream=req.stream,
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return result

    @app.post("/transcribe", response_model=TranscribeResponse)
    async def transcribe(req: TranscribeRequest) -> TranscribeResponse:
        set_attribution(user=req.user, session=req.session)
        with track(
            operation="speech_to_text", provider=STT_PROVIDER, model=STT_MODEL, source=req.source
        ) as call:
            text = await _speech_to_text(req)
            call.update(seconds=req.audio_seconds)
        log.info(
            "transcription completed",
            model=STT_MODEL,
            audio_seconds=req.audio_seconds,
            source=req.source,
        )
        return TranscribeResponse(model=STT_MODEL, text=text, audio_seconds=req.audio_seconds)

    return app


async def _speech_to_text(req: TranscribeRequest) -> str:
    """Stands in for a speech-to-text vendor's HTTP API (no SDK instrumentation covers one):
    about 1/100 of the audio's length, at most 0.3 s."""
    await asyncio.sleep(min(0.3, req.audio_seconds / 100))
    return f"[{req.language}] transcript of {req.audio_seconds:g} s of audio"


async def _openai_chat(client: Any, req: ChatRequest) -> ChatResponse:
    messages = [{"role": "user", "content": req.prompt}]
    if req.system:
        messages.insert(0, {"role": "system", "content": req.system})
    extra: dict[str, Any] = {}
    if req.user:
        extra["user"] = req.user
    if not req.stream:
        resp = await client.chat.completions.create(model=req.model, messages=messages, **extra)
        inp, out = _usage(resp, "prompt_tokens", "completion_tokens")
        text = resp.choices[0].message.content or "" if resp.choices else ""
        return ChatResponse(model=resp.model, text=text, input_tokens=inp, output_tokens=out)
    parts: list[str] = []
    model = req.model
    stream = await client.chat.completions.create(
        model=req.model, messages=messages, stream=True, **extra
    )
    async for chunk in stream:
        model = chunk.model or model
        for choice in chunk.choices:
            if choice.delta and choice.delta.content:
                parts.append(choice.delta.content)
    return ChatResponse(model=model, text="".join(parts))


async def _responses(client: Any, req: ChatRequest) -> ChatResponse:
    if not req.stream:
        resp = await client.responses.create(model=req.model, input=req.prompt)
        inp, out = _usage(resp, "input_tokens", "output_tokens")
        return ChatResponse(
            model=resp.model, text=resp.output_text, input_tokens=inp, output_tokens=out
        )
    parts: list[str] = []
    stream = await client.responses.create(model=req.model, input=req.prompt, stream=True)
    async for event in stream:
        if getattr(event, "type", "") == "response.output_text.delta":
            parts.append(event.delta)
    return ChatResponse(model=req.model, text="".join(parts))


async def _embed(client: Any, req: ChatRequest) -> ChatResponse:
    resp = await client.embeddings.create(model=req.model, input=req.prompt)
    inp = getattr(resp.usage, "prompt_tokens", None)
    return ChatResponse(
        model=resp.model, text=f"{len(resp.data[0].embedding)} dims", input_tokens=inp
    )


async def _anthropic(client: Any, req: ChatRequest) -> ChatResponse:
    kwargs: dict[str, Any] = {
        "model": req.model,
        "max_tokens": 512,
        "messages": [{"role": "user", "content": req.prompt}],
    }
    if req.system:
        kwargs["system"] = [
            {"type": "text", "text": req.system, "cache_control": {"type": "ephemeral"}}
        ]
    if not req.stream:
        msg = await client.messages.create(**kwargs)
        text = "".join(getattr(b, "text", "") for b in msg.content)
        inp, out = _usage(msg, "input_tokens", "output_tokens")
        return ChatResponse(model=msg.model, text=text, input_tokens=inp, output_tokens=out)
    async with client.messages.stream(**kwargs) as stream:
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    inp, out = _usage(final, "input_tokens", "output_tokens")
    return ChatResponse(model=final.model, text=text, input_tokens=inp, output_tokens=out)


def __getattr__(name: str) -> Any:
    # ``uvicorn otel_llm.demo.app:app`` (zero-code runs) builds the app on first access.
    if name == "app":
        return create_app()
    raise AttributeError(name)
