"""Writes the wire vectors (one JSON file per case) in this directory.

Expected costs are computed here with genai-prices' own ``calc_price`` at the provider
the endpoint belongs to, never typed by hand. Run from the repository root:

    uv run python spec/vectors/wire/generate.py

Cases added by hand (for example by the Node suite) are files without the
``"generated": true`` marker and are left alone.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from genai_prices import Usage, calc_price

HERE = Path(__file__).parent
PRICED_AT = "2026-11-28T12:00:00Z"
"""The instant every expected cost is computed at (when the vectors were last written,
outside DeepSeek's off-peak hours). Prices can depend on the time of day and change on a
date, and a span is priced at its own start: where genai-prices gives another price at
the span's start than at this instant, the suites check the vector's figure at this
instant and the span's cost against genai-prices at the span's start."""
_PRICED_AT = datetime.fromisoformat(PRICED_AT.replace("Z", "+00:00")).astimezone(UTC)
JSON_HEADERS = {"content-type": "application/json"}
SSE_HEADERS = {"content-type": "text/event-stream"}


def price(provider_id: str, model: str, **usage: int) -> float:
    """genai-prices' price of ``usage`` for ``model`` at ``provider_id`` (USD)."""
    return float(
        calc_price(
            Usage(**usage), model, provider_id=provider_id, genai_request_timestamp=_PRICED_AT
        ).total_price
    )


def sse(*events: Any, done: bool = True, named: bool = False) -> list[str]:
    out = []
    for event in events:
        if named:
            out.append(f"event: {event['type']}\ndata: {json.dumps(event)}")
        else:
            out.append(f"data: {json.dumps(event)}")
    if done:
        out.append("data: [DONE]")
    return out


def case(
    name: str,
    description: str,
    url: str,
    body: Any,
    response: dict[str, Any],
    attributes: dict[str, Any],
    *,
    span_name: str,
    cost_usd: float | None,
    cost_source: str | None = "local",
    absent: list[str] | None = None,
    env: dict[str, str] | None = None,
    request_headers: dict[str, str] | None = None,
    status_error: bool = False,
) -> dict[str, Any]:
    expect: dict[str, Any] = {
        "span_name": span_name,
        "span_kind": "client",
        "attributes": attributes,
    }
    expect["absent"] = absent or []
    expect["cost_usd"] = cost_usd
    expect["cost_source"] = cost_source if cost_usd is not None else None
    if cost_usd is not None and cost_source == "local":
        expect["priced_at"] = PRICED_AT
    expect["status"] = "error" if status_error else "unset"
    out: dict[str, Any] = {"generated": True, "name": name, "description": description}
    out["request"] = {
        "method": "POST",
        "url": url,
        "headers": {**JSON_HEADERS, **(request_headers or {})},
        "body": body,
    }
    out["response"] = response
    if env:
        out["env"] = env
    out["expect"] = expect
    return out


def base(op: str, provider: str, host: str, model: str, port: int = 443) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": op,
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "server.address": host,
        "server.port": port,
    }


def tokens(
    inp: int, out: int, cache_read: int = 0, cache_creation: int = 0, reasoning: int = 0
) -> dict[str, int]:
    attrs = {"gen_ai.usage.input_tokens": inp, "gen_ai.usage.output_tokens": out}
    if cache_read:
        attrs["gen_ai.usage.cache_read.input_tokens"] = cache_read
    if cache_creation:
        attrs["gen_ai.usage.cache_creation.input_tokens"] = cache_creation
    if reasoning:
        attrs["gen_ai.usage.reasoning.output_tokens"] = reasoning
    return attrs


MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Name three prime numbers."},
]


def chat_json(model: str, rid: str, usage: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "chat.completion",
        "created": 1764300000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "2, 3, 5."},
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
        **extra,
    }


