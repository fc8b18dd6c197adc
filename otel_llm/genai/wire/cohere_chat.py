"""Cohere's v2 chat API (``/v2/chat``): JSON and its typed SSE events."""

from __future__ import annotations

from typing import Any

from otel_llm.genai.wire._base import (
    Extractor,
    Request,
    Result,
    body_request,
    get,
    read_object,
    str_or_none,
)


class CohereChatFormat:
    name = "cohere_chat"
    sdk_provider = "cohere"
    flavor = "default"
    home = "cohere"
    operation = "chat"

    def request(self, body: Any, path: str) -> Request:
        return body_request(body, get(body, "messages"))

    def parse_json(self, data: Any, result: Result, extract: Extractor) -> None:
        if not read_object(data, result, extract, None, "id"):
            return
        reason = data.get("finish_reason")
        if isinstance(reason, str):
            result.finish_reasons = [reason]

    def on_event(self, event: str | None, data: Any, result: Result, extract: Extractor) -> None:
        kind = get(data, "type") or event
        if kind == "message-start":
            result.response_id = str_or_none(get(data, "id")) or result.response_id
        elif kind == "content-delta":
            text = get(data, "delta", "message", "content", "text")
            if isinstance(text, str):
                result.output_chars += len(text)
        elif kind == "message-end":
            self.parse_json(get(data, "delta"), result, extract)


COHERE_CHAT = CohereChatFormat()
