"""Turn prometheus/budgets.yaml into recording rules, and render test copies of the stack's files.

Budgets and thresholds live in one data file so that nobody edits PromQL to change an
amount: each becomes a recording rule ``vector(<amount>)`` with labels, and the alert
rules join on those series. The same module renders the *test* copies (tiny budgets,
``for: 0s``, loopback targets) from the shipped files, so tests never drift from them.

Usage::

    python prometheus/generate.py            # rewrite rules/budgets.yml, prometheus-agent.yml
    python prometheus/generate.py --check    # exit 1 when a committed file is stale
    python prometheus/generate.py --test-dir DIR --set daily_usd=0.001 --for 0s \\
        --target demo-app=127.0.0.1:8000 --alertmanager 127.0.0.1:9093 --interval 1s
"""

from __future__ import annotations

import argparse
import copy
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from otel_llm.semconv import COST_BUCKETS

HERE = Path(__file__).resolve().parent
BUDGETS_FILE = HERE / "budgets.yaml"
RULES_DIR = HERE / "rules"
BUDGET_RULES_FILE = RULES_DIR / "budgets.yml"
PROMETHEUS_CONFIG = HERE / "prometheus.yml"
AGENT_CONFIG = HERE / "prometheus-agent.yml"
CENTRAL_WRITE_URL = "http://prometheus-central:9090/api/v1/write"
SHIPPED_RULE_FILES = ("recording.yml", "alerts.yml")

BUDGET_METRIC = "otel_llm:budget_usd"
THRESHOLD_METRIC = "otel_llm:threshold"
COST_HISTOGRAM = "otel_llm_operation_cost_usd"
"""Per-call cost histogram the services export (see prometheus/README.md)."""
COST_BUCKETS_USD = COST_BUCKETS
"""Bucket bounds of ``otel_llm_operation_cost_usd``: the single-call budget must be one of them."""

BUDGET_KEYS = ("daily_usd", "weekly_usd", "monthly_usd", "user_daily_usd", "single_call_usd")
THRESHOLD_DEFAULTS: dict[str, float] = {
    "budget_warning_ratio": 0.8,
    "error_ratio_warning": 0.2,
    "error_ratio_critical": 0.5,
    "error_min_operations": 5,
    "latency_p95_warning_seconds": 5,
    "unpriced_ratio_warning": 0.05,
    "collector_queue_ratio_warning": 0.8,
    "burn_rate_fast": 14.4,
    "burn_rate_medium": 6,
    "burn_rate_slow": 1,
    "spend_anomaly_ratio": 4,
    "spend_anomaly_floor_usd": 2,
    "spend_anomaly_min_days": 3,
}
# budget key -> (budget label, window label)
_BUDGET_LABELS = {
    "daily_usd": ("daily", "24h"),
    "weekly_usd": ("weekly", "7d"),
    "monthly_usd": ("monthly", "month"),
    "user_daily_usd": ("user_daily", "24h"),
    "single_call_usd": ("single_call", "call"),
}
_LABEL_VALUE = re.compile(r"^[^\x00-\x1f]{1,128}$")


@dataclass(frozen=True)
class Budgets:
    """The parsed content of budgets.yaml; ``None`` switches a budget off."""

    daily_usd: float | None = 10.0
    weekly_usd: float | None = 50.0
    monthly_usd: float | None = 300.0
    user_daily_usd: float | None = 2.0
    user_daily_overrides_usd: Mapping[str, float] = field(default_factory=dict)
    single_call_usd: float | None = 1.0
    thresholds: Mapping[str, float] = field(default_factory=lambda: dict(THRESHOLD_DEFAULTS))

    def with_values(self, **changes: float | None) -> Budgets:
        """A copy with some budgets or thresholds replaced (keys of either kind)."""
        thresholds = dict(self.thresholds)
        direct: dict[str, Any] = {}
        for key, value in changes.items():
            if key in BUDGET_KEYS:
                direct[key] = _amount(key, value, allow_none=True)
            elif key in THRESHOLD_DEFAULTS:
                thresholds[key] = _amount(key, value, allow_none=False)  # type: ignore[assignment]
            else:
                raise ValueError(f"unknown budget or threshold {key!r}")
        result = replace(self, thresholds=thresholds, **direct)
        _validate(result)
        return result


def _amount(key: str, value: object, *, allow_none: bool) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number{' or null' if allow_none else ''}, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{key} must be a finite number >= 0, got {value!r}")
    return number