def chat_sse(model: str, rid: str, usage: dict[str, Any] | None) -> list[str]:
    chunks: list[dict[str, Any]] = [
        {
            "id": rid,
            "object": "chat.completion.chunk",
            "model": model,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
        },
        {
            "id": rid,
            "object": "chat.completion.chunk",
            "model": model,
            "choices": [{"index": 0, "delta": {"content": "2, 3"}}],
        },
        {
            "id": rid,
            "object": "chat.completion.chunk",
            "model": model,
            "choices": [{"index": 0, "delta": {"content": ", 5."}}],
        },
        {
            "id": rid,
            "object": "chat.completion.chunk",
            "model": model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        },
    ]
    if usage is not None:
        chunks.append(
            {
                "id": rid,
                "object": "chat.completion.chunk",
                "model": model,
                "choices": [],
                "usage": usage,
            }
        )
    return sse(*chunks)


def openai_compatible(
    name: str,
    host: str,
    provider: str,
    pid: str,
    model: str,
    response_model: str | None = None,
    description: str = "",
    cache_read: int = 0,
    reasoning_outside: int = 0,
) -> dict[str, Any]:
    """A chat completion at an OpenAI-compatible endpoint (1200 in, 40 out)."""
    usage: dict[str, Any] = {"prompt_tokens": 1200, "completion_tokens": 40, "total_tokens": 1240}
    out = 40
    if cache_read:
        usage["prompt_tokens_details"] = {"cached_tokens": cache_read}
    if reasoning_outside:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning_outside}
        out += reasoning_outside
        usage["total_tokens"] += reasoning_outside
    rmodel = response_model or model
    attrs = (
        base("chat", provider, host, model)
        | {
            "gen_ai.response.model": rmodel,
            "gen_ai.response.id": f"chatcmpl-{name}",
            "gen_ai.response.finish_reasons": ["stop"],
        }
        | tokens(1200, out, cache_read=cache_read, reasoning=reasoning_outside)
    )
    cost = price(
        pid,
        rmodel,
        input_tokens=1200,
        output_tokens=out,
        cache_read_tokens=cache_read,
        output_reasoning_tokens=reasoning_outside,
    )
    return case(
        name,
        description or f"openai chat format at {host}: provider {provider}, priced at {pid}",
        f"https://{host}/v1/chat/completions"
        if host != "api.groq.com"
        else "https://api.groq.com/openai/v1/chat/completions",
        {"model": model, "messages": MESSAGES},
        {
            "status": 200,
            "headers": {**JSON_HEADERS, "x-request-id": f"req-{name}"},
            "body": chat_json(rmodel, f"chatcmpl-{name}", usage),
        },
        attrs | {"otel_llm.provider.request_id": f"req-{name}"},
        span_name=f"chat {model}",
        cost_usd=cost,
        absent=["otel_llm.usage.estimated", "otel_llm.provider.unresolved"],
    )


