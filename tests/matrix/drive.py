"""Drives one client library against the mock LLM; runs inside that client's environment.

    python drive.py CLIENT MOCK_PORT OUT_DIR

The client keeps the provider's real host name (``api.openai.com``, ``api.groq.com``...):
``send`` (where otel-llm's wire layer reads the call) sees the real URL, and only the
transport below it (``HTTPTransport.handle_request``) sends the bytes to the mock on
127.0.0.1. Writes ``spans.jsonl`` (every finished span: name, kind, status, attributes,
after otel-llm's span processor priced it) and ``calls.jsonl`` (per call: what the client
library itself reported: usage, model, the request ID we set) into OUT_DIR.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import otel_llm
from otel_llm.context import RequestState, request_state

PROMPT = "Name three prime numbers and say why they are prime."


class JsonLinesExporter(SpanExporter):
    def __init__(self, path: Path) -> None:
        self.file = path.open("w")

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        for span in spans:
            attrs = {
                k: list(v) if isinstance(v, tuple) else v
                for k, v in (span.attributes or {}).items()
            }
            self.file.write(
                json.dumps(
                    {
                        "name": span.name,
                        "kind": span.kind.name,
                        "status": span.status.status_code.name,
                        "attributes": attrs,
                    }
                )
                + "\n"
            )
        self.file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.file.close()


def redirect(port: int) -> None:
    """Send every httpx/httpx2 request to the mock, below the instrumented ``send``."""
    for name in ("httpx", "httpx2"):
        try:
            module = __import__(name)
        except ImportError:
            continue

        def rewrite(request: Any) -> None:
            request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=port)

        sync_orig = module.HTTPTransport.handle_request
        async_orig = module.AsyncHTTPTransport.handle_async_request

        def handle(self: Any, request: Any, _orig: Any = sync_orig) -> Any:
            rewrite(request)
            return _orig(self, request)

        async def handle_async(self: Any, request: Any, _orig: Any = async_orig) -> Any:
            rewrite(request)
            return await _orig(self, request)

        module.HTTPTransport.handle_request = handle
        module.AsyncHTTPTransport.handle_async_request = handle_async


Call = dict[str, Any]


@contextmanager
def _calling(
    calls: list[Call], rid: str, stream: bool, provider: str, price_id: str, model: str, op: str
) -> Iterator[Call]:
    """The record of one call (in ``calls``), made while its request ID ``rid`` is set, so
    that the call's spans carry it."""
    call: Call = {
        "request_id": rid,
        "stream": stream,
        "provider": provider,
        "price_id": price_id,
        "request_model": model,
        "operation": op,
        "usage": None,
    }
    calls.append(call)
    with request_state(RequestState(rid)):
        yield call


def run_openai(calls: list[Call]) -> None:
    import openai

    client = openai.OpenAI(api_key="sk-test", max_retries=0)
    with _calling(
        calls, "matrix-openai-1", False, "openai", "openai", "gpt-5-mini", "chat"
    ) as call:
        resp = client.chat.completions.create(
            model="gpt-5-mini", messages=[{"role": "user", "content": PROMPT}]
        )
        u = resp.usage
        call["usage"] = {
            "input": u.prompt_tokens,
            "output": u.completion_tokens,
            "reasoning": u.completion_tokens_details.reasoning_tokens,
        }
        call["response_model"] = resp.model
    with _calling(
        calls, "matrix-openai-2", True, "openai", "openai", "gpt-4o-mini", "chat"
    ) as call:
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}], stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        call["text"] = text
    # the openai SDK pointed at another provider: the endpoint decides
    xai = openai.OpenAI(api_key="sk-test", base_url="https://api.x.ai/v1", max_retries=0)
    with _calling(calls, "matrix-openai-3", False, "x_ai", "x-ai", "grok-4", "chat") as call:
        resp = xai.chat.completions.create(
            model="grok-4", messages=[{"role": "user", "content": PROMPT}]
        )
        call["usage"] = {"input": resp.usage.prompt_tokens, "output": resp.usage.completion_tokens}
        call["response_model"] = resp.model
    router = openai.OpenAI(
        api_key="sk-test", base_url="https://openrouter.ai/api/v1", max_retries=0
    )
    with _calling(
        calls, "matrix-openai-4", False, "openrouter", "openrouter", "openai/gpt-4o", "chat"
    ) as call:
        resp = router.chat.completions.create(
            model="openai/gpt-4o", messages=[{"role": "user", "content": PROMPT}]
        )
        call["usage"] = {"input": resp.usage.prompt_tokens, "output": resp.usage.completion_tokens}
        call["provider_cost"] = (
            resp.model_extra["usage"]["cost"]
            if resp.model_extra and "usage" in resp.model_extra
            else getattr(resp.usage, "cost", None)
        )


