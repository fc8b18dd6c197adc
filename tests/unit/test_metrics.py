"""GenAIMetrics: contract names and buckets, bounded and sanitised labels, pseudonyms."""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import sys
import threading
import time
from pathlib import Path

import prometheus_client.metrics
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
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
    assert types[semconv.METRIC_OPERATION_COST] == "histogram"
    assert types[semconv.METRIC_UNPRICED] == "counter"
    assert types[semconv.METRIC_PROCESSOR_ERRORS] == "counter"
    assert types[semconv.METRIC_SPANS_DROPPED] == "counter"
    assert f"{semconv.METRIC_COST}{{" in text  # the counter sample is named ..._usd_total
    assert f"{semconv.METRIC_UNPRICED}{{" in text
    assert f"{semconv.METRIC_DURATION}_bucket{{" in text
    assert "gen_ai_client_token_usage_token" not in text  # no unit suffix appended
    assert f"{semconv.METRIC_OPERATION_COST}_bucket{{" in text
    assert "_usd_usd" not in text  # the unit is already the name's suffix
    om = generate_openmetrics(m.registry).decode()
    assert f"# UNIT {semconv.METRIC_OPERATION_COST} usd" in om.splitlines()


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
    # the per-call cost histogram: no attribution labels (one series per model, not per user)
    per_call = {"gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model"}
    assert seen[semconv.METRIC_OPERATION_COST + "_count"] == per_call
    assert seen[semconv.METRIC_OPERATION_COST + "_sum"] == per_call
    assert seen[semconv.METRIC_OPERATION_COST + "_bucket"] == per_call


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
    cost = [0.0001, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100]
    assert bounds(semconv.METRIC_OPERATION_COST) == [*cost, float("inf")]
    assert tuple(cost) == semconv.COST_BUCKETS


def test_cost_buckets_are_the_ones_the_budget_rules_generator_accepts(monkeypatch) -> None:
    """prometheus/generate.py runs without the package installed, so it keeps its own copy
    of the name and bounds (``single_call_usd`` must be one of them): the two must agree."""
    path = Path(__file__).resolve().parents[2] / "prometheus" / "generate.py"
    spec = importlib.util.spec_from_file_location("otel_llm_prom_generate_buckets", path)
    assert spec and spec.loader
    generate = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, generate)  # its dataclasses look it up
    spec.loader.exec_module(generate)
    assert generate.COST_HISTOGRAM == semconv.METRIC_OPERATION_COST
    assert tuple(generate.COST_BUCKETS_USD) == semconv.COST_BUCKETS


def test_per_call_cost_histogram_counts_each_call_in_its_bucket() -> None:
    """One observation per priced call, in the bucket of its own cost: the single-call alert
    counts calls above a bound, which a counter cannot show."""
    m = GenAIMetrics(Settings(attribution_labels=("user",)))
    for cost, user in ((0.0001, "a"), (0.02, "b"), (1.0, "a"), (3.0, "c"), (250.0, "a")):
        _record(m, cost_usd=cost, attribution=[user])
    _record(m, cost_usd=None)  # unpriced: not observed
    _record(m, cost_usd=float("nan"))
    _record(m, cost_usd=-1.0)
    s = _samples(m.registry)
    name = semconv.METRIC_OPERATION_COST
    labels = (
        ("gen_ai_operation_name", "chat"),
        ("gen_ai_provider_name", "openai"),
        ("gen_ai_request_model", "gpt-4o-mini"),
    )
    assert s[(name + "_count", labels)] == 5
    assert s[(name + "_sum", labels)] == pytest.approx(254.0201)

    def le(bound: str) -> float:
        return s[(name + "_bucket", tuple(sorted((*labels, ("le", bound)))))]

    assert le("0.0001") == 1  # bounds are inclusive
    assert le("0.01") == 1
    assert le("0.05") == 2
    assert le("1.0") == 3  # exactly the default single-call budget: not above it
    assert le("2.5") == 3
    assert le("5.0") == 4
    assert le("100.0") == 4
    assert le("+Inf") == 5


