"""Anthropic's Messages API (``/v1/messages``): JSON and its SSE events."""

from __future__ import annotations

from typing import Any

from otel_llm.genai.wire._base import Extractor, Request, Result, body_request, get, read_object


class MessagesFormat:
    name = "anthropic_messages"
    sdk_provider = "anthropic"
    flavor = "default"
    home = "anthropic"
    operation = "chat"

    def request(self, body: Any, path: str) -> Request:
        system = get(body, "system")
        extra = (system,) if system is not None else ()
        return body_request(body, get(body, "messages"), *extra)

    def parse_json(self, data: Any, result: Result, extract: Extractor) -> None:
        if not read_object(data, result, extract, "model", "id"):
            return
        reason = data.get("stop_reason")
        if isinstance(reason, str):
            result.finish_reasons = [reason]

    def on_event(self, event: str | None, data: Any, result: Result, extract: Extractor) -> None:
        kind = get(data, "type") or event
        if kind == "content_block_delta":
            delta = get(data, "delta")
            text = get(delta, "text")
            if not isinstance(text, str):
                text = get(delta, "partial_json")
            if isinstance(text, str):
                result.output_chars += len(text)
        elif kind == "message_start":
            message = get(data, "message")
            self.parse_json(message, result, extract)
            usage = get(message, "usage")
            result.state["usage"] = dict(usage) if isinstance(usage, dict) else {}
        elif kind == "message_delta":
            reason = get(data, "delta", "stop_reason")
            if isinstance(reason, str):
                result.finish_reasons = [reason]
            usage = get(data, "usage")
            if isinstance(usage, dict):
                # cumulative counts: later values replace the start's
                merged = {**result.state.get("usage", {}), **usage}
                result.usage = extract({"usage": merged}) or result.usage


MESSAGES = MessagesFormat()