def run_anthropic(calls: list[Call]) -> None:
    import anthropic

    client = anthropic.Anthropic(api_key="sk-test", max_retries=0)
    msgs = [{"role": "user", "content": PROMPT}]
    with _calling(
        calls,
        "matrix-anthropic-1",
        False,
        "anthropic",
        "anthropic",
        "claude-sonnet-4-5",
        "chat",
    ) as call:
        resp = client.messages.create(model="claude-sonnet-4-5", max_tokens=256, messages=msgs)
        u = resp.usage
        call["usage"] = {
            "input": u.input_tokens
            + (u.cache_read_input_tokens or 0)
            + (u.cache_creation_input_tokens or 0),
            "output": u.output_tokens,
        }
        call["response_model"] = resp.model
    with _calling(
        calls, "matrix-anthropic-2", True, "anthropic", "anthropic", "claude-haiku-4-5", "chat"
    ) as call:
        with client.messages.stream(model="claude-haiku-4-5", max_tokens=256, messages=msgs) as s:
            final = s.get_final_message()
        call["usage"] = {"input": final.usage.input_tokens, "output": final.usage.output_tokens}


def run_google_genai(calls: list[Call]) -> None:
    from google import genai

    client = genai.Client(api_key="test-key")
    with _calling(
        calls,
        "matrix-gemini-1",
        False,
        "gcp.gemini",
        "google",
        "gemini-2.5-flash",
        "generate_content",
    ) as call:
        resp = client.models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
        m = resp.usage_metadata
        call["usage"] = {
            "input": m.prompt_token_count,
            "output": (m.candidates_token_count or 0) + (m.thoughts_token_count or 0),
            "reasoning": m.thoughts_token_count or 0,
        }
        call["response_model"] = resp.model_version
    with _calling(
        calls,
        "matrix-gemini-2",
        True,
        "gcp.gemini",
        "google",
        "gemini-2.0-flash",
        "generate_content",
    ) as call:
        last = None
        for chunk in client.models.generate_content_stream(
            model="gemini-2.0-flash", contents=PROMPT
        ):
            last = chunk
        m = last.usage_metadata
        call["usage"] = {"input": m.prompt_token_count, "output": m.candidates_token_count}


def run_groq(calls: list[Call]) -> None:
    import groq

    client = groq.Groq(api_key="gsk-test", max_retries=0)
    with _calling(
        calls, "matrix-groq-1", False, "groq", "groq", "openai/gpt-oss-120b", "chat"
    ) as call:
        resp = client.chat.completions.create(
            model="openai/gpt-oss-120b", messages=[{"role": "user", "content": PROMPT}]
        )
        call["usage"] = {"input": resp.usage.prompt_tokens, "output": resp.usage.completion_tokens}
        call["response_model"] = resp.model
    with _calling(
        calls, "matrix-groq-2", True, "groq", "groq", "llama-3.3-70b-versatile", "chat"
    ) as call:
        call["estimated"] = True  # the SDK does not ask for a usage chunk
        for _ in client.chat.completions.create(
            model="llama-3.3-70b-versatile",
            messages=[{"role": "user", "content": PROMPT}],
            stream=True,
        ):
            pass


def run_mistralai(calls: list[Call]) -> None:
    try:
        from mistralai import Mistral
    except ImportError:
        from mistralai.client import Mistral  # type: ignore[no-redef]

    client = Mistral(api_key="test-key")
    with _calling(
        calls,
        "matrix-mistral-1",
        False,
        "mistral_ai",
        "mistral",
        "mistral-small-latest",
        "chat",
    ) as call:
        resp = client.chat.complete(
            model="mistral-small-latest", messages=[{"role": "user", "content": PROMPT}]
        )
        call["usage"] = {"input": resp.usage.prompt_tokens, "output": resp.usage.completion_tokens}
        call["response_model"] = resp.model
    with _calling(
        calls, "matrix-mistral-2", True, "mistral_ai", "mistral", "mistral-small-latest", "chat"
    ) as call:
        call["estimated"] = True  # the mock sends usage only when asked
        for _ in client.chat.stream(
            model="mistral-small-latest", messages=[{"role": "user", "content": PROMPT}]
        ):
            pass


def run_cohere(calls: list[Call]) -> None:
    import cohere

    client = cohere.ClientV2(api_key="test-key")
    with _calling(
        calls, "matrix-cohere-1", False, "cohere", "cohere", "command-a-03-2025", "chat"
    ) as call:
        call["no_response_model"] = True  # Cohere's v2 chat response names no model
        resp = client.chat(
            model="command-a-03-2025", messages=[{"role": "user", "content": PROMPT}]
        )
        b = resp.usage.billed_units
        call["usage"] = {"input": int(b.input_tokens), "output": int(b.output_tokens)}
    with _calling(
        calls, "matrix-cohere-2", True, "cohere", "cohere", "command-r-plus-08-2024", "chat"
    ) as call:
        call["no_response_model"] = True
        usage = None
        for event in client.chat_stream(
            model="command-r-plus-08-2024", messages=[{"role": "user", "content": PROMPT}]
        ):
            if getattr(event, "type", None) == "message-end":
                usage = event.delta.usage.billed_units
        call["usage"] = {"input": int(usage.input_tokens), "output": int(usage.output_tokens)}