def _validate(b: Budgets) -> None:
    if b.single_call_usd is not None and b.single_call_usd not in COST_BUCKETS_USD:
        bounds = ", ".join(_num(x) for x in COST_BUCKETS_USD)
        raise ValueError(
            f"single_call_usd must be a bucket bound of {COST_HISTOGRAM} ({bounds}), "
            f"got {b.single_call_usd!r}"
        )
    for user in b.user_daily_overrides_usd:
        if not isinstance(user, str) or not _LABEL_VALUE.match(user):
            raise ValueError(f"user_daily_overrides_usd: bad user label value {user!r}")
    ratio = b.thresholds["budget_warning_ratio"]
    if not 0 < ratio <= 1:
        raise ValueError(f"budget_warning_ratio must be in (0, 1], got {ratio!r}")
    if b.thresholds["spend_anomaly_ratio"] <= 1:
        raise ValueError(
            f"spend_anomaly_ratio must be > 1 (times the baseline), "
            f"got {b.thresholds['spend_anomaly_ratio']!r}"
        )
    days = b.thresholds["spend_anomaly_min_days"]
    if not (float(days).is_integer() and 1 <= days <= 7):
        raise ValueError(f"spend_anomaly_min_days must be a whole number 1..7, got {days!r}")


def parse_budgets(data: Mapping[str, Any]) -> Budgets:
    """Validate the mapping read from budgets.yaml; unknown keys are errors, not ignored."""
    if not isinstance(data, Mapping):
        raise ValueError("budgets file must be a mapping")
    unknown = set(data) - {"budgets", "thresholds"}
    if unknown:
        raise ValueError(f"unknown top-level keys in budgets file: {sorted(unknown)}")
    raw_budgets = data.get("budgets") or {}
    raw_thresholds = data.get("thresholds") or {}
    allowed = {*BUDGET_KEYS, "user_daily_overrides_usd"}
    unknown = set(raw_budgets) - allowed
    if unknown:
        raise ValueError(f"unknown budgets: {sorted(unknown)} (known: {sorted(allowed)})")
    unknown = set(raw_thresholds) - set(THRESHOLD_DEFAULTS)
    if unknown:
        raise ValueError(
            f"unknown thresholds: {sorted(unknown)} (known: {sorted(THRESHOLD_DEFAULTS)})"
        )
    values: dict[str, Any] = {}
    for key in BUDGET_KEYS:
        if key in raw_budgets:
            values[key] = _amount(key, raw_budgets[key], allow_none=True)
    overrides = raw_budgets.get("user_daily_overrides_usd") or {}
    if not isinstance(overrides, Mapping):
        raise ValueError("user_daily_overrides_usd must be a mapping of user -> USD")
    values["user_daily_overrides_usd"] = {
        str(user): _amount(f"user_daily_overrides_usd[{user}]", amount, allow_none=False)
        for user, amount in overrides.items()
    }
    thresholds = dict(THRESHOLD_DEFAULTS)
    for key, value in raw_thresholds.items():
        thresholds[key] = _amount(key, value, allow_none=False)  # type: ignore[assignment]
    budgets = Budgets(**values, thresholds=thresholds)
    _validate(budgets)
    return budgets


def load_budgets(path: Path = BUDGETS_FILE) -> Budgets:
    with path.open(encoding="utf-8") as fh:
        return parse_budgets(yaml.safe_load(fh) or {})


def _num(x: float) -> str:
    """Shortest exact spelling: 10 for 10.0, 0.0001 stays 0.0001."""
    x = float(x)
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(x)


def _le_regex(bound: float) -> str:
    """Match a bucket bound as Python (``1.0``) and Go (``1``) exporters spell it."""
    spellings = sorted({_num(bound), repr(float(bound)), format(bound, "g")})
    return "|".join(re.escape(s) for s in spellings)


def _vector_rule(record: str, amount: float, labels: Mapping[str, str]) -> dict[str, Any]:
    return {"record": record, "expr": f"vector({_num(amount)})", "labels": dict(labels)}


def _expensive_call_rule(bound: float) -> dict[str, Any]:
    """Calls above the single-call budget in the last 5 m, per service and model.

    Counted per bucket series before summing, so a restarted process (a counter reset)
    does not look like a burst. A series born inside the window is taken whole (its
    calls so far), because ``increase()`` would miss its first observation.
    """
    le = _le_regex(bound)
    inf = f'{COST_HISTOGRAM}_bucket{{le="+Inf"}}'
    at = f"{COST_HISTOGRAM}_bucket{{le=~`{le}`}}"
    expr = (
        "sum by (job, gen_ai_provider_name, gen_ai_request_model) (\n"
        f"    ({inf} - ignoring (le) {at})\n"
        f"      unless ignoring (le) ({inf} offset 5m)\n"
        "  or\n"
        f"    increase({inf}[5m]) - ignoring (le) increase({at}[5m])\n"
        ")\n"
    )
    return {
        "record": "job_model:otel_llm_operation_cost_usd_over_single_call_budget:increase5m",
        "expr": expr,
    }


