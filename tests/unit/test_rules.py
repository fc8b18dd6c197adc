"""Prometheus rules, budgets generator and Alertmanager config, checked with the real tools.

promtool and amtool come from ``stack/bin.sh``; a missing binary fails these tests.
"""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.backends import load_script, stack_binary

REPO = Path(__file__).resolve().parents[2]
PROM_DIR = REPO / "prometheus"
RULES = PROM_DIR / "rules"
PROMTOOL_TESTS = sorted((PROM_DIR / "tests").glob("*_test.yml"))
AM_CONFIG = REPO / "alertmanager" / "alertmanager.yml"


def tool(name: str) -> str:
    """Path of a stack binary; fails (never skips) when it cannot be obtained."""
    return str(stack_binary(name, timeout=1800))


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


gen = load_script(PROM_DIR / "generate.py", "otel_llm_prom_generate")


def alert_rules() -> list[dict[str, Any]]:
    data = yaml.safe_load((RULES / "alerts.yml").read_text())
    return [r for g in data["groups"] for r in g["rules"] if "alert" in r]


# --- promtool ---------------------------------------------------------------------------


def test_promtool_check_rules() -> None:
    proc = run(tool("promtool"), "check", "rules", *sorted(RULES.glob("*.yml")))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_promtool_check_config() -> None:
    proc = run(tool("promtool"), "check", "config", PROM_DIR / "prometheus.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_unit_tests() -> None:
    """Every file under prometheus/tests, two at a time (the long-window file takes longest)."""
    promtool = tool("promtool")
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(
            pool.map(
                lambda f: (f, run(promtool, "test", "rules", f.name, cwd=f.parent)), PROMTOOL_TESTS
            )
        )
    failed = {f.name: p.stdout + p.stderr for f, p in results if p.returncode != 0}
    assert not failed, "\n".join(f"== {k}\n{v[-4000:]}" for k, v in failed.items())
    assert len(results) >= 5


def test_every_alert_has_firing_and_quiet_promtool_cases() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in PROMTOOL_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {r["alert"] for r in alert_rules()}
    assert names - firing == set(), "alerts never tested firing"
    assert names - quiet == set(), "alerts never tested quiet"


def test_alert_labels_and_annotations() -> None:
    for rule in alert_rules():
        labels = rule.get("labels", {})
        assert labels.get("severity") in {"critical", "warning"}, rule["alert"]
        assert labels.get("category") in {"budget", "service", "pipeline"}, rule["alert"]
        assert labels.get("alert_family"), rule["alert"]
        assert rule["annotations"].get("summary"), rule["alert"]


def test_alerts_take_amounts_from_budget_series_not_literals() -> None:
    """No dollar amount or threshold is written into an alert expression."""
    allowed = {"0", "0.5", "1"}  # "any", "at least one call", "100% of a budget"
    for rule in alert_rules():
        expr = re.sub(r"\[[0-9smhdw:]+\]|offset \d+[smhd]|\d+[smhd]\b", "", rule["expr"])
        expr = re.sub(r'"[^"]*"|`[^`]*`', "", expr)
        numbers = set(re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])", expr))
        assert numbers <= allowed, f"{rule['alert']}: literal {numbers - allowed}"


CONTRACT_METRICS = {
    "gen_ai_client_operation_duration_seconds",
    "gen_ai_client_token_usage",
    "gen_ai_client_operation_time_to_first_chunk_seconds",
    "gen_ai_client_cost_usd_total",
    "otel_llm_unpriced_operations_total",
    "otel_llm_spans_dropped_total",
    "otel_llm_operation_cost_usd",  # proposed per-call cost histogram (prometheus/README.md)
    "up",
    "prometheus_target_scrapes_exceeded_sample_limit_total",
    "prometheus_target_scrape_pool_exceeded_label_limits_total",
    "otelcol_exporter_queue_size",
    "otelcol_exporter_queue_capacity",
}


