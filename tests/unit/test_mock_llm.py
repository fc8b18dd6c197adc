"""The mock LLM server: wire formats, deterministic counts, errors, switches."""

from __future__ import annotations

import argparse
import base64
import json
import struct
import time
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from otel_llm.demo.mock_llm import (
    MockLLMConfig,
    add_arguments,
    config_from_args,
    count_tokens,
    create_app,
    serve_in_thread,
)


@pytest.fixture
def http() -> TestClient:
    return TestClient(create_app(MockLLMConfig(seed=3, latency_scale=0, prompt_cache_min_tokens=1)))


def sse(body: str) -> list[tuple[str | None, Any]]:
    """(event name, decoded data) for each server-sent event."""
    out = []
    for block in body.strip().split("\n\n"):
        event = None
        data = None
        for line in block.splitlines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                raw = line[6:]
                data = raw if raw == "[DONE]" else json.loads(raw)
        out.append((event, data))
    return out


def chat(http: TestClient, **body: Any) -> httpx.Response:
    body.setdefault("model", "gpt-4o-mini")
    body.setdefault("messages", [{"role": "user", "content": "Hello, world!"}])
    return http.post("/v1/chat/completions", json=body)


def test_chat_counts_are_deterministic(http: TestClient) -> None:
    first = chat(http).json()
    second = chat(http).json()
    assert first["usage"] == second["usage"]
    assert first["usage"]["prompt_tokens"] == count_tokens("Hello, world!") == 4
    assert first["usage"]["completion_tokens"] == len(
        first["choices"][0]["message"]["content"].split()
    )
    assert first["choices"][0]["finish_reason"] == "stop"
    assert first["id"] != second["id"]


def test_request_id_header(http: TestClient) -> None:
    assert chat(http).headers["x-request-id"].startswith("req_")
    response = http.post(
        "/v1/messages",
        json={
            "model": "claude-haiku-4-5",
            "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi"}],
        },
    )
    assert response.headers["request-id"] == response.headers["x-request-id"]


def test_max_tokens_caps_output(http: TestClient) -> None:
    body = chat(http, max_tokens=3).json()
    assert body["usage"]["completion_tokens"] == 3
    assert body["choices"][0]["finish_reason"] == "length"


def test_reasoning_models_report_reasoning_tokens(http: TestClient) -> None:
    usage = chat(http, model="o3").json()["usage"]
    reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
    assert reasoning > 0
    assert usage["completion_tokens"] > reasoning
    assert (
        chat(http, model="gpt-4o").json()["usage"]["completion_tokens_details"]["reasoning_tokens"]
        == 0
    )


def test_repeated_prefix_is_cached(http: TestClient) -> None:
    messages = [{"role": "system", "content": "A long shared system prompt."}]
    first = chat(http, messages=[*messages, {"role": "user", "content": "one"}]).json()
    second = chat(http, messages=[*messages, {"role": "user", "content": "two"}]).json()
    assert first["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    assert second["usage"]["prompt_tokens_details"]["cached_tokens"] == count_tokens(
        "A long shared system prompt."
    )


