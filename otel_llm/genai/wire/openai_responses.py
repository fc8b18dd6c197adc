"""OpenAI's Responses API (``/responses``): JSON and its typed SSE events."""

from __future__ import annotations

from typing import Any

from otel_llm.genai.wire._base import (
    Extractor,
    Request,
    Result,
    get,
    message_estimate,
    str_or_none,
)


class ResponsesFormat:
    name = "openai_responses"
    sdk_provider = "openai"
    flavor = "responses"
    home = "openai"
    operation = "chat"

    def request(self, body: Any, path: str) -> Request:
        instructions = get(body, "instructions")
        extra = (instructions,) if isinstance(instructions, str) else ()
        return Request(
            str_or_none(get(body, "model")),
            get(body, "stream") is True,
            message_estimate(get(body, "input"), *extra),
        )

    def parse_json(self, data: Any, result: Result, extract: Extractor) -> None:
        if not isinstance(data, dict):
            return
        result.events += 1
        result.model = str_or_none(data.get("model")) or result.model
        result.response_id = str_or_none(data.get("id")) or result.response_id
        status = data.get("status")
        if isinstance(status, str):
            reason = get(data, "incomplete_details", "reason")
            result.finish_reasons = [reason if isinstance(reason, str) else status]
        if isinstance(data.get("usage"), dict):
            result.usage = extract(data) or result.usage

    def on_event(self, event: str | None, data: Any, result: Result, extract: Extractor) -> None:
        kind = get(data, "type") or event
        if kind == "response.output_text.delta":
            delta = get(data, "delta")
            if isinstance(delta, str):
                result.output_chars += len(delta)
        elif kind in ("response.created", "response.in_progress"):
            self.parse_json(get(data, "response"), result, extract)
            result.finish_reasons = []
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            self.parse_json(get(data, "response"), result, extract)


RESPONSES = ResponsesFormat()
