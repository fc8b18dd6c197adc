"""GenAIMetrics: contract names and buckets, bounded and sanitised labels, pseudonyms."""

from __future__ import annotations

import hashlib
import hmac
import threading

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from otel_llm import semconv
from otel_llm.config import Settings
from otel_llm.metrics import (
    INSTRUMENTS,
    OTHER,
    GenAIMetrics,
    LabelFolder,
    pseudonymize,
    sanitize_label_value,
)

EXEMPLAR = {"trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331"}


def _record(m: GenAIMetrics, **overrides) -> None:
    kwargs = {
        "operation": "chat",
        "provider": "openai",
        "request_model": "gpt-4o-mini",
        "response_model": "gpt-4o-mini-2024-07-18",
        "error_type": None,
        "duration_s": 0.3,
        "tokens": [("input", 100), ("output", 20)],
        "cost_usd": 0.001,
    }
    kwargs.update(overrides)
    m.record_operation(**kwargs)


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def test_exposition_shows_exactly_the_contract_names() -> None:
    m = GenAIMetrics(Settings())
    _record(m, ttfc_s=0.05)
    m.record_unpriced("openai", "x")
    m.record_processor_error("on_end", "KeyError")
    m.record_dropped("queue_full")
    text = generate_latest(m.registry).decode()
    types = {
        line.split()[2]: line.split()[3] for line in text.splitlines() if line.startswith("# TYPE")
    }
    assert types[semconv.METRIC_DURATION] == "histogram"
    assert types[semconv.METRIC_TOKEN_USAGE] == "histogram"
    assert types[semconv.METRIC_TTFC] == "histogram"
    assert types[semconv.METRIC_COST] == "counter"
    assert types[semconv.METRIC_UNPRICED] == "counter"
    assert types[semconv.METRIC_PROCESSOR_ERRORS] == "counter"
    assert types[semconv.METRIC_SPANS_DROPPED] == "counter"
    assert f"{semconv.METRIC_COST}{{" in text  # the counter sample is named ..._usd_total
    assert f"{semconv.METRIC_UNPRICED}{{" in text
    assert f"{semconv.METRIC_DURATION}_bucket{{" in text
    assert "gen_ai_client_token_usage_token" not in text  # no unit suffix appended


def test_label_sets_are_the_contract_ones() -> None:
    m = GenAIMetrics(Settings(attribution_labels=("user", "tenant")))
    _record(m, ttfc_s=0.1, attribution=["u1", "t1"])
    m.record_unpriced("openai", "x")
    base = {
        "gen_ai_operation_name",
        "gen_ai_provider_name",
        "gen_ai_request_model",
        "gen_ai_response_model",
    }
    seen: dict[str, set[str]] = {}
    for (name, labels), _ in _samples(m.registry).items():
        seen.setdefault(name, set(dict(labels)) - {"le"})
    assert seen[semconv.METRIC_DURATION + "_count"] == base | {"error_type"}
    assert seen[semconv.METRIC_TTFC + "_count"] == base | {"error_type"}
    assert seen[semconv.METRIC_TOKEN_USAGE + "_count"] == base | {"gen_ai_token_type"}
    assert seen[semconv.METRIC_COST] == {
        "gen_ai_operation_name",
        "gen_ai_provider_name",
        "gen_ai_request_model",
        "user",
        "tenant",
    }
    assert seen[semconv.METRIC_UNPRICED] == {"gen_ai_provider_name", "gen_ai_request_model"}


def test_buckets_exactly_as_the_contract() -> None:
    m = GenAIMetrics(Settings())
    _record(m, ttfc_s=0.1)

    def bounds(name: str) -> list[float]:
        return [
            float(dict(labels)["le"])
            for (n, labels), _ in _samples(m.registry).items()
            if n == name + "_bucket" and dict(labels).get("gen_ai_token_type", "input") == "input"
        ]

    duration = [0.01 * 2**i for i in range(14)]
    assert bounds(semconv.METRIC_DURATION) == pytest.approx([*duration, float("inf")])
    assert bounds(semconv.METRIC_TTFC) == pytest.approx([*duration, float("inf")])
    assert duration[-1] == pytest.approx(81.92)
    tokens = [float(4**i) for i in range(14)]
    assert bounds(semconv.METRIC_TOKEN_USAGE) == [*tokens, float("inf")]
    assert tokens[-1] == 67108864


def test_instrument_table_is_the_single_declaration() -> None:
    assert [i.name for i in INSTRUMENTS] == [
        semconv.METRIC_DURATION,
        semconv.METRIC_TOKEN_USAGE,
        semconv.METRIC_TTFC,
        semconv.METRIC_COST,
        semconv.METRIC_UNPRICED,
        semconv.METRIC_PROCESSOR_ERRORS,
        semconv.METRIC_SPANS_DROPPED,
    ]