def cases() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    out.append(
        openai_compatible(
            "openai_chat_json",
            "api.openai.com",
            "openai",
            "openai",
            "gpt-4o-mini",
            response_model="gpt-4o-mini-2024-07-18",
            cache_read=1024,
            description="OpenAI chat completion, JSON, cached prompt tokens, x-request-id",
        )
    )
    out.append(
        openai_compatible(
            "xai_chat_json",
            "api.x.ai",
            "x_ai",
            "x-ai",
            "grok-4",
            reasoning_outside=300,
            description="xAI leaves reasoning tokens out of completion_tokens (40 visible + 300 "
            "reasoning): output_tokens is 340, as genai-prices' extract_usage reads it",
        )
    )
    out.append(
        openai_compatible("groq_chat_json", "api.groq.com", "groq", "groq", "openai/gpt-oss-120b")
    )
    out.append(
        openai_compatible(
            "deepseek_chat_json",
            "api.deepseek.com",
            "deepseek",
            "deepseek",
            "deepseek-chat",
            cache_read=600,
        )
    )
    out.append(
        openai_compatible(
            "mistral_chat_json", "api.mistral.ai", "mistral_ai", "mistral", "mistral-small-latest"
        )
    )
    out.append(
        openai_compatible(
            "together_chat_json",
            "api.together.xyz",
            "together",
            "together",
            "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        )
    )
    out.append(
        openai_compatible(
            "cerebras_chat_json",
            "api.cerebras.ai",
            "cerebras",
            "cerebras",
            "gpt-oss-120b",
            description="gpt-oss-120b at Cerebras is priced at Cerebras' rate, not OpenAI's",
        )
    )

    # OpenAI chat, SSE with the usage chunk
    usage = {
        "prompt_tokens": 1500,
        "completion_tokens": 200,
        "total_tokens": 1700,
        "prompt_tokens_details": {"cached_tokens": 1024},
        "completion_tokens_details": {"reasoning_tokens": 64},
    }
    out.append(
        case(
            "openai_chat_sse_usage",
            "OpenAI chat completion streamed with the usage chunk",
            "https://api.openai.com/v1/chat/completions",
            {
                "model": "gpt-5-mini",
                "messages": MESSAGES,
                "stream": True,
                "stream_options": {"include_usage": True},
            },
            {
                "status": 200,
                "headers": {**SSE_HEADERS, "x-request-id": "req-sse"},
                "sse": chat_sse("gpt-5-mini-2025-08-07", "chatcmpl-sse", usage),
            },
            base("chat", "openai", "api.openai.com", "gpt-5-mini")
            | {
                "gen_ai.request.stream": True,
                "gen_ai.response.model": "gpt-5-mini-2025-08-07",
                "gen_ai.response.id": "chatcmpl-sse",
                "gen_ai.response.finish_reasons": ["stop"],
                "otel_llm.provider.request_id": "req-sse",
            }
            | tokens(1500, 200, cache_read=1024, reasoning=64),
            span_name="chat gpt-5-mini",
            cost_usd=price(
                "openai",
                "gpt-5-mini-2025-08-07",
                input_tokens=1500,
                output_tokens=200,
                cache_read_tokens=1024,
                output_reasoning_tokens=64,
            ),
            absent=["otel_llm.usage.estimated"],
        )
    )

    # stream without a usage chunk: estimated
    messages_chars = sum(len(m["content"]) for m in MESSAGES)  # 14 + 25 = 39
    est_in = -(-messages_chars // 4) + 3 * len(MESSAGES) + 3  # ceil(39/4)=10 + 6 + 3 = 19
    est_out = -(-len("2, 3, 5.") // 4)  # 8 chars -> 2
    out.append(
        case(
            "openai_chat_sse_no_usage",
            "a stream without a usage chunk: tokens estimated (input ceil(chars/4) + 3 per message "
            "+ 3; output ceil(streamed chars/4)), otel_llm.usage.estimated=true, still priced",
            "https://api.openai.com/v1/chat/completions",
            {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True},
            {
                "status": 200,
                "headers": SSE_HEADERS,
                "sse": chat_sse("gpt-4o-mini-2024-07-18", "chatcmpl-nousage", None),
            },
            base("chat", "openai", "api.openai.com", "gpt-4o-mini")
            | {
                "gen_ai.request.stream": True,
                "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                "gen_ai.response.finish_reasons": ["stop"],
                "otel_llm.usage.estimated": True,
            }
            | tokens(est_in, est_out),
            span_name="chat gpt-4o-mini",
            cost_usd=price(
                "openai", "gpt-4o-mini-2024-07-18", input_tokens=est_in, output_tokens=est_out
            ),
            absent=["otel_llm.usage.missing", "otel_llm.wire.error"],
        )
    )

    # OpenRouter: provider-reported cost
    usage = {
        "prompt_tokens": 1200,
        "completion_tokens": 40,
        "total_tokens": 1240,
        "cost": 0.00462,
        "is_byok": False,
    }
    out.append(
        case(
            "openrouter_chat_cost",
            "OpenRouter reports its charge in usage.cost: the span carries it with "
            "gen_ai.usage.cost.source=provider (not recomputed)",
            "https://openrouter.ai/api/v1/chat/completions",
            {"model": "anthropic/claude-sonnet-4.5", "messages": MESSAGES},
            {
                "status": 200,
                "headers": JSON_HEADERS,
                "body": chat_json("anthropic/claude-sonnet-4.5", "gen-or-1", usage),
            },
            base("chat", "openrouter", "openrouter.ai", "anthropic/claude-sonnet-4.5")
            | {
                "gen_ai.response.model": "anthropic/claude-sonnet-4.5",
                "gen_ai.response.id": "gen-or-1",
                "gen_ai.usage.cost.currency": "USD",
            }
            | tokens(1200, 40),
            span_name="chat anthropic/claude-sonnet-4.5",
            cost_usd=0.00462,
            cost_source="provider",
        )
    )

    # Azure OpenAI: the deployment name is no model
    usage = {"prompt_tokens": 800, "completion_tokens": 60, "total_tokens": 860}
    out.append(
        case(
            "azure_chat_deployment",
            "Azure OpenAI: the URL names a deployment; the request and response model become the "
            "model the response names, the deployment is kept in otel_llm.azure.deployment",
            "https://contoso.openai.azure.com/openai/deployments/prod-chat/chat/completions"
            "?api-version=2024-10-21",
            {"messages": MESSAGES},
            {
                "status": 200,
                "headers": JSON_HEADERS,
                "body": chat_json("gpt-4o-2024-08-06", "chatcmpl-az", usage),
            },
            base("chat", "azure.ai.openai", "contoso.openai.azure.com", "gpt-4o-2024-08-06")
            | {
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "otel_llm.azure.deployment": "prod-chat",
            }
            | tokens(800, 60),
            span_name="chat gpt-4o-2024-08-06",
            cost_usd=price("azure", "gpt-4o-2024-08-06", input_tokens=800, output_tokens=60),
        )
    )

    # Responses API
    resp_usage = {
        "input_tokens": 2000,
        "input_tokens_details": {"cached_tokens": 1500},
        "output_tokens": 300,
        "output_tokens_details": {"reasoning_tokens": 120},
        "total_tokens": 2300,
    }
    response_obj = {
        "id": "resp_1",
        "object": "response",
        "status": "completed",
        "model": "gpt-5-2025-08-07",
        "output": [
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Done."}],
            }
        ],
        "usage": resp_usage,
    }
    resp_attrs = (
        base("chat", "openai", "api.openai.com", "gpt-5")
        | {
            "gen_ai.response.model": "gpt-5-2025-08-07",
            "gen_ai.response.id": "resp_1",
            "gen_ai.response.finish_reasons": ["completed"],
        }
        | tokens(2000, 300, cache_read=1500, reasoning=120)
    )
    resp_cost = price(
        "openai",
        "gpt-5-2025-08-07",
        input_tokens=2000,
        output_tokens=300,
        cache_read_tokens=1500,
        output_reasoning_tokens=120,
    )
    out.append(
        case(
            "openai_responses_json",
            "OpenAI Responses API, JSON",
            "https://api.openai.com/v1/responses",
            {"model": "gpt-5", "input": "Summarise the ticket."},
            {"status": 200, "headers": JSON_HEADERS, "body": response_obj},
            resp_attrs,
            span_name="chat gpt-5",
            cost_usd=resp_cost,
        )
    )
    in_progress = {**response_obj, "status": "in_progress", "usage": None, "output": []}
    out.append(
        case(
            "openai_responses_sse",
            "OpenAI Responses API, streamed (typed SSE events)",
            "https://api.openai.com/v1/responses",
            {"model": "gpt-5", "input": "Summarise the ticket.", "stream": True},
            {
                "status": 200,
                "headers": SSE_HEADERS,
                "sse": sse(
                    {"type": "response.created", "sequence_number": 0, "response": in_progress},
                    {
                        "type": "response.output_text.delta",
                        "sequence_number": 1,
                        "item_id": "msg_1",
                        "output_index": 0,
                        "content_index": 0,
                        "delta": "Done.",
                    },
                    {"type": "response.completed", "sequence_number": 2, "response": response_obj},
                    done=False,
                    named=True,
                ),
            },
            resp_attrs | {"gen_ai.request.stream": True},
            span_name="chat gpt-5",
            cost_usd=resp_cost,
        )
    )

    # embeddings
    out.append(
        case(
            "openai_embeddings_json",
            "OpenAI embeddings: input tokens only",
            "https://api.openai.com/v1/embeddings",
            {"model": "text-embedding-3-small", "input": ["alpha", "beta"]},
            {
                "status": 200,
                "headers": JSON_HEADERS,
                "body": {
                    "object": "list",
                    "model": "text-embedding-3-small",
                    "data": [
                        {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]},
                        {"object": "embedding", "index": 1, "embedding": [0.3, 0.4]},
                    ],
                    "usage": {"prompt_tokens": 12, "total_tokens": 12},
                },
            },
            base("embeddings", "openai", "api.openai.com", "text-embedding-3-small")
            | {
                "gen_ai.response.model": "text-embedding-3-small",
                "gen_ai.usage.input_tokens": 12,
            },
            span_name="embeddings text-embedding-3-small",
            cost_usd=price("openai", "text-embedding-3-small", input_tokens=12),
            absent=["gen_ai.usage.output_tokens"],
        )
    )

    # legacy completions
    out.append(
        case(
            "openai_completions_json",
            "legacy /v1/completions: operation text_completion",
            "https://api.openai.com/v1/completions",
            {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi"},
            {
                "status": 200,
                "headers": JSON_HEADERS,
                "body": {
                    "id": "cmpl-1",
                    "object": "text_completion",
                    "model": "gpt-3.5-turbo-instruct",
                    "choices": [{"index": 0, "text": "Hi", "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
                },
            },
            base("text_completion", "openai", "api.openai.com", "gpt-3.5-turbo-instruct")
            | {
                "gen_ai.response.id": "cmpl-1",
                "gen_ai.response.finish_reasons": ["stop"],
            }
            | tokens(3, 1),
            span_name="text_completion gpt-3.5-turbo-instruct",
            cost_usd=price("openai", "gpt-3.5-turbo-instruct", input_tokens=3, output_tokens=1),
        )
    )

    # Anthropic messages
    a_usage = {
        "input_tokens": 100,
        "output_tokens": 250,
        "cache_read_input_tokens": 3000,
        "cache_creation_input_tokens": 500,
    }
    a_in = 100 + 3000 + 500
    a_attrs = (
        base("chat", "anthropic", "api.anthropic.com", "claude-sonnet-4-5")
        | {
            "gen_ai.response.model": "claude-sonnet-4-5-20250929",
            "gen_ai.response.id": "msg_01",
            "gen_ai.response.finish_reasons": ["end_turn"],
        }
        | tokens(a_in, 250, cache_read=3000, cache_creation=500)
    )
    a_cost = price(
        "anthropic",
        "claude-sonnet-4-5-20250929",
        input_tokens=a_in,
        output_tokens=250,
        cache_read_tokens=3000,
        cache_write_tokens=500,
    )
    a_body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 512,
        "system": "You are terse.",
        "messages": [{"role": "user", "content": "Name three prime numbers."}],
    }
    out.append(
        case(
            "anthropic_messages_json",
            "Anthropic messages: input_tokens excludes the cache, the span's input includes it",
            "https://api.anthropic.com/v1/messages",
            a_body,
            {
                "status": 200,
                "headers": {**JSON_HEADERS, "request-id": "req_a1"},
                "body": {
                    "id": "msg_01",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-sonnet-4-5-20250929",
                    "content": [{"type": "text", "text": "2, 3, 5."}],
                    "stop_reason": "end_turn",
                    "usage": a_usage,
                },
            },
            a_attrs | {"otel_llm.provider.request_id": "req_a1"},
            span_name="chat claude-sonnet-4-5",
            cost_usd=a_cost,
        )
    )
    start_usage = {
        "input_tokens": 100,
        "output_tokens": 1,
        "cache_read_input_tokens": 3000,
        "cache_creation_input_tokens": 500,
    }
    out.append(
        case(
            "anthropic_messages_sse",
            "Anthropic messages streamed: usage from message_start, output from message_delta",
            "https://api.anthropic.com/v1/messages",
            {**a_body, "stream": True},
            {
                "status": 200,
                "headers": SSE_HEADERS,
                "sse": sse(
                    {
                        "type": "message_start",
                        "message": {
                            "id": "msg_01",
                            "type": "message",
                            "role": "assistant",
                            "model": "claude-sonnet-4-5-20250929",
                            "content": [],
                            "stop_reason": None,
                            "usage": start_usage,
                        },
                    },
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "text", "text": ""},
                    },
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": "2, 3, 5."},
                    },
                    {"type": "content_block_stop", "index": 0},
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": "end_turn"},
                        "usage": {"output_tokens": 250},
                    },
                    {"type": "message_stop"},
                    done=False,
                    named=True,
                ),
            },
            a_attrs | {"gen_ai.request.stream": True},
            span_name="chat claude-sonnet-4-5",
            cost_usd=a_cost,
        )
    )

    # Gemini
    g_meta = {
        "promptTokenCount": 1000,
        "candidatesTokenCount": 80,
        "thoughtsTokenCount": 220,
        "cachedContentTokenCount": 400,
        "totalTokenCount": 1300,
    }
    g_body = {"contents": [{"role": "user", "parts": [{"text": "Name three prime numbers."}]}]}

    def g_resp(text: str, meta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        cand: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
        if finish:
            cand["finishReason"] = finish
        return {
            "candidates": [cand],
            "usageMetadata": meta,
            "modelVersion": "gemini-2.5-flash",
            "responseId": "g-resp-1",
        }

    def g_attrs(provider: str, host: str) -> dict[str, Any]:
        return (
            base("generate_content", provider, host, "gemini-2.5-flash")
            | {
                "gen_ai.response.model": "gemini-2.5-flash",
                "gen_ai.response.id": "g-resp-1",
                "gen_ai.response.finish_reasons": ["STOP"],
            }
            | tokens(1000, 300, cache_read=400, reasoning=220)
        )

    g_cost = price(
        "google",
        "gemini-2.5-flash",
        input_tokens=1000,
        output_tokens=300,
        cache_read_tokens=400,
        output_reasoning_tokens=220,
    )
    out.append(
        case(
            "gemini_generate_json",
            "Gemini generateContent: model from the URL; output = candidates + thoughts",
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent",
            g_body,
            {"status": 200, "headers": JSON_HEADERS, "body": g_resp("2, 3, 5.", g_meta, "STOP")},
            g_attrs("gcp.gemini", "generativelanguage.googleapis.com"),
            span_name="generate_content gemini-2.5-flash",
            cost_usd=g_cost,
        )
    )
    partial = {"promptTokenCount": 1000, "candidatesTokenCount": 3, "totalTokenCount": 1003}
    out.append(
        case(
            "gemini_stream_sse",
            "Gemini streamGenerateContent?alt=sse: each chunk's usageMetadata is cumulative; "
            "the last one counts",
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash"
            ":streamGenerateContent?alt=sse",
            g_body,
            {
                "status": 200,
                "headers": SSE_HEADERS,
                "sse": sse(
                    g_resp("2, 3", partial, None), g_resp(", 5.", g_meta, "STOP"), done=False
                ),
            },
            g_attrs("gcp.gemini", "generativelanguage.googleapis.com")
            | {"gen_ai.request.stream": True},
            span_name="generate_content gemini-2.5-flash",
            cost_usd=g_cost,
        )
    )
    out.append(
        case(
            "vertex_generate_json",
            "Gemini on Vertex AI (regional aiplatform host): provider gcp.vertex_ai",
            "https://us-central1-aiplatform.googleapis.com/v1/projects/demo/locations/us-central1/"
            "publishers/google/models/gemini-2.5-flash:generateContent",
            g_body,
            {"status": 200, "headers": JSON_HEADERS, "body": g_resp("2, 3, 5.", g_meta, "STOP")},
            g_attrs("gcp.vertex_ai", "us-central1-aiplatform.googleapis.com"),
            span_name="generate_content gemini-2.5-flash",
            cost_usd=g_cost,
        )
    )

    # Cohere v2 chat
    out.append(
        case(
            "cohere_chat_json",
            "Cohere v2 chat: billed units are the usage",
            "https://api.cohere.com/v2/chat",
            {"model": "command-a-03-2025", "messages": MESSAGES},
            {
                "status": 200,
                "headers": JSON_HEADERS,
                "body": {
                    "id": "co-1",
                    "finish_reason": "COMPLETE",
                    "message": {
                        "role": "assistant",
                        "content": [{"type": "text", "text": "2, 3, 5."}],
                    },
                    "usage": {
                        "billed_units": {"input_tokens": 30, "output_tokens": 8},
                        "tokens": {"input_tokens": 230, "output_tokens": 8},
                    },
                },
            },
            base("chat", "cohere", "api.cohere.com", "command-a-03-2025")
            | {
                "gen_ai.response.id": "co-1",
                "gen_ai.response.finish_reasons": ["COMPLETE"],
            }
            | tokens(30, 8),
            span_name="chat command-a-03-2025",
            cost_usd=price("cohere", "command-a-03-2025", input_tokens=30, output_tokens=8),
        )
    )

    # hosts genai-prices does not know
    usage = {"prompt_tokens": 500, "completion_tokens": 50, "total_tokens": 550}
    out.append(
        case(
            "mapped_gateway_host",
            "an LLM gateway mapped by OTEL_LLM_PROVIDER_HOSTS: provider and price of the mapping",
            "https://llm-gateway.internal/v1/chat/completions",
            {"model": "gpt-4o-mini", "messages": MESSAGES},
            {
                "status": 200,
                "headers": JSON_HEADERS,
                "body": chat_json("gpt-4o-mini", "chatcmpl-gw", usage),
            },
            base("chat", "openai", "llm-gateway.internal", "gpt-4o-mini") | tokens(500, 50),
            span_name="chat gpt-4o-mini",
            cost_usd=price("openai", "gpt-4o-mini", input_tokens=500, output_tokens=50),
            env={"OTEL_LLM_PROVIDER_HOSTS": "llm-gateway.internal=openai,localhost:11434=ollama"},
            absent=["otel_llm.provider.unresolved"],
        )
    )
    out.append(
        case(
            "mapped_gateway_older_spelling",
            "a gateway mapped with an older gen_ai.system spelling (xai): that name, priced "
            "at the provider it stands for (x-ai)",
            "https://grok-proxy.internal/v1/chat/completions",
            {"model": "grok-4", "messages": MESSAGES},
            {
                "status": 200,
                "headers": JSON_HEADERS,
                "body": chat_json("grok-4", "chatcmpl-xg", usage),
            },
            base("chat", "xai", "grok-proxy.internal", "grok-4") | tokens(500, 50),
            span_name="chat grok-4",
            cost_usd=price("x-ai", "grok-4", input_tokens=500, output_tokens=50),
            env={"OTEL_LLM_PROVIDER_HOSTS": "grok-proxy.internal=xai"},
            absent=["otel_llm.provider.unresolved"],
        )
    )
    out.append(
        case(
            "mapped_local_model_server",
            "a local model server mapped to a provider genai-prices does not know: unpriced",
            "http://localhost:11434/v1/chat/completions",
            {"model": "llama3.2", "messages": MESSAGES},
            {
                "status": 200,
                "headers": JSON_HEADERS,
                "body": chat_json("llama3.2", "chatcmpl-ol", usage),
            },
            base("chat", "ollama", "localhost", "llama3.2", port=11434)
            | tokens(500, 50)
            | {"otel_llm.cost.unpriced": True},
            span_name="chat llama3.2",
            cost_usd=None,
            env={"OTEL_LLM_PROVIDER_HOSTS": "llm-gateway.internal=openai,localhost:11434=ollama"},
            absent=["gen_ai.usage.cost.amount"],
        )
    )
    out.append(
        case(
            "unmapped_unknown_host",
            "a host no provider pattern or mapping knows: the client family's name, marked "
            "otel_llm.provider.unresolved, priced only by the pricing file (unpriced here)",
            "https://llm.example.net/v1/chat/completions",
            {"model": "gpt-4o-mini", "messages": MESSAGES},
            {
                "status": 200,
                "headers": JSON_HEADERS,
                "body": chat_json("gpt-4o-mini", "chatcmpl-unk", usage),
            },
            base("chat", "openai", "llm.example.net", "gpt-4o-mini")
            | tokens(500, 50)
            | {"otel_llm.provider.unresolved": True, "otel_llm.cost.unpriced": True},
            span_name="chat gpt-4o-mini",
            cost_usd=None,
            absent=["gen_ai.usage.cost.amount"],
        )
    )
    out.append(
        case(
            "loopback_host",
            "a loopback host (a local stand-in such as the mock LLM) keeps the client family's "
            "provider and is priced as it",
            "http://127.0.0.1:8100/v1/chat/completions",
            {"model": "gpt-4o-mini", "messages": MESSAGES},
            {
                "status": 200,
                "headers": JSON_HEADERS,
                "body": chat_json("gpt-4o-mini", "chatcmpl-lo", usage),
            },
            base("chat", "openai", "127.0.0.1", "gpt-4o-mini", port=8100) | tokens(500, 50),
            span_name="chat gpt-4o-mini",
            cost_usd=price("openai", "gpt-4o-mini", input_tokens=500, output_tokens=50),
            absent=["otel_llm.provider.unresolved"],
        )
    )

    # bad input
    out.append(
        case(
            "bad_truncated_json",
            "a 200 whose JSON body is cut off: the caller gets the bytes unchanged; the span has "
            "otel_llm.usage.missing and otel_llm.wire.error=not_json; unpriced; counted",
            "https://api.openai.com/v1/chat/completions",
            {"model": "gpt-4o-mini", "messages": MESSAGES},
            {
                "status": 200,
                "headers": JSON_HEADERS,
                "body_text": '{"id": "chatcmpl-cut", "model": "gpt-4o-mini", "choi',
            },
            base("chat", "openai", "api.openai.com", "gpt-4o-mini")
            | {
                "otel_llm.usage.missing": True,
                "otel_llm.wire.error": "not_json",
                "otel_llm.cost.unpriced": True,
            },
            span_name="chat gpt-4o-mini",
            cost_usd=None,
            absent=["gen_ai.usage.input_tokens", "gen_ai.usage.cost.amount"],
        )
    )
    out.append(
        case(
            "bad_html_error_page",
            "a proxy's HTML error page (502): error.type is the status code, span status error",
            "https://api.openai.com/v1/chat/completions",
            {"model": "gpt-4o-mini", "messages": MESSAGES},
            {
                "status": 502,
                "headers": {"content-type": "text/html"},
                "body_text": "<html><body><h1>502 Bad Gateway</h1></body></html>",
            },
            base("chat", "openai", "api.openai.com", "gpt-4o-mini") | {"error.type": "502"},
            span_name="chat gpt-4o-mini",
            cost_usd=None,
            status_error=True,
            absent=[
                "gen_ai.usage.input_tokens",
                "gen_ai.usage.cost.amount",
                "otel_llm.cost.unpriced",
            ],
        )
    )
    events = chat_sse("gpt-4o-mini-2024-07-18", "chatcmpl-trunc", None)[:3]
    out.append(
        case(
            "bad_truncated_stream",
            "a stream cut off mid-event (no finish, no usage, no [DONE]): estimated from what "
            "arrived, otel_llm.wire.error=truncated, still priced",
            "https://api.openai.com/v1/chat/completions",
            {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True},
            {
                "status": 200,
                "headers": SSE_HEADERS,
                "sse": events,
                "sse_tail": 'data: {"id": "chatcmpl-trunc", "choi',
            },
            base("chat", "openai", "api.openai.com", "gpt-4o-mini")
            | {
                "gen_ai.request.stream": True,
                "otel_llm.usage.estimated": True,
                "otel_llm.wire.error": "truncated",
                "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            }
            | tokens(est_in, est_out),
            span_name="chat gpt-4o-mini",
            cost_usd=price(
                "openai", "gpt-4o-mini-2024-07-18", input_tokens=est_in, output_tokens=est_out
            ),
        )
    )
    return out


def main() -> None:
    for old in HERE.glob("*.json"):
        if json.loads(old.read_text()).get("generated"):
            old.unlink()
    for item in cases():
        path = HERE / f"{item['name']}.json"
        path.write_text(json.dumps(item, indent=2) + "\n")
    print(f"wrote {len(cases())} cases to {HERE}")


if __name__ == "__main__":
    main()
