"""OpenAI's chat completions format (``/chat/completions``), also spoken by xAI, Groq,
DeepSeek, Mistral, OpenRouter, Together, Cerebras, Fireworks, Azure OpenAI, vLLM, Ollama
and LiteLLM's proxy; plus legacy ``/completions`` and ``/embeddings``.
"""

from __future__ import annotations

from typing import Any

from otel_llm.genai.wire._base import (
    Extractor,
    Request,
    Result,
    body_request,
    get,
    message_estimate,
    str_or_none,
)


class ChatFormat:
    name = "openai_chat"
    sdk_provider = "openai"
    flavor = "chat"
    home = "openai"

    def __init__(self, operation: str = "chat") -> None:
        self.operation = operation

    def request(self, body: Any, path: str) -> Request:
        key = "prompt" if self.operation == "text_completion" else "messages"
        return body_request(body, get(body, key))

    def parse_json(self, data: Any, result: Result, extract: Extractor) -> None:
        _common(data, result, extract)
        for choice in get(data, "choices") or ():
            reason = get(choice, "finish_reason")
            if isinstance(reason, str):
                result.finish_reasons.append(reason)

    def on_event(self, event: str | None, data: Any, result: Result, extract: Extractor) -> None:
        _common(data, result, extract)
        for choice in get(data, "choices") or ():
            reason = get(choice, "finish_reason")
            if isinstance(reason, str):
                result.finish_reasons.append(reason)
            text = get(choice, "delta", "content")
            if text is None:
                text = get(choice, "text")  # legacy completions
            if isinstance(text, str):
                result.output_chars += len(text)
            for call in get(choice, "delta", "tool_calls") or ():
                arguments = get(call, "function", "arguments")
                if isinstance(arguments, str):
                    result.output_chars += len(arguments)


def _common(data: Any, result: Result, extract: Extractor) -> None:
    if not isinstance(data, dict):
        return
    result.events += 1
    model = str_or_none(data.get("model"))
    if model is not None:
        result.model = model
    rid = str_or_none(data.get("id"))
    if rid is not None and result.response_id is None:
        result.response_id = rid
    usage = data.get("usage")
    if isinstance(usage, dict):
        found = extract(data)
        if found is not None:
            result.usage = found
        cost = usage.get("cost")  # OpenRouter reports its charge
        if isinstance(cost, int | float) and not isinstance(cost, bool) and cost >= 0:
            result.cost = float(cost)


class EmbeddingsFormat:
    name = "openai_embeddings"
    sdk_provider = "openai"
    flavor = "embeddings"
    home = "openai"
    operation = "embeddings"

    def request(self, body: Any, path: str) -> Request:
        return Request(str_or_none(get(body, "model")), False, message_estimate(get(body, "input")))

    def parse_json(self, data: Any, result: Result, extract: Extractor) -> None:
        _common(data, result, extract)
        if result.usage is not None:
            result.usage.output = None  # embeddings produce no output tokens

    def on_event(self, event: str | None, data: Any, result: Result, extract: Extractor) -> None:
        return None


CHAT = ChatFormat("chat")
COMPLETIONS = ChatFormat("text_completion")
EMBEDDINGS = EmbeddingsFormat()