def test_dedicated_registry_not_the_global_one() -> None:
    from prometheus_client import REGISTRY

    m = GenAIMetrics(Settings())
    assert m.registry is not REGISTRY
    reg = CollectorRegistry()
    assert GenAIMetrics(Settings(), registry=reg).registry is reg


def test_missing_labels_are_empty_and_errors_labelled() -> None:
    m = GenAIMetrics(Settings(attribution_labels=("user",)))
    _record(m, response_model=None, error_type="timeout", attribution=[])
    samples = _samples(m.registry)
    key = (
        semconv.METRIC_DURATION + "_count",
        tuple(
            sorted(
                {
                    "gen_ai_operation_name": "chat",
                    "gen_ai_provider_name": "openai",
                    "gen_ai_request_model": "gpt-4o-mini",
                    "gen_ai_response_model": "",
                    "error_type": "timeout",
                }.items()
            )
        ),
    )
    assert samples[key] == 1
    cost_users = [dict(lb)["user"] for (n, lb), _ in samples.items() if n == semconv.METRIC_COST]
    assert cost_users == [""]


def test_attribution_overflow_folds_into_other() -> None:
    m = GenAIMetrics(Settings(attribution_labels=("tenant",), attribution_limit=3))
    for i in range(10):
        _record(m, attribution=[f"t{i}"], cost_usd=1.0)
    _record(m, attribution=["t1"], cost_usd=1.0)  # admitted values stay themselves
    costs = {
        dict(lb)["tenant"]: v
        for (n, lb), v in _samples(m.registry).items()
        if n == semconv.METRIC_COST
    }
    assert costs == {"t0": 1.0, "t1": 2.0, "t2": 1.0, OTHER: 7.0}


def test_user_values_are_pseudonymised_with_hmac() -> None:
    key = "s3cret"
    m = GenAIMetrics(Settings(attribution_labels=("user",), user_hash_key=key))
    _record(m, attribution=["alice@example.com"])
    users = [
        dict(lb)["user"] for (n, lb), _ in _samples(m.registry).items() if n == semconv.METRIC_COST
    ]
    expected = "u_" + hmac.new(b"s3cret", b"alice@example.com", hashlib.sha256).hexdigest()[:16]
    assert users == [expected]
    assert "alice" not in generate_latest(m.registry).decode()
    # a value already pseudonymised (stamped on the span at start) is not hashed twice
    assert pseudonymize(key, expected) == expected
    assert m.pseudonymize_user("alice@example.com") == expected


def test_no_hash_key_keeps_user_values() -> None:
    m = GenAIMetrics(Settings(attribution_labels=("user",)))
    assert m.pseudonymize_user("bob") == "bob"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("acme", "acme"),
        ("  padded ", "padded"),
        ("with space\nnewline", "with_space_newline"),
        ('quote"brace{}', "quote_brace{}"),
        ("x" * 100, "x" * 64),
        (None, ""),
        (42, "42"),
        ("/users/{id}", "/users/{id}"),
    ],
)
def test_sanitize_label_value(raw, expected) -> None:
    assert sanitize_label_value(raw) == expected


def test_label_folder_is_bounded_under_threads() -> None:
    folder = LabelFolder(5)
    results: list[str] = []

    def work(offset: int) -> None:
        results.extend(folder(f"v{offset}-{i}") for i in range(50))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(folder.admitted) == 5
    assert len(set(results) - {OTHER}) == 5


def test_invalid_attribution_label_names_are_rejected() -> None:
    for bad in ("user-id", "le", "gen_ai_request_model", "__x", "9lives"):
        with pytest.raises(ValueError, match="attribution label"):
            GenAIMetrics(Settings(attribution_labels=(bad,)))


def test_exemplar_appears_in_openmetrics_only() -> None:
    m = GenAIMetrics(Settings())
    _record(m, exemplar=EXEMPLAR)
    om = generate_openmetrics(m.registry).decode()
    line = next(x for x in om.splitlines() if x.startswith("gen_ai_client_cost_usd_total{"))
    assert f'trace_id="{EXEMPLAR["trace_id"]}"' in line
    assert f'span_id="{EXEMPLAR["span_id"]}"' in line
    assert any("trace_id=" in x for x in om.splitlines() if "duration_seconds_bucket" in x)
    assert "trace_id" not in generate_latest(m.registry).decode()


def test_negative_or_missing_values_are_not_recorded() -> None:
    m = GenAIMetrics(Settings())
    _record(m, duration_s=None, cost_usd=-1.0, tokens=[])
    assert not any(
        n.startswith(("gen_ai_client_cost", "gen_ai_client_operation_duration"))
        for (n, _), _v in _samples(m.registry).items()
    )