def test_instrument_table_is_the_single_declaration() -> None:
    assert [i.name for i in INSTRUMENTS] == [
        semconv.METRIC_DURATION,
        semconv.METRIC_TOKEN_USAGE,
        semconv.METRIC_TTFC,
        semconv.METRIC_COST,
        semconv.METRIC_OPERATION_COST,
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
    # the per-call cost: the exemplar sits on the bucket of the call's cost (0.001 <= 0.001)
    cost_lines = [
        x for x in om.splitlines() if x.startswith(semconv.METRIC_OPERATION_COST + "_bucket{")
    ]
    with_exemplar = [x for x in cost_lines if " # {" in x]
    assert len(with_exemplar) == 1 and 'le="0.001"} 1.0 # {' in with_exemplar[0]
    exemplar = with_exemplar[0].split(" # ")[1]
    assert f'trace_id="{EXEMPLAR["trace_id"]}"' in exemplar
    assert f'span_id="{EXEMPLAR["span_id"]}"' in exemplar
    assert exemplar.split("} ")[1].split()[0] == "0.001"  # the observed cost
    assert "trace_id" not in generate_latest(m.registry).decode()


def test_negative_or_missing_values_are_not_recorded() -> None:
    m = GenAIMetrics(Settings())
    _record(m, duration_s=None, cost_usd=-1.0, tokens=[])
    assert not any(
        n.startswith(
            ("gen_ai_client_cost", "gen_ai_client_operation_duration", "otel_llm_operation_cost")
        )
        for (n, _), _v in _samples(m.registry).items()
    )


def _reference_registry(attribution_labels: tuple[str, ...]) -> tuple[CollectorRegistry, dict]:
    """The contract's instruments as plain prometheus-client metrics, for comparison."""
    registry = CollectorRegistry()
    metrics = {}
    for inst in INSTRUMENTS:
        labels = inst.labels + (attribution_labels if inst.attributed else ())
        if inst.kind == "histogram":
            metrics[inst.key] = Histogram(
                inst.name,
                inst.documentation,
                labels,
                unit=inst.unit,
                registry=registry,
                buckets=inst.buckets,
            )
        else:
            metrics[inst.key] = Counter(
                inst.name, inst.documentation, labels, unit=inst.unit, registry=registry
            )
    return registry, metrics


@pytest.mark.parametrize("created", [True, False])
def test_exposition_is_what_prometheus_client_metrics_would_show(monkeypatch, created) -> None:
    """Same observations into our collector and into Histogram/Counter: same bytes out."""
    monkeypatch.setattr(time, "time", lambda: 1700000000.125)  # _created and exemplar times
    # prometheus_client.disable_created_metrics() (PROMETHEUS_DISABLE_CREATED_SERIES) applies
    monkeypatch.setattr(prometheus_client.metrics, "_use_created", created)
    m = GenAIMetrics(Settings(attribution_labels=("user", "tenant")))
    ref, r = _reference_registry(("user", "tenant"))
    durations = [0.001, 0.01, 0.015, 0.3, 81.92, 100.0, 0.0, float("inf")]
    costs = [0.0, 0.0001, 0.003, 0.25, 1.0, 7.5, 120.0, 0.05]  # bounds, between and above
    for i, duration in enumerate(durations):
        op = ("chat", "openai", "gpt-4o-mini", f"resp-{i % 2}")
        error = "timeout" if i % 3 == 0 else ""
        tokens = [("input", 4**i), ("output", i), ("reasoning", 3)]
        ex = EXEMPLAR if i % 4 else None
        ttfc = duration / 2 if i % 2 else None
        _record(
            m,
            response_model=op[3],
            error_type=error or None,
            duration_s=duration,
            tokens=tokens,
            ttfc_s=ttfc,
            cost_usd=costs[i],
            attribution=[f"u{i % 3}", "acme"],
            exemplar=ex,
        )
        r["duration"].labels(*op, error).observe(duration, ex)
        if ttfc is not None:
            r["ttfc"].labels(*op, error).observe(ttfc, ex)
        for token_type, count in tokens:
            r["token_usage"].labels(*op, token_type).observe(count)
        r["cost"].labels(*op[:3], f"u{i % 3}", "acme").inc(costs[i], ex)
        r["operation_cost"].labels(*op[:3]).observe(costs[i], ex)
    m.record_unpriced("openai", "unknown-model")
    r["unpriced"].labels("openai", "unknown-model").inc()
    m.record_processor_error("on_end", "KeyError")
    r["processor_errors"].labels("on_end", "KeyError").inc()
    m.record_dropped("queue_full", 3)
    r["spans_dropped"].labels("queue_full").inc(3)

    assert generate_latest(m.registry) == generate_latest(ref)
    assert generate_openmetrics(m.registry) == generate_openmetrics(ref)
    assert generate_openmetrics(m.registry).count(b"trace_id") > 0
    assert (b"_created{" in generate_latest(m.registry)) is created


def test_registry_sees_the_metric_names() -> None:
    """``describe()`` lets a registry refuse a second copy of the same instruments."""
    registry = CollectorRegistry()
    GenAIMetrics(Settings(), registry=registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        Counter("gen_ai_client_cost_usd_total", "x", registry=registry)
    assert registry.get_sample_value("otel_llm_unpriced_operations_total") is None


def test_concurrent_recording_and_scrapes_keep_exact_totals() -> None:
    """Writers in several threads, scrapes in between: every observation is counted once."""
    m = GenAIMetrics(Settings(attribution_labels=("tenant",)))
    threads, per_thread = 4, 1500
    errors: list[BaseException] = []
    done = threading.Event()

    def write(t: int) -> None:
        try:
            for i in range(per_thread):
                m.record_operation(
                    operation="chat",
                    provider="openai",
                    request_model="gpt-4o-mini",
                    response_model=f"r{i % 250}",  # new series while others write
                    error_type=None,
                    duration_s=0.25,  # binary fractions: float sums are exact
                    tokens=[("input", 16), ("output", 2)],
                    ttfc_s=0.125,
                    cost_usd=0.5,
                    attribution=[f"t{t}"],
                    exemplar=EXEMPLAR,
                    unpriced=i % 3 == 0,
                )
                m.record_dropped("queue_full")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def scrape() -> None:
        try:
            while not done.is_set():
                generate_openmetrics(m.registry)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often: races show up in a short run
    try:
        workers = [threading.Thread(target=write, args=(t,)) for t in range(threads)]
        scraper = threading.Thread(target=scrape)
        scraper.start()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        done.set()
        scraper.join()
    finally:
        sys.setswitchinterval(switch)
    assert errors == []

    total = threads * per_thread
    s = _samples(m.registry)

    def value(name: str, **labels: str) -> float:
        return sum(v for (n, lb), v in s.items() if n == name and set(labels.items()) <= set(lb))

    assert value(semconv.METRIC_DURATION + "_count") == total
    assert value(semconv.METRIC_DURATION + "_sum") == total * 0.25
    assert value(semconv.METRIC_DURATION + "_bucket", le="0.32") == total
    assert value(semconv.METRIC_DURATION + "_bucket", le="0.16") == 0
    assert value(semconv.METRIC_TTFC + "_sum") == total * 0.125
    assert value(semconv.METRIC_TOKEN_USAGE + "_sum", gen_ai_token_type="input") == total * 16
    assert value(semconv.METRIC_TOKEN_USAGE + "_count", gen_ai_token_type="output") == total
    assert value(semconv.METRIC_COST) == total * 0.5
    for t in range(threads):
        assert value(semconv.METRIC_COST, tenant=f"t{t}") == per_thread * 0.5
    assert value(semconv.METRIC_OPERATION_COST + "_count") == total
    assert value(semconv.METRIC_OPERATION_COST + "_sum") == total * 0.5
    assert value(semconv.METRIC_OPERATION_COST + "_bucket", le="0.5") == total
    assert value(semconv.METRIC_OPERATION_COST + "_bucket", le="0.25") == 0
    assert value(semconv.METRIC_UNPRICED) == threads * len(range(0, per_thread, 3))
    assert value(semconv.METRIC_SPANS_DROPPED) == total


def _without_created(m: GenAIMetrics) -> list[str]:
    text = generate_openmetrics(m.registry).decode()
    return [line for line in text.splitlines() if "_created" not in line]


def _int_bucket_counts() -> list[int]:
    """Counts on, just below and just above every token bucket bound, and large ones."""
    counts = [0, 1, 2, 3, 2**63, 2**64 - 1]
    for bound in semconv.TOKEN_BUCKETS:
        counts += [int(bound) - 1, int(bound), int(bound) + 1]
    return [n for n in counts if n >= 0]


def _duration_edges_ns() -> list[int]:
    """Durations on, just below and just above every duration bucket bound (ns)."""
    edges = [0, 1, 2**64 - 1]
    for bound in semconv.DURATION_BUCKETS:
        ns = round(bound * 1e9)
        edges += [ns - 1, ns, ns + 1]
    return edges


def test_observe_counts_equals_observe_at_every_bucket_edge() -> None:
    from otel_llm.metrics import COUNT_LIMIT, _int_buckets

    fast, general = GenAIMetrics(), GenAIMetrics()
    assert fast._token_lows and fast._duration_lows  # both take the bit-length tables
    counts = _int_bucket_counts()
    durations = _duration_edges_ns()
    assert max(counts) < COUNT_LIMIT and max(durations) < COUNT_LIMIT
    end = 1_700_000_000_123_456_789
    for i, n in enumerate(counts):
        five = (n, counts[-1 - i], n // 3, None if i % 2 else n, None if i % 3 else 7)
        ns = durations[i % len(durations)]
        ids = (i + 1, i + 2) if i % 4 else None
        for m in (fast, general):
            route = m.route("chat", "openai", "gpt-4o-mini", "gpt-4o-mini", None)
            if m is fast:
                m.observe_counts(route, ns, end + i, None, five, 0.01, ids)
            else:
                tokens = [
                    (t, c) for t, c in zip(semconv.TOKEN_TYPES, five, strict=True) if c is not None
                ]
                m.observe(route, ns / 1e9, None, tokens, 0.01, ids, timestamp=(end + i) / 1e9)
    assert _without_created(fast) == _without_created(general)
    # bounds the tables cannot hold (two inside one bit length): bisected instead
    assert _int_buckets((5.0, 6.0, 7.0, float("inf"))) == ((), ())
    lows, bounds = _int_buckets((1.0, 2.0, 3.0, 1000.0, float("inf")))
    for n in range(5000):
        b = n.bit_length()
        assert lows[b] + (n > bounds[b]) == sum(bound < n for bound in (1.0, 2.0, 3.0, 1000.0))


def test_nanosecond_thresholds_bisect_as_the_seconds_do() -> None:
    import random
    from bisect import bisect_left

    from otel_llm.metrics import _ns_thresholds

    bounds = (*semconv.DURATION_BUCKETS, 0.1, 0.3, 1e-9, 123.456789, float("inf"))
    bounds = tuple(sorted(bounds))
    thresholds = _ns_thresholds(bounds)
    rng = random.Random(7)
    samples = [rng.randrange(10**12) for _ in range(20000)]
    for t in thresholds:
        if t != float("inf"):
            samples += [int(t) - 1, int(t), int(t) + 1]
    for ns in samples:
        assert bisect_left(thresholds, ns) == bisect_left(bounds, ns / 1e9), ns


def test_observe_counts_bisects_buckets_the_tables_cannot_hold(monkeypatch) -> None:
    fast, general = GenAIMetrics(), GenAIMetrics()
    monkeypatch.setattr(fast, "_token_lows", ())
    monkeypatch.setattr(fast, "_duration_lows", ())
    for n, ns in zip(_int_bucket_counts(), _duration_edges_ns() * 3, strict=False):
        for m in (fast, general):
            route = m.route("chat", "openai", "gpt-4o-mini", "gpt-4o-mini", None)
            if m is fast:
                m.observe_counts(route, ns, 10**18, None, (n, None, n, None, None), None, None)
            else:
                m.observe(route, ns / 1e9, None, [("input", n), ("cache_read", n)], None, None)
    assert _without_created(fast) == _without_created(general)
