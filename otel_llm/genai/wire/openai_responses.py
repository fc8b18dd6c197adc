"""OpenAI's Responses API (``/responses``): JSON and its typed SSE events."""

from __future__ import annotations

from typing import Any

from otel_llm.genai.wire._base import Extractor, Request, Result, body_request, get, read_object


class ResponsesFormat:
    name = "openai_responses"
    sdk_provider = "openai"
    flavor = "responses"
    home = "openai"
    operation = "chat"

    def request(self, body: Any, path: str) -> Request:
        instructions = get(body, "instructions")
        extra = (instructions,) if isinstance(instructions, str) else ()
        return body_request(body, get(body, "input"), *extra)

    def parse_json(self, data: Any, result: Result, extract: Extractor) -> None:
        if not read_object(data, result, extract, "model", "id"):
            return
        status = data.get("status")
        if isinstance(status, str):
            reason = get(data, "incomplete_details", "reason")
            result.finish_reasons = [reason if isinstance(reason, str) else status]

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
