"""Google's Gemini API (``:generateContent``, ``:streamGenerateContent``), on
generativelanguage.googleapis.com (``gcp.gemini``) and Vertex AI (``gcp.vertex_ai``).
The model is in the URL path; streams are SSE with ``?alt=sse`` (what google-genai asks
for) and each chunk carries the cumulative ``usageMetadata``.
"""

from __future__ import annotations

from typing import Any

from otel_llm.genai.wire._base import (
    Extractor,
    Request,
    Result,
    get,
    message_estimate,
    read_object,
)


def model_from_path(path: str) -> str | None:
    head = path.rsplit(":", 1)[0]
    marker = "/models/"
    at = head.rfind(marker)
    if at < 0:
        return None
    return head[at + len(marker) :] or None


def _texts(contents: Any) -> list[str]:
    out: list[str] = []
    if isinstance(contents, str):
        return [contents]
    if isinstance(contents, dict):
        contents = [contents]
    for content in contents if isinstance(contents, list) else ():
        for part in get(content, "parts") or ():
            text = get(part, "text")
            if isinstance(text, str):
                out.append(text)
    return out


class GeminiFormat:
    name = "gemini"
    sdk_provider = "gcp.gemini"
    flavor = "default"
    home = "google"
    operation = "generate_content"

    def request(self, body: Any, path: str) -> Request:
        contents = get(body, "contents")
        messages = contents if isinstance(contents, list) else [None]
        texts = _texts(contents) + _texts(get(body, "systemInstruction"))
        return Request(
            model_from_path(path),
            ":streamGenerateContent" in path,
            message_estimate(messages, *texts),
        )

    def parse_json(self, data: Any, result: Result, extract: Extractor) -> None:
        if isinstance(data, list):  # streamGenerateContent without alt=sse: a JSON array
            for item in data:
                self.parse_json(item, result, extract)
            return
        if not read_object(data, result, extract, "modelVersion", "responseId", "usageMetadata"):
            return
        for candidate in data.get("candidates") or ():
            reason = get(candidate, "finishReason")
            if isinstance(reason, str):
                result.finish_reasons.append(reason)

    def on_event(self, event: str | None, data: Any, result: Result, extract: Extractor) -> None:
        self.parse_json(data, result, extract)
        for candidate in get(data, "candidates") or ():
            result.output_chars += sum(len(t) for t in _texts(get(candidate, "content")))


GEMINI = GeminiFormat()