def budget_rule_groups(b: Budgets) -> dict[str, Any]:
    """The rule file content (a dict ready for YAML) for these budgets."""
    rules: list[dict[str, Any]] = []
    for key in BUDGET_KEYS:
        amount = getattr(b, key)
        if amount is None:
            continue
        budget, window = _BUDGET_LABELS[key]
        rules.append(_vector_rule(BUDGET_METRIC, amount, {"budget": budget, "window": window}))
        if key == "user_daily_usd":
            for user in sorted(b.user_daily_overrides_usd):
                labels = {"budget": budget, "window": window, "user": user}
                rules.append(_vector_rule(BUDGET_METRIC, b.user_daily_overrides_usd[user], labels))
    for name in THRESHOLD_DEFAULTS:
        rules.append(_vector_rule(THRESHOLD_METRIC, b.thresholds[name], {"threshold": name}))
    groups: list[dict[str, Any]] = [{"name": "otel_llm_budgets", "rules": rules}]
    if b.single_call_usd is not None:
        groups.append(
            {
                "name": "otel_llm_single_call_budget",
                "rules": [_expensive_call_rule(b.single_call_usd)],
            }
        )
    return {"groups": groups}


class _Dumper(yaml.SafeDumper):
    """Block scalars for multi-line PromQL, so the generated file reads like a hand-written one."""


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_presenter)


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)


def render_budget_rules(b: Budgets, source: str = "prometheus/budgets.yaml") -> str:
    header = (
        f"# Generated from {source} by prometheus/generate.py: do not edit by hand.\n"
        "# Budgets and thresholds as series; prometheus/rules/alerts.yml joins on them.\n"
    )
    return header + dump_yaml(budget_rule_groups(b))


# --- test copies ---------------------------------------------------------------------


def render_rules_for_test(
    alerts_yaml: str, *, for_override: str | None = "0s", strip_intervals: bool = True
) -> str:
    """A copy of a rule file with every ``for:`` replaced and group intervals removed.

    Tests run Prometheus with a 1 s evaluation interval and cannot wait out ``for: 1h``;
    everything else (expressions, labels, annotations) stays as shipped.
    """
    data = yaml.safe_load(alerts_yaml)
    for group in data.get("groups", []):
        if strip_intervals:
            group.pop("interval", None)
        for rule in group.get("rules", []):
            if "alert" in rule and for_override is not None:
                rule["for"] = for_override
    return dump_yaml(data)


def render_prometheus_config(
    *,
    targets: Mapping[str, Sequence[str]],
    rule_files: Sequence[str],
    alertmanagers: Sequence[str] = (),
    scrape_interval: str | None = None,
    evaluation_interval: str | None = None,
    source: Path = PROMETHEUS_CONFIG,
) -> str:
    """prometheus.yml with the given scrape targets per job (other jobs dropped).

    Every other setting (scrape protocol, limits, relabelling) is kept as shipped.
    """
    config = yaml.safe_load(source.read_text(encoding="utf-8"))
    known = {job["job_name"]: job for job in config.get("scrape_configs", [])}
    missing = set(targets) - set(known)
    if missing:
        raise ValueError(f"jobs not in {source.name}: {sorted(missing)}")
    jobs = []
    for name, addresses in targets.items():
        job = copy.deepcopy(known[name])
        labels: dict[str, str] = {}
        for sc in job.get("static_configs", []):
            labels.update(sc.get("labels", {}))
        job["static_configs"] = [
            {"targets": list(addresses), **({"labels": labels} if labels else {})}
        ]
        if scrape_interval is not None:
            job["scrape_interval"] = scrape_interval
            job.pop("scrape_timeout", None)
        jobs.append(job)
    config["scrape_configs"] = jobs
    config["rule_files"] = list(rule_files)
    glob = config.setdefault("global", {})
    if scrape_interval is not None:
        glob["scrape_interval"] = scrape_interval
        glob.pop("scrape_timeout", None)
    if evaluation_interval is not None:
        glob["evaluation_interval"] = evaluation_interval
    if alertmanagers:
        config["alerting"] = {
            "alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]
        }
    else:
        config.pop("alerting", None)
    return dump_yaml(config)


