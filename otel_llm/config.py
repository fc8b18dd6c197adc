"""Settings read once from the environment into a typed object.

OpenTelemetry's own variables (``OTEL_SERVICE_NAME``, ``OTEL_EXPORTER_OTLP_*``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``...) are honoured by the SDK itself;
this module reads only what otel-llm adds. Every variable is listed in the README.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

ExporterKind = Literal["otlp", "file", "console", "none"]
LogFormat = Literal["json", "console"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    return default


def _include_usage(env: Mapping[str, str]) -> bool | Literal["auto"]:
    raw = env.get("OTEL_LLM_STREAM_INCLUDE_USAGE", "").strip().lower()
    if raw in ("", "auto"):
        return "auto"
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"OTEL_LLM_STREAM_INCLUDE_USAGE must be auto, true or false, got {raw!r}")


def _int(env: Mapping[str, str], name: str, default: int | None) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def _capture_content(env: Mapping[str, str]) -> bool:
    """On for true/1/yes and for the official GenAI modes (span_only, event_only...)."""
    name = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
    raw = env.get(name, "").strip().lower()
    if raw in ("span_only", "event_only", "span_and_event"):
        return True
    if raw == "no_content":
        return False
    return _bool(env, name, False)


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(name, "")
    return tuple(dict.fromkeys(p.strip() for p in raw.split(",") if p.strip()))


@dataclass(frozen=True, slots=True)
class Settings:
    """What otel-llm needs to know; built by :func:`load_settings` or by hand in tests."""

    service_name: str | None = None
    exporter: ExporterKind = "otlp"
    """``OTEL_LLM_EXPORTER``: otlp (default), file (OTLP JSON lines), console or none."""
    traces_file: str = "otel-llm-spans.jsonl"
    """``OTEL_LLM_TRACES_FILE``: where the file exporter writes OTLP JSON lines."""
    metrics_port: int | None = None
    """``OTEL_LLM_METRICS_PORT``: serve /metrics on this port (unset: no extra server)."""
    metrics_path: str = "/metrics"
    """``OTEL_LLM_METRICS_PATH``: path served inside instrumented web apps ("" to disable)."""
    metrics_addr: str = "0.0.0.0"
    """``OTEL_LLM_METRICS_ADDR``: address the metrics server binds to."""
    metrics_port_count: int = 1
    """``OTEL_LLM_METRICS_PORT_COUNT``: consecutive ports from ``metrics_port`` that worker
    processes take one each (default ``WEB_CONCURRENCY`` or 1); see docs/multiprocess.md."""
    attribution_labels: tuple[str, ...] = ()
    """``OTEL_LLM_ATTRIBUTION_LABELS``: opt-in metric labels, e.g. ``user,tenant,route``."""
    attribution_limit: int = 100
    """``OTEL_LLM_ATTRIBUTION_LIMIT``: distinct values per label before folding to other."""
    user_hash_key: str | None = None
    """``OTEL_LLM_USER_HASH_KEY``: pseudonymise user label values with HMAC-SHA256."""
    pricing_file: str | None = None
    """``OTEL_LLM_PRICING_FILE``: local price overrides and custom models (JSON/YAML)."""
    stream_include_usage: bool | Literal["auto"] = "auto"
    """``OTEL_LLM_STREAM_INCLUDE_USAGE``: ask streaming chat calls for a usage chunk:
    ``auto`` (default) only at endpoints known to accept ``stream_options``
    (:data:`otel_llm.genai.openai.ACCEPTS_STREAM_OPTIONS`), ``true`` always, ``false``
    never (streams without usage are then estimated)."""
    capture_content: bool = False
    """``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``: record prompts/completions."""
    log_format: LogFormat = "json"
    """``OTEL_LLM_LOG_FORMAT``: json (default when stderr is not a TTY) or console."""
    log_level: str = "INFO"
    """``OTEL_LLM_LOG_LEVEL``."""
    request_id_header: str = "X-Request-ID"
    """``OTEL_LLM_REQUEST_ID_HEADER``: the request-ID header name."""
    trust_incoming_request_id: bool = True
    """``OTEL_LLM_TRUST_REQUEST_ID``: accept a well-formed incoming ID (else always mint)."""
    max_queue_size: int = 2048
    """``OTEL_BSP_MAX_QUEUE_SIZE``: bounded span queue; what overflows is counted."""
    extra: Mapping[str, str] = field(default_factory=dict)

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def _port_count(env: Mapping[str, str]) -> int:
    count = _int(env, "OTEL_LLM_METRICS_PORT_COUNT", None)
    if count is None:  # uvicorn's and gunicorn's worker count, read leniently: not ours
        raw = env.get("WEB_CONCURRENCY", "").strip()
        return int(raw) if raw.isdigit() and int(raw) > 0 else 1
    if count < 1:
        raise ValueError("OTEL_LLM_METRICS_PORT_COUNT must be a positive integer")
    return count


def load_settings(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Read ``OTEL_LLM_*`` (and the few OTel variables we act on) once; raise on bad values."""
    env = os.environ if env is None else env
    exporter = env.get("OTEL_LLM_EXPORTER", "").strip().lower() or "otlp"
    if exporter not in ("otlp", "file", "console", "none"):
        raise ValueError(f"OTEL_LLM_EXPORTER must be otlp, file, console or none, got {exporter!r}")
    log_format = env.get("OTEL_LLM_LOG_FORMAT", "").strip().lower()
    if not log_format:
        log_format = "console" if sys.stderr.isatty() else "json"
    if log_format not in ("json", "console"):
        raise ValueError(f"OTEL_LLM_LOG_FORMAT must be json or console, got {log_format!r}")
    limit = _int(env, "OTEL_LLM_ATTRIBUTION_LIMIT", 100)
    if limit is None or limit < 1:
        raise ValueError("OTEL_LLM_ATTRIBUTION_LIMIT must be a positive integer")
    settings = Settings(
        service_name=env.get("OTEL_SERVICE_NAME") or None,
        exporter=exporter,  # type: ignore[arg-type]
        traces_file=env.get("OTEL_LLM_TRACES_FILE") or "otel-llm-spans.jsonl",
        metrics_port=_int(env, "OTEL_LLM_METRICS_PORT", None),
        metrics_path=env.get("OTEL_LLM_METRICS_PATH", "/metrics").strip(),
        metrics_addr=env.get("OTEL_LLM_METRICS_ADDR") or "0.0.0.0",
        metrics_port_count=_port_count(env),
        attribution_labels=_list(env, "OTEL_LLM_ATTRIBUTION_LABELS"),
        attribution_limit=limit,
        user_hash_key=env.get("OTEL_LLM_USER_HASH_KEY") or None,
        pricing_file=env.get("OTEL_LLM_PRICING_FILE") or None,
        stream_include_usage=_include_usage(env),
        capture_content=_capture_content(env),
        log_format=log_format,  # type: ignore[arg-type]
        log_level=(env.get("OTEL_LLM_LOG_LEVEL") or "INFO").upper(),
        request_id_header=env.get("OTEL_LLM_REQUEST_ID_HEADER") or "X-Request-ID",
        trust_incoming_request_id=_bool(env, "OTEL_LLM_TRUST_REQUEST_ID", True),
        max_queue_size=_int(env, "OTEL_BSP_MAX_QUEUE_SIZE", 2048) or 2048,
    )
    return settings.with_(**overrides) if overrides else settings