def test_rules_read_only_contract_metrics_or_recorded_series() -> None:
    """A typo in a metric name yields an empty series and a silent alert: catch it here."""
    recorded: set[str] = set()
    exprs: list[str] = []
    for name in ("recording.yml", "budgets.yml", "alerts.yml"):
        for group in yaml.safe_load((RULES / name).read_text())["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    recorded.add(rule["record"])
                exprs.append(rule["expr"])
    functions = {
        *("sum", "min", "max", "avg", "count", "topk", "bottomk", "quantile", "stddev"),
        *("by", "without", "on", "ignoring", "group_left", "group_right", "and", "or"),
        *("unless", "offset", "bool", "end", "start"),
    }
    for expr in exprs:
        clean = re.sub(r'"[^"]*"|`[^`]*`|\{[^}]*\}|\[[^\]]*\]', " ", expr)
        clean = re.sub(r"\b\d+(?:\.\d+)?[smhdwy]?\b", " ", clean)
        for token in re.findall(
            r"[a-zA-Z_:][a-zA-Z0-9_:]*(?=\s*(?:\[|\{|\)|$|\s|offset|/|\*|>|<|=))", clean
        ):
            if token in functions or token in recorded or "(" in token:
                continue
            base = re.sub(r"_(bucket|sum|count)$", "", token)
            if token in CONTRACT_METRICS or base in CONTRACT_METRICS:
                continue
            if re.fullmatch(r"[a-z_]+", token) and token in {
                "le", "job", "user", "or", "unless", "offset", "bool", "end", "start",
                "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_operation_name",
                "error_type", "instance", "exporter", "gen_ai_token_type",
            }:  # fmt: skip
                continue
            pytest.fail(f"unknown series {token!r} in: {expr}")


# --- budgets as data --------------------------------------------------------------------


def test_committed_budget_rules_equal_generator_output() -> None:
    expected = gen.render_budget_rules(gen.load_budgets())
    assert (RULES / "budgets.yml").read_text() == expected, "run: python prometheus/generate.py"


def test_agent_config_is_generated_from_prometheus_yml() -> None:
    """prometheus-agent.yml: the shipped scrape jobs, no rules, exemplars remote-written."""
    assert (PROM_DIR / "prometheus-agent.yml").read_text() == gen.render_agent_config()
    agent = yaml.safe_load((PROM_DIR / "prometheus-agent.yml").read_text())
    shipped = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
    assert agent["scrape_configs"] == shipped["scrape_configs"]
    assert "rule_files" not in agent and "alerting" not in agent
    assert agent["remote_write"][0]["send_exemplars"] is True
    proc = run(tool("promtool"), "check", "config", "--agent", PROM_DIR / "prometheus-agent.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_shipped_timing_allows_a_60s_budget_notification() -> None:
    """Scrape + evaluation + group_wait of the budget routes stay within 60 s."""
    glob = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())["global"]
    seconds = {"15s": 15, "10s": 10, "30s": 30, "1m": 60, "5s": 5}
    am = yaml.safe_load(AM_CONFIG.read_text())
    budget = next(r for r in am["route"]["routes"] if r["matchers"] == ['category="budget"'])
    waits = [seconds[r.get("group_wait", am["route"]["group_wait"])] for r in budget["routes"]]
    total = seconds[glob["scrape_interval"]] + seconds[glob["evaluation_interval"]] + max(waits)
    assert total <= 50, total  # leaves 10 s for delivery
    groups = yaml.safe_load((RULES / "alerts.yml").read_text())["groups"]
    fast = next(g for g in groups if g["name"] == "otel_llm_budget_alerts")
    assert "interval" not in fast  # the global 15 s
    recorded = {r["record"] for r in fast["rules"] if "record" in r}
    assert {
        "global:gen_ai_client_cost_usd:daily_budget_ratio",
        "global:gen_ai_client_cost_usd:weekly_budget_ratio",
        "user:gen_ai_client_cost_usd:daily_budget_ratio",
        "global:gen_ai_client_cost_usd:burn_rate5m",
        "global:gen_ai_client_cost_usd:burn_rate1h",
    } <= recorded  # in the alerts' own group: no extra evaluation interval
    for rule in fast["rules"]:
        if rule.get("alert", "").startswith(("LLMDaily", "LLMWeekly", "LLMUserDaily")):
            assert "for" not in rule and rule["keep_firing_for"] == "10m", rule["alert"]


def test_generator_check_mode(tmp_path: Path) -> None:
    assert gen.main(["--check"]) == 0
    stale = tmp_path / "budgets.yml"
    stale.write_text("groups: []\n")
    assert gen.main(["--check", "--out", str(stale)]) == 1


def test_budget_defaults_match_the_documented_ones() -> None:
    b = gen.load_budgets()
    assert (b.daily_usd, b.weekly_usd, b.user_daily_usd, b.monthly_usd, b.single_call_usd) == (
        10,
        50,
        2,
        300,
        1,
    )
    assert b.thresholds["error_ratio_warning"] == 0.2
    assert b.thresholds["error_ratio_critical"] == 0.5
    assert b.thresholds["latency_p95_warning_seconds"] == 5


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"budgets": {"daily": 10}}, "unknown budgets"),
        ({"budgets": {"daily_usd": -1}}, ">= 0"),
        ({"budgets": {"daily_usd": "ten"}}, "must be a number"),
        ({"budgets": {"single_call_usd": 0.75}}, "bucket bound"),
        ({"thresholds": {"error_ratio": 0.1}}, "unknown thresholds"),
        ({"thresholds": {"budget_warning_ratio": 1.5}}, "budget_warning_ratio"),
        ({"budgets": {"user_daily_overrides_usd": {"bad\nuser": 1}}}, "bad user"),
        ({"extra": 1}, "unknown top-level"),
        ({"thresholds": {"spend_anomaly_ratio": 1}}, "spend_anomaly_ratio"),
        ({"thresholds": {"spend_anomaly_min_days": 8}}, "spend_anomaly_min_days"),
        ({"thresholds": {"spend_anomaly_min_days": 2.5}}, "spend_anomaly_min_days"),
    ],
)
def test_bad_budget_files_are_rejected(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        gen.parse_budgets(data)


def test_a_null_budget_switches_off_its_series() -> None:
    b = gen.parse_budgets({"budgets": {"weekly_usd": None, "single_call_usd": None}})
    text = gen.render_budget_rules(b)
    assert "budget: weekly" not in text and "single_call" not in text
    assert "budget: daily" in text


def test_single_call_rule_matches_python_and_go_bucket_spellings() -> None:
    rule = gen.budget_rule_groups(gen.parse_budgets({}))["groups"][1]["rules"][0]
    assert "le=~`1|1\\.0`" in rule["expr"]


def test_per_user_override_with_promtool(tmp_path: Path) -> None:
    """budgets.yaml overrides reach the per-user budget (generated rules, real promtool)."""
    b = gen.parse_budgets({"budgets": {"user_daily_overrides_usd": {"alice": 5}}})
    (tmp_path / "budgets.yml").write_text(gen.render_budget_rules(b))
    labels = (
        'job="app",instance="a",gen_ai_operation_name="chat",'
        'gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o"'
    )
    test = {
        "rule_files": [str(RULES / "recording.yml"), "budgets.yml", str(RULES / "alerts.yml")],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": f'gen_ai_client_cost_usd_total{{{labels},user="alice"}}',
                        "values": "0+0.1x40",
                    },
                    {
                        "series": f'gen_ai_client_cost_usd_total{{{labels},user="bob"}}',
                        "values": "0+0.1x40",
                    },
                ],
                "promql_expr_test": [
                    {
                        "expr": "user:otel_llm_budget_usd:daily",
                        "eval_time": "30m",
                        "exp_samples": [
                            {"labels": 'user:otel_llm_budget_usd:daily{user="alice"}', "value": 5},
                            {"labels": 'user:otel_llm_budget_usd:daily{user="bob"}', "value": 2},
                        ],
                    }
                ],
                # $3 spent each at 30m: bob (allowance $2) is over, alice ($5) is not
                "alert_rule_test": [
                    {
                        "eval_time": "38m",
                        "alertname": "LLMUserDailyBudgetExceeded",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "critical",
                                    "category": "budget",
                                    "alert_family": "llm_budget_user_daily",
                                    "user": "bob",
                                },
                                "exp_annotations": {
                                    "summary": "User bob spent 190% of their daily LLM allowance.",
                                    "description": "Rolling 24 h window. Allowance: "
                                    "prometheus/budgets.yaml user_daily_usd (or "
                                    "user_daily_overrides_usd for this user).",
                                },
                            }
                        ],
                    }
                ],
            }
        ],
        "group_eval_order": [
            "otel_llm_budgets",
            "otel_llm_spend",
            "otel_llm_spend_long",
            "otel_llm_budget_usage",
            "otel_llm_budget_alerts",
        ],
    }
    (tmp_path / "override_test.yml").write_text(yaml.safe_dump(test, sort_keys=False))
    proc = run(tool("promtool"), "test", "rules", "override_test.yml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_test_copy_keeps_expressions_and_zeroes_for(tmp_path: Path) -> None:
    budgets = gen.load_budgets().with_values(daily_usd=0.001)
    config = gen.write_test_copy(
        tmp_path,
        budgets=budgets,
        targets={"demo-app": ["127.0.0.1:18000"]},
        alertmanagers=["127.0.0.1:19093"],
    )
    rendered = yaml.safe_load(config.read_text())
    assert rendered["global"]["evaluation_interval"] == "1s"
    assert [j["job_name"] for j in rendered["scrape_configs"]] == ["demo-app"]
    assert rendered["scrape_configs"][0]["static_configs"][0]["targets"] == ["127.0.0.1:18000"]
    assert rendered["scrape_configs"][0]["sample_limit"] == 50000  # shipped settings kept
    alerts = yaml.safe_load((tmp_path / "alerts.yml").read_text())
    shipped = alert_rules()
    copied = [r for g in alerts["groups"] for r in g["rules"] if "alert" in r]
    assert [r["expr"] for r in copied] == [r["expr"] for r in shipped]
    assert {r["for"] for r in copied} == {"0s"}
    assert all(
        "interval" not in g
        for g in yaml.safe_load((tmp_path / "recording.yml").read_text())["groups"]
    )
    assert "vector(0.001)" in (tmp_path / "budgets.yml").read_text()
    proc = run(tool("promtool"), "check", "config", config)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- Alertmanager -----------------------------------------------------------------------


def test_amtool_check_config() -> None:
    proc = run(tool("amtool"), "check-config", AM_CONFIG)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (
            ["category=budget", "severity=critical", "alertname=LLMDailyBudgetExceeded"],
            "budget-critical",
        ),
        (
            ["category=budget", "severity=warning", "alertname=LLMDailyBudgetNearlySpent"],
            "budget-warning",
        ),
        (
            ["category=pipeline", "severity=critical", "alertname=LLMCollectorDroppingData"],
            "critical",
        ),
        (["category=service", "severity=warning", "alertname=LLMErrorRatioHigh"], "default"),
    ],
)
def test_alertmanager_routes_by_category_and_severity(labels: list[str], receiver: str) -> None:
    proc = run(
        tool("amtool"),
        "config",
        "routes",
        "test",
        f"--config.file={AM_CONFIG}",
        f"--verify.receivers={receiver}",
        *labels,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_inhibition_critical_silences_warning_of_same_family() -> None:
    config = yaml.safe_load(AM_CONFIG.read_text())
    (rule,) = config["inhibit_rules"]
    assert 'severity="critical"' in rule["source_matchers"]
    assert 'severity="warning"' in rule["target_matchers"]
    assert "alert_family" in rule["equal"] and "user" in rule["equal"]
    # every warning alert has a critical sibling or stands alone in its family
    families: dict[str, set[str]] = {}
    for r in alert_rules():
        families.setdefault(r["labels"]["alert_family"], set()).add(r["labels"]["severity"])
    assert families["llm_budget_daily"] == {"warning", "critical"}
    assert families["llm_errors"] == {"warning", "critical"}