def test_cache_share() -> None:
    client = TestClient(create_app(MockLLMConfig(latency_scale=0, cache_share=0.5)))
    usage = chat(client, messages=[{"role": "user", "content": "a b c d e f g h"}]).json()["usage"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 4


def test_chat_stream_usage_chunk_only_when_asked(http: TestClient) -> None:
    plain = sse(chat(http, stream=True).text)
    assert plain[-1] == (None, "[DONE]")
    assert all("usage" not in data for _, data in plain[:-1])
    with_usage = sse(chat(http, stream=True, stream_options={"include_usage": True}).text)
    final = with_usage[-2][1]
    assert final["choices"] == [] and final["usage"]["prompt_tokens"] == 4
    assert all(data["usage"] is None for _, data in with_usage[:-2])
    ignored = http.post(
        "/v1/chat/completions",
        json={
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        headers={"x-mock-ignore-include-usage": "1"},
    )
    assert all(not (isinstance(d, dict) and d.get("usage")) for _, d in sse(ignored.text))


def test_abort_after(http: TestClient) -> None:
    response = http.post(
        "/v1/chat/completions",
        json={
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
        },
        headers={"x-mock-abort-after": "2"},
    )
    events = sse(response.text)
    assert len(events) == 3 and events[-1][1] != "[DONE]"


def test_responses_stream_events(http: TestClient) -> None:
    response = http.post(
        "/v1/responses", json={"model": "o4-mini", "input": "Hello there", "stream": True}
    )
    events = sse(response.text)
    kinds = [name for name, _ in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))
    usage = events[-1][1]["response"]["usage"]
    assert usage["input_tokens"] == 2
    assert usage["output_tokens_details"]["reasoning_tokens"] > 0
    text = "".join(d["delta"] for name, d in events if name == "response.output_text.delta")
    assert text == events[-1][1]["response"]["output"][0]["content"][0]["text"]


def test_embeddings_float_and_base64(http: TestClient) -> None:
    floats = http.post(
        "/v1/embeddings", json={"model": "text-embedding-3-small", "input": ["a b", "c"]}
    ).json()
    assert floats["usage"]["prompt_tokens"] == 3
    assert len(floats["data"]) == 2 and len(floats["data"][0]["embedding"]) == 16
    b64 = http.post(
        "/v1/embeddings",
        json={
            "model": "text-embedding-3-small",
            "input": "a b",
            "encoding_format": "base64",
            "dimensions": 4,
        },
    ).json()
    vector = struct.unpack("<4f", base64.b64decode(b64["data"][0]["embedding"]))
    assert abs(sum(v * v for v in vector) - 1.0) < 1e-5


def test_anthropic_messages_stream_and_cache(http: TestClient) -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "system": [
            {"type": "text", "text": "Cached system prompt", "cache_control": {"type": "ephemeral"}}
        ],
        "messages": [{"role": "user", "content": "Hi"}],
    }
    first = http.post("/v1/messages", json=body).json()["usage"]
    assert first == {
        "input_tokens": 1,
        "cache_creation_input_tokens": 3,
        "cache_read_input_tokens": 0,
        "output_tokens": first["output_tokens"],
        "service_tier": "standard",
    }
    events = sse(http.post("/v1/messages", json={**body, "stream": True}).text)
    kinds = [name for name, _ in events]
    assert kinds[:3] == ["message_start", "content_block_start", "ping"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert events[0][1]["message"]["usage"]["cache_read_input_tokens"] == 3
    assert events[-2][1]["usage"]["output_tokens"] == first["output_tokens"]


def test_error_bodies(http: TestClient) -> None:
    response = chat(http, model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert response.status_code == 200
    err = http.post(
        "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": []},
        headers={"x-mock-error": "429"},
    )
    assert err.status_code == 429
    assert err.json()["error"]["code"] == "rate_limit_exceeded"
    assert err.headers["retry-after"] == "1"
    overloaded = http.post(
        "/v1/messages",
        json={"model": "claude-haiku-4-5", "max_tokens": 5, "messages": []},
        headers={"x-mock-error": "529"},
    )
    assert overloaded.status_code == 529
    assert overloaded.json()["error"]["type"] == "overloaded_error"
    assert http.post("/v1/chat/completions", content=b"not json").status_code == 400


def test_seeded_error_rate_is_reproducible() -> None:
    def statuses(seed: int) -> list[int]:
        client = TestClient(create_app(MockLLMConfig(seed=seed, latency_scale=0, error_rate=0.5)))
        return [chat(client).status_code for _ in range(30)]

    first = statuses(11)
    assert first == statuses(11)
    assert set(first) - {200} <= {429, 500, 503} and 200 in first and len(set(first)) > 1


def test_latency_follows_the_model_median() -> None:
    config = MockLLMConfig(
        seed=1, latency_scale=1.0, latency_sigma=0.0, model_medians_s={"fast": 0.05}
    )
    client = TestClient(create_app(config))
    started = time.perf_counter()
    chat(client, model="fast")
    assert 0.05 <= time.perf_counter() - started < 0.5
    assert config.median_for("fast-v2") == 0.05
    assert config.median_for("unknown") == config.default_median_s


def test_serve_in_thread_and_arguments() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--port", "0", "--latency-scale", "0", "--seed", "5"])
    config = config_from_args(args)
    assert config.seed == 5 and config.latency_scale == 0
    with pytest.raises(ValueError):
        config_from_args(parser.parse_args(["--error-rate", "2"]))
    with serve_in_thread(config) as server:
        assert server.port > 0
        assert httpx.get(f"{server.base_url}/healthz").json() == {"status": "ok"}