def run_litellm(calls: list[Call]) -> None:
    import litellm

    msgs = [{"role": "user", "content": PROMPT}]
    with _calling(
        calls, "matrix-litellm-1", False, "anthropic", "anthropic", "claude-haiku-4-5", "chat"
    ) as call:
        resp = litellm.completion(
            model="anthropic/claude-haiku-4-5", messages=msgs, api_key="sk-test", max_tokens=256
        )
        call["usage"] = {"input": resp.usage.prompt_tokens, "output": resp.usage.completion_tokens}
    with _calling(
        calls,
        "matrix-litellm-2",
        False,
        "mistral_ai",
        "mistral",
        "mistral-small-latest",
        "chat",
    ) as call:
        resp = litellm.completion(
            model="mistral/mistral-small-latest", messages=msgs, api_key="test-key"
        )
        call["usage"] = {"input": resp.usage.prompt_tokens, "output": resp.usage.completion_tokens}


def run_langchain_openai(calls: list[Call]) -> None:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model="gpt-4o-mini", api_key="sk-test", max_retries=0)
    with _calling(
        calls, "matrix-langchain-1", False, "openai", "openai", "gpt-4o-mini", "chat"
    ) as call:
        msg = llm.invoke(PROMPT)
        u = msg.usage_metadata
        call["usage"] = {"input": u["input_tokens"], "output": u["output_tokens"]}
    with _calling(
        calls, "matrix-langchain-2", True, "openai", "openai", "gpt-4o-mini", "chat"
    ) as call:
        agg = None
        for chunk in llm.stream(PROMPT):
            agg = chunk if agg is None else agg + chunk
        u = agg.usage_metadata if agg is not None else None
        if u:
            call["usage"] = {"input": u["input_tokens"], "output": u["output_tokens"]}

    # include_response_headers streams through with_raw_response
    raw = ChatOpenAI(
        model="gpt-4o-mini", api_key="sk-test", max_retries=0, include_response_headers=True
    )
    with _calling(
        calls, "matrix-langchain-3", True, "openai", "openai", "gpt-4o-mini", "chat"
    ) as call:
        agg = None
        for chunk in raw.stream(PROMPT):
            agg = chunk if agg is None else agg + chunk
        u = agg.usage_metadata if agg is not None else None
        if u:
            call["usage"] = {"input": u["input_tokens"], "output": u["output_tokens"]}


PORT = 0


def run_boto3(calls: list[Call]) -> None:
    """boto3 signs with SigV4 and sends through urllib3: it reaches the mock through
    ``endpoint_url``; its GenAI span comes from opentelemetry-instrumentation-botocore."""
    import boto3

    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{PORT}",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
    )
    model = "amazon.nova-lite-v1:0"
    with _calling(calls, "matrix-bedrock-1", False, "aws.bedrock", "aws", model, "chat") as call:
        resp = client.converse(
            modelId=model, messages=[{"role": "user", "content": [{"text": PROMPT}]}]
        )
        call["usage"] = {
            "input": resp["usage"]["inputTokens"],
            "output": resp["usage"]["outputTokens"],
        }
        call["no_response_model"] = True


RUNNERS: dict[str, Callable[[list[Call]], None]] = {
    "boto3": run_boto3,
    "openai": run_openai,
    "anthropic": run_anthropic,
    "google-genai": run_google_genai,
    "groq": run_groq,
    "mistralai": run_mistralai,
    "cohere": run_cohere,
    "litellm": run_litellm,
    "langchain-openai": run_langchain_openai,
}


def main(argv: list[str]) -> int:
    global PORT
    client, port, out = argv[0], int(argv[1]), Path(argv[2])
    PORT = port
    out.mkdir(parents=True, exist_ok=True)
    redirect(port)
    exporter = JsonLinesExporter(out / "spans.jsonl")
    otel_llm.configure(f"matrix-{client}", exporter="none", span_exporter=exporter)
    calls: list[Call] = []
    try:
        RUNNERS[client](calls)
    finally:
        otel_llm.shutdown()
        (out / "calls.jsonl").write_text("".join(json.dumps(c) + "\n" for c in calls))
    return 0


if __name__ == "__main__":
    _ = asyncio  # async clients share the same send wrapper; the matrix drives sync calls
    sys.exit(main(sys.argv[1:]))