def write_test_copy(
    out_dir: Path,
    *,
    budgets: Budgets,
    targets: Mapping[str, Sequence[str]],
    alertmanagers: Sequence[str] = (),
    for_override: str | None = "0s",
    interval: str = "1s",
) -> Path:
    """Write a test prometheus.yml and rule files into ``out_dir``; return the config path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rule_paths = []
    for name in SHIPPED_RULE_FILES:
        text = render_rules_for_test(
            (RULES_DIR / name).read_text(encoding="utf-8"), for_override=for_override
        )
        (out_dir / name).write_text(text, encoding="utf-8")
        rule_paths.append(str(out_dir / name))
    budget_rules = yaml.safe_load(render_budget_rules(budgets, source="a test budget set"))
    (out_dir / "budgets.yml").write_text(
        render_rules_for_test(dump_yaml(budget_rules), for_override=for_override), encoding="utf-8"
    )
    rule_paths.append(str(out_dir / "budgets.yml"))
    config = out_dir / "prometheus.yml"
    config.write_text(
        render_prometheus_config(
            targets=targets,
            rule_files=rule_paths,
            alertmanagers=alertmanagers,
            scrape_interval=interval,
            evaluation_interval=interval,
        ),
        encoding="utf-8",
    )
    return config


# --- remote write: Prometheus in agent mode -------------------------------------------


def render_agent_config(
    *,
    remote_write_url: str = CENTRAL_WRITE_URL,
    targets: Mapping[str, Sequence[str]] | None = None,
    source: Path = PROMETHEUS_CONFIG,
) -> str:
    """prometheus.yml as a Prometheus *agent* (--enable-feature=agent): the same scrape
    jobs, no rules and no Alertmanager (agent mode has neither), every sample and exemplar
    remote-written to the central Prometheus that runs the rules. ``targets`` substitutes
    scrape targets per job (tests); by default every shipped job is kept as is.
    """
    config = yaml.safe_load(source.read_text(encoding="utf-8"))
    if targets is not None:
        config = yaml.safe_load(
            render_prometheus_config(targets=targets, rule_files=[], source=source)
        )
    config.pop("rule_files", None)
    config.pop("alerting", None)
    config.get("global", {}).pop("evaluation_interval", None)
    config["remote_write"] = [
        {
            "url": remote_write_url,
            "send_exemplars": True,
            # Samples wait in the WAL while the central store is down (up to ~2 h of
            # WAL) and are sent when it is back; these bound the memory of the queue.
            "queue_config": {"capacity": 10000, "max_shards": 10, "max_samples_per_send": 2000},
            "metadata_config": {"send": True},
        }
    ]
    header = (
        "# Generated from prometheus/prometheus.yml by prometheus/generate.py: do not edit by\n"
        "# hand. Prometheus in agent mode: scrapes the same jobs and remote-writes every sample\n"
        "# and exemplar to the central Prometheus, which runs prometheus/rules/*.yml and sends\n"
        '# the alerts (prometheus/README.md, "Metrics past one Prometheus").\n'
        "#\n"
        "#   prometheus --enable-feature=agent,exemplar-storage \\\n"
        "#     --config.file=prometheus-agent.yml --storage.agent.path=/prometheus-agent\n"
        "#\n"
        "# Set the url below to your central store (Prometheus started with\n"
        "# --web.enable-remote-write-receiver --enable-feature=exemplar-storage).\n"
    )
    return header + dump_yaml(config)


# --- command line --------------------------------------------------------------------


def _parse_set(items: Sequence[str]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise SystemExit(f"--set wants KEY=VALUE, got {item!r}")
        out[key.strip()] = None if raw.strip() in ("", "null", "none") else float(raw)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=Path, default=BUDGETS_FILE, help="budgets file")
    parser.add_argument("--out", type=Path, default=BUDGET_RULES_FILE, help="rule file to write")
    parser.add_argument("--check", action="store_true", help="fail when --out is not up to date")
    parser.add_argument("--test-dir", type=Path, help="write a full test copy here instead")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--for", dest="for_override", default="0s", help="for: in the test copy")
    parser.add_argument("--target", action="append", default=[], metavar="JOB=HOST:PORT")
    parser.add_argument("--alertmanager", action="append", default=[], metavar="HOST:PORT")
    parser.add_argument("--interval", default="1s", help="scrape/evaluation interval (test copy)")
    args = parser.parse_args(argv)

    try:
        budgets = load_budgets(args.budgets).with_values(**_parse_set(args.set))
    except (OSError, ValueError) as exc:
        print(f"generate.py: {exc}", file=sys.stderr)
        return 2
    if args.test_dir:
        targets: dict[str, list[str]] = {}
        for item in args.target:
            job, _, address = item.partition("=")
            targets.setdefault(job, []).append(address)
        config = write_test_copy(
            args.test_dir,
            budgets=budgets,
            targets=targets,
            alertmanagers=args.alertmanager,
            for_override=args.for_override,
            interval=args.interval,
        )
        print(config)
        return 0
    outputs = {args.out: render_budget_rules(budgets)}
    if args.out == BUDGET_RULES_FILE:
        outputs[AGENT_CONFIG] = render_agent_config()
    if args.check:
        stale = [
            path
            for path, text in outputs.items()
            if (path.read_text(encoding="utf-8") if path.exists() else "") != text
        ]
        for path in stale:
            print(f"{path} is stale: run python prometheus/generate.py", file=sys.stderr)
        return 1 if stale else 0
    for path, text in outputs.items():
        path.write_text(text, encoding="utf-8")
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
