from __future__ import annotations

import pytest

from otel_llm.config import load_settings


def test_defaults_are_safe() -> None:
    s = load_settings({})
    assert s.exporter == "otlp"
    assert s.metrics_port is None
    assert s.attribution_labels == ()
    assert s.stream_include_usage == "auto"
    assert s.capture_content is False
    assert s.metrics_path == "/metrics"


def test_reads_otel_llm_variables() -> None:
    s = load_settings(
        {
            "OTEL_SERVICE_NAME": "svc",
            "OTEL_LLM_EXPORTER": "FILE",
            "OTEL_LLM_TRACES_FILE": "/tmp/x.jsonl",
            "OTEL_LLM_METRICS_PORT": "9464",
            "OTEL_LLM_ATTRIBUTION_LABELS": "user, tenant,,user",
            "OTEL_LLM_ATTRIBUTION_LIMIT": "5",
            "OTEL_LLM_STREAM_INCLUDE_USAGE": "false",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true",
            "OTEL_LLM_LOG_FORMAT": "console",
        }
    )
    assert s.service_name == "svc"
    assert s.exporter == "file"
    assert s.traces_file == "/tmp/x.jsonl"
    assert s.metrics_port == 9464
    assert s.attribution_labels == ("user", "tenant")
    assert s.attribution_limit == 5
    assert s.stream_include_usage is False
    assert s.capture_content is True
    assert s.log_format == "console"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OTEL_LLM_EXPORTER": "kafka"}, "OTEL_LLM_EXPORTER"),
        ({"OTEL_LLM_METRICS_PORT": "ninety"}, "OTEL_LLM_METRICS_PORT"),
        ({"OTEL_LLM_ATTRIBUTION_LIMIT": "0"}, "OTEL_LLM_ATTRIBUTION_LIMIT"),
        ({"OTEL_LLM_LOG_FORMAT": "xml"}, "OTEL_LLM_LOG_FORMAT"),
    ],
)
def test_bad_values_get_a_clear_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_settings(env)


def test_overrides_win() -> None:
    s = load_settings({"OTEL_LLM_EXPORTER": "file"}, exporter="none")
    assert s.exporter == "none"
