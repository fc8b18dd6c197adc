"""Generate otel-llm's Grafana dashboards with the Grafana Foundation SDK.

The JSON under grafana/dashboards/ is committed output of this script (provisioned by
grafana/provisioning/dashboards/). Edit here, then run::

    uv run python grafana/generate.py           # rewrite grafana/dashboards/*.json
    uv run python grafana/generate.py --check   # exit 1 when the committed JSON is stale

Panels read the recorded series of prometheus/rules/recording.yml wherever one exists, so
a dashboard and an alert never disagree; only panels that show exemplars (links from a
latency or cost point to its trace in the trace store) query the raw histograms and
counters, since recorded series carry no exemplars.

The request look-up works with either trace store compose can run: Tempo (TraceQL) and
Jaeger (tag search within a service).  The foundation SDK has no Jaeger query builder, so
:class:`JaegerSearch` writes the query model of Grafana's built-in Jaeger data source.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from grafana_foundation_sdk.builders import bargauge, stat, table, text, timeseries
from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.builders import tempo as tempo_q
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.runtime import UnknownDataquery
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as prom_m
from grafana_foundation_sdk.models import text as text_m

OUT_DIR = Path(__file__).resolve().parent / "dashboards"
PROM = dm.DataSourceRef(type_val="prometheus", uid="prometheus")
TEMPO = dm.DataSourceRef(type_val="tempo", uid="tempo")
JAEGER = dm.DataSourceRef(type_val="jaeger", uid="jaeger")
TAGS = ["otel-llm", "genai"]

# Label filters from the dashboard variables, per level of the recorded series.
JM = 'job=~"$job", gen_ai_request_model=~"$model"'  # job_model:* and raw series
M = 'gen_ai_request_model=~"$model"'  # model:*
J = 'job=~"$job"'  # job:*


def q(expr: str, legend: str = "", *, ref: str = "A", exemplar: bool = False) -> prom.Dataquery:
    query = prom.Dataquery().expr(expr).ref_id(ref).datasource(PROM)
    if legend:
        query = query.legend_format(legend)
    if exemplar:
        query = query.exemplar(True)
    return query


class JaegerSearch(cogbuilder.Builder[cogvariants.Dataquery]):
    """A search query of Grafana's Jaeger data source: traces of ``service`` with ``tags``.

    ``tags`` is logfmt (``key="value" ...``), as in the query editor; Grafana turns it
    into the JSON ``tags`` parameter of Jaeger's ``/api/traces``.
    """

    def __init__(self, ref_id: str, service: str, tags: str, limit: int = 20) -> None:
        self._query = {
            "refId": ref_id,
            "datasource": {"type": JAEGER.type_val, "uid": JAEGER.uid},
            "queryType": "search",
            "service": service,
            "tags": tags,
            "limit": limit,
        }

    def build(self) -> cogvariants.Dataquery:
        return UnknownDataquery(dict(self._query))


def instant(expr: str, legend: str = "", *, ref: str = "A") -> prom.Dataquery:
    return q(expr, legend, ref=ref).instant().format(prom_m.PromQueryFormat.TABLE)


def ts(title: str, unit: str, *queries: prom.Dataquery, desc: str = "") -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .unit(unit)
        .datasource(PROM)
        .height(8)
        .span(12)
        .fill_opacity(10)
        .line_width(1)
    )
    if desc:
        panel = panel.description(desc)
    for query in queries:
        panel = panel.with_target(query)
    return panel


def single(title: str, unit: str, expr: str, *, desc: str = "", span: int = 4) -> stat.Panel:
    panel = (
        stat.Panel()
        .title(title)
        .unit(unit)
        .datasource(PROM)
        .height(4)
        .span(span)
        .graph_mode(common.BigValueGraphMode.AREA)
        .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]))
        .with_target(q(expr))
    )
    return panel.description(desc) if desc else panel


def bars(title: str, unit: str, expr: str, legend: str, *, desc: str = "") -> bargauge.Panel:
    panel = (
        bargauge.Panel()
        .title(title)
        .unit(unit)
        .datasource(PROM)
        .height(8)
        .span(8)
        .orientation(common.VizOrientation.HORIZONTAL)
        .display_mode(common.BarGaugeDisplayMode.GRADIENT)
        .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]))
        .with_target(instant(expr, legend))
    )
    return panel.description(desc) if desc else panel


def ratio_thresholds(warn: float, crit: float) -> db.ThresholdsConfig:
    return (
        db.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps(
            [
                dm.Threshold(value=None, color="green"),
                dm.Threshold(value=warn, color="orange"),
                dm.Threshold(value=crit, color="red"),
            ]
        )
    )


def variables(dash: db.Dashboard) -> db.Dashboard:
    """Service (job) and model pickers, read from the series the panels use."""
    job = (
        db.QueryVariable("job")
        .label("Service")
        .datasource(PROM)
        .query("label_values(job_model:gen_ai_client_operations:rate5m, job)")
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
    )
    model = (
        db.QueryVariable("model")
        .label("Model")
        .datasource(PROM)
        .query(
            "label_values(job_model:gen_ai_client_operations:rate5m"
            '{job=~"$job"}, gen_ai_request_model)'
        )
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
    )
    return dash.with_variable(job).with_variable(model)


def base(uid: str, title: str, description: str) -> db.Dashboard:
    links = [
        db.DashboardLink("otel-llm")
        .type(dm.DashboardLinkType.DASHBOARDS)
        .tags(["otel-llm"])
        .as_dropdown(True)
        .include_vars(True)
        .keep_time(True)
    ]
    return (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
        .editable()
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .links(links)  # type: ignore[arg-type]
    )


# --- dashboards ------------------------------------------------------------------------


def overview() -> db.Dashboard:
    dash = variables(
        base(
            "otel-llm-overview",
            "otel-llm / Overview",
            "LLM calls: traffic, errors, latency (p50/p95/p99 by model, exemplars to traces), "
            "time to first chunk.",
        )
    )
    ops = f"job_model:gen_ai_client_operations:rate5m{{{JM}}}"
    errs = f"job_model:gen_ai_client_operation_errors:rate5m{{{JM}}}"
    dash = (
        dash.with_row(db.Row("Traffic and errors"))
        .with_panel(single("Calls / s", "reqps", f"sum({ops})"))
        .with_panel(
            single(
                "Error ratio",
                "percentunit",
                f"(sum({errs}) or vector(0)) / sum({ops})",
                desc="Failed calls (error_type set) among all calls, last 5 min.",
            ).thresholds(ratio_thresholds(0.2, 0.5))
        )
        .with_panel(
            single(
                "p95 latency (all models)",
                "s",
                f"histogram_quantile(0.95, sum by (le) "
                f"(job_model:gen_ai_client_operation_duration_seconds_bucket:rate5m{{{JM}}}))",
            )
        )
        .with_panel(
            ts(
                "Calls / s by model",
                "reqps",
                q(f"sum by (gen_ai_request_model) ({ops})", "{{gen_ai_request_model}}"),
            )
        )
        .with_panel(
            ts(
                "Errors / s by model and error type",
                "reqps",
                q(
                    f"sum by (gen_ai_request_model, error_type) ({errs})",
                    "{{gen_ai_request_model}} {{error_type}}",
                ),
            )
        )
        .with_panel(
            ts(
                "Error ratio by model",
                "percentunit",
                q(
                    f"model:gen_ai_client_operation_errors:ratio_rate5m{{{M}}}",
                    "{{gen_ai_request_model}}",
                ),
                desc="Alerts: LLMErrorRatioHigh (10 min), LLMErrorRatioCritical (2 min).",
            )
        )
        .with_panel(
            ts(
                "Calls / s by service",
                "reqps",
                q(f"sum by (job) ({ops})", "{{job}}"),
            )
        )
        .with_row(db.Row("Latency"))
        .with_panel(
            ts(
                "Latency by model: p50 / p95 / p99",
                "s",
                q(
                    f"model:gen_ai_client_operation_duration_seconds:p50_5m{{{M}}}",
                    "p50 {{gen_ai_request_model}}",
                ),
                q(
                    f"model:gen_ai_client_operation_duration_seconds:p95_5m{{{M}}}",
                    "p95 {{gen_ai_request_model}}",
                    ref="B",
                ),
                q(
                    f"model:gen_ai_client_operation_duration_seconds:p99_5m{{{M}}}",
                    "p99 {{gen_ai_request_model}}",
                    ref="C",
                ),
            )
        )
        .with_panel(
            ts(
                "p95 latency with exemplars (click a dot for its trace)",
                "s",
                q(
                    "histogram_quantile(0.95, sum by (le, gen_ai_request_model) ("
                    f"rate(gen_ai_client_operation_duration_seconds_bucket{{{JM}}}[$__rate_interval])))",
                    "p95 {{gen_ai_request_model}}",
                    exemplar=True,
                ),
                desc="Raw histogram (recorded series carry no exemplars); exemplars carry "
                "trace_id, linked to Tempo.",
            )
        )
        .with_panel(
            ts(
                "Latency by service: p50 / p95 / p99",
                "s",
                q(f"job:gen_ai_client_operation_duration_seconds:p50_5m{{{J}}}", "p50 {{job}}"),
                q(
                    f"job:gen_ai_client_operation_duration_seconds:p95_5m{{{J}}}",
                    "p95 {{job}}",
                    ref="B",
                ),
                q(
                    f"job:gen_ai_client_operation_duration_seconds:p99_5m{{{J}}}",
                    "p99 {{job}}",
                    ref="C",
                ),
            )
        )
        .with_panel(
            ts(
                "Time to first chunk by model (streaming): p50 / p95",
                "s",
                q(
                    f"model:gen_ai_client_operation_time_to_first_chunk_seconds:p50_5m{{{M}}}",
                    "p50 {{gen_ai_request_model}}",
                ),
                q(
                    f"model:gen_ai_client_operation_time_to_first_chunk_seconds:p95_5m{{{M}}}",
                    "p95 {{gen_ai_request_model}}",
                    ref="B",
                ),
            )
        )
    )
    return dash


def cost() -> db.Dashboard:
    dash = variables(
        base(
            "otel-llm-cost",
            "otel-llm / Cost and budgets",
            "Spend by model, provider and user; cost per call; budget use, burn rate and "
            "month-end forecast. "
            "Budgets come from prometheus/budgets.yaml; windows are rolling (last 24 h, 7 d).",
        )
    )
    dash = (
        dash.with_row(db.Row("Budgets"))
        .with_panel(
            single(
                "Spend, last 24 h",
                "currencyUSD",
                "global:gen_ai_client_cost_usd:increase24h",
                desc="Rolling 24 h, all services (not since midnight).",
            )
        )
        .with_panel(
            single(
                "Daily budget used",
                "percentunit",
                "global:gen_ai_client_cost_usd:daily_budget_ratio",
            ).thresholds(ratio_thresholds(0.8, 1))
        )
        .with_panel(
            single(
                "Weekly budget used",
                "percentunit",
                "global:gen_ai_client_cost_usd:weekly_budget_ratio",
            ).thresholds(ratio_thresholds(0.8, 1))
        )
        .with_panel(
            single(
                "Month to date (UTC)",
                "currencyUSD",
                "global:gen_ai_client_cost_usd:month_to_date",
            )
        )
        .with_panel(
            single(
                "Month-end forecast",
                "currencyUSD",
                "global:gen_ai_client_cost_usd:month_forecast",
                desc="Month to date + the last 6 h's spend rate until the end of the month.",
            )
        )
        .with_panel(
            single(
                "Forecast vs monthly budget",
                "percentunit",
                "global:gen_ai_client_cost_usd:month_forecast_budget_ratio",
            ).thresholds(ratio_thresholds(0.8, 1))
        )
        .with_panel(
            ts(
                "Monthly budget burn rate (1 = on pace to spend exactly the budget)",
                "x",
                q("global:gen_ai_client_cost_usd:burn_rate1h", "1 h"),
                q("global:gen_ai_client_cost_usd:burn_rate6h", "6 h", ref="B"),
                q("global:gen_ai_client_cost_usd:burn_rate3d", "3 d", ref="C"),
                q('otel_llm:threshold{threshold=~"burn_rate_.*"}', "{{threshold}}", ref="D"),
                desc="Alerts: LLMSpendBurnRateHigh (fast/medium), LLMSpendBurnRateElevated (slow).",
            )
        )
        .with_panel(
            ts(
                "Budget used by user (last 24 h)",
                "percentunit",
                q("topk(20, user:gen_ai_client_cost_usd:daily_budget_ratio)", "{{user}}"),
                desc="Per-user allowance: user_daily_usd, or the user's override.",
            )
        )
        .with_row(db.Row("Spend"))
        .with_panel(
            bars(
                "Spend last 24 h by model",
                "currencyUSD",
                f"sort_desc(model:gen_ai_client_cost_usd:increase24h{{{M}}})",
                "{{gen_ai_provider_name}}/{{gen_ai_request_model}}",
            )
        )
        .with_panel(
            bars(
                "Spend last 24 h by provider",
                "currencyUSD",
                "sort_desc(provider:gen_ai_client_cost_usd:increase24h)",
                "{{gen_ai_provider_name}}",
            )
        )
        .with_panel(
            bars(
                "Spend last 24 h by user (top 20)",
                "currencyUSD",
                "topk(20, user:gen_ai_client_cost_usd:increase24h)",
                "{{user}}",
            )
        )
        .with_panel(
            ts(
                "Spend per hour by model",
                "currencyUSD",
                q(f"model:gen_ai_client_cost_usd:increase1h{{{M}}}", "{{gen_ai_request_model}}"),
            )
        )
        .with_panel(
            ts(
                "Spend anomaly: last hour against the same hour over 7 days",
                "currencyUSD",
                q(f"job:gen_ai_client_cost_usd:increase1h{{{J}}}", "{{job}} last hour"),
                q(
                    f"job:gen_ai_client_cost_usd:increase1h_baseline7d{{{J}}}",
                    "{{job}} usual (7-day median)",
                    ref="B",
                ),
                q(
                    f"job:gen_ai_client_cost_usd:increase1h_baseline7d{{{J}}}"
                    ' * on () group_left () otel_llm:threshold{threshold="spend_anomaly_ratio"}',
                    "{{job}} alert above (x spend_anomaly_ratio)",
                    ref="C",
                ),
                q(
                    'otel_llm:threshold{threshold="spend_anomaly_floor_usd"}',
                    "floor (spend_anomaly_floor_usd)",
                    ref="D",
                ),
                desc="Per service: spend over the last hour, its baseline (median of the same "
                "hour on each of the past 7 days) and the line LLMServiceSpendAnomaly fires "
                "above: spend_anomaly_ratio times the baseline AND above the floor "
                "(prometheus/budgets.yaml). Per model: LLMModelSpendAnomaly, same rule.",
            )
        )
        .with_panel(
            ts(
                "Spend per hour by user (top 10)",
                "currencyUSD",
                q("topk(10, user:gen_ai_client_cost_usd:increase1h)", "{{user}}"),
            )
        )
        .with_panel(
            ts(
                "Spend rate by model with exemplars (click a dot for its trace)",
                "currencyUSD",
                q(
                    "sum by (gen_ai_request_model) "
                    f"(rate(gen_ai_client_cost_usd_total{{{JM}}}[$__rate_interval])) * 3600",
                    "{{gen_ai_request_model}} USD/h",
                    exemplar=True,
                ),
            )
        )
        .with_panel(
            ts(
                "Cost per call by model with exemplars (click a dot for its trace)",
                "currencyUSD",
                q(
                    "histogram_quantile(0.95, sum by (le, gen_ai_request_model) ("
                    f"rate(otel_llm_operation_cost_usd_bucket{{{JM}}}[$__rate_interval])))",
                    "p95 {{gen_ai_request_model}}",
                    exemplar=True,
                ),
                q('otel_llm:budget_usd{budget="single_call"}', "single-call budget", ref="B"),
                desc="Per-call cost histogram (otel_llm_operation_cost_usd, priced calls only); "
                "each exemplar is one call at its own cost, linked to Tempo. Dots above the "
                "single-call budget are the calls LLMExpensiveCall counts.",
            )
        )
        .with_panel(
            ts(
                "Calls above the single-call budget (5 min)",
                "short",
                q(
                    "job_model:otel_llm_operation_cost_usd_over_single_call_budget:increase5m"
                    f"{{{JM}}}",
                    "{{job}} {{gen_ai_request_model}}",
                ),
                desc="The series LLMExpensiveCall reads; the budget is single_call_usd in "
                "prometheus/budgets.yaml.",
            )
        )
        .with_panel(
            ts(
                "Unpriced calls by model (cost missing from budgets)",
                "percentunit",
                q(
                    f"model:otel_llm_unpriced_operations:ratio_rate1h{{{M}}}",
                    "{{gen_ai_request_model}}",
                ),
                desc="Alert: LLMUnpricedCallsHigh. Add the model to OTEL_LLM_PRICING_FILE.",
            )
        )
    )
    return dash


def tokens() -> db.Dashboard:
    dash = variables(
        base(
            "otel-llm-tokens",
            "otel-llm / Tokens",
            "Token rates by type (input includes cached, output includes reasoning), "
            "prompt-cache hit ratio and reasoning share.",
        )
    )
    rate = f"job_model:gen_ai_client_token_usage:rate5m{{{JM}}}"

    def typed(types: str) -> str:
        return f'job_model:gen_ai_client_token_usage:rate5m{{{JM}, gen_ai_token_type=~"{types}"}}'

    dash = (
        dash.with_row(db.Row("Tokens"))
        .with_panel(single("Tokens / s (input + output)", "short", f"sum({typed('input|output')})"))
        .with_panel(
            single(
                "Cache hit ratio (all models)",
                "percentunit",
                f"(sum({typed('cache_read')}) or vector(0)) / sum({typed('input')})",
            )
        )
        .with_panel(
            single(
                "Reasoning share (all models)",
                "percentunit",
                f"(sum({typed('reasoning')}) or vector(0)) / sum({typed('output')})",
            )
        )
        .with_panel(
            ts(
                "Tokens / s by type",
                "short",
                q(f"sum by (gen_ai_token_type) ({rate})", "{{gen_ai_token_type}}"),
            )
        )
        .with_panel(
            ts(
                "Tokens / s by model and type",
                "short",
                q(
                    f"sum by (gen_ai_request_model, gen_ai_token_type) ({rate})",
                    "{{gen_ai_request_model}} {{gen_ai_token_type}}",
                ),
            )
        )
        .with_panel(
            ts(
                "Prompt-cache hit ratio by model",
                "percentunit",
                q(
                    f"model:gen_ai_client_token_usage:cache_read_ratio_rate5m{{{M}}}",
                    "{{gen_ai_request_model}}",
                ),
                desc="Cached input tokens among all input tokens.",
            )
        )
        .with_panel(
            ts(
                "Reasoning share by model",
                "percentunit",
                q(
                    f"model:gen_ai_client_token_usage:reasoning_ratio_rate5m{{{M}}}",
                    "{{gen_ai_request_model}}",
                ),
                desc="Reasoning tokens among all output tokens.",
            )
        )
        .with_panel(
            ts(
                "Input tokens per call by model",
                "short",
                q(
                    "sum by (gen_ai_request_model) (rate(gen_ai_client_token_usage_sum"
                    f'{{{JM}, gen_ai_token_type="input"}}[$__rate_interval]))'
                    " / sum by (gen_ai_request_model) (rate(gen_ai_client_token_usage_count"
                    f'{{{JM}, gen_ai_token_type="input"}}[$__rate_interval]))',
                    "{{gen_ai_request_model}}",
                ),
            )
        )
    )
    return dash


def request_lookup() -> db.Dashboard:
    dash = (
        base(
            "otel-llm-request",
            "otel-llm / Request lookup",
            "Find the trace of one request by its X-Request-ID, in Tempo (TraceQL) "
            "or in Jaeger (tag search).",
        )
        .with_variable(
            db.TextBoxVariable("request_id")
            .label("Request ID (X-Request-ID)")
            .description(
                "Every span of the request carries request.id; the response header "
                "X-Request-ID and every log line (request_id) show it."
            )
        )
        .with_variable(
            db.TextBoxVariable("service")
            .label("Service (Jaeger)")
            .default_value("demo-app")
            .description(
                "Jaeger searches one service at a time; any service the request passed "
                "through finds the whole trace (its entry service is a good choice)."
            )
        )
    )
    search = (
        table.Panel()
        .title("Tempo: spans of request $request_id")
        .datasource(TEMPO)
        .height(12)
        .span(24)
        .with_target(
            tempo_q.TempoQuery()
            .ref_id("A")
            .datasource(TEMPO)
            .query_type("traceql")
            .query('{ span.request.id = "$request_id" }')
            .limit(20)
        )
        .description("Click a trace ID to open the trace.")
    )
    expensive = (
        table.Panel()
        .title("Tempo: most expensive recent LLM calls")
        .datasource(TEMPO)
        .height(10)
        .span(24)
        .with_target(
            tempo_q.TempoQuery()
            .ref_id("A")
            .datasource(TEMPO)
            .query_type("traceql")
            .query(
                "{ span.gen_ai.usage.cost.amount > 0.01 }"
                " | select(span.gen_ai.usage.cost.amount, span.request.id)"
            )
            .limit(20)
        )
    )
    jaeger_search = (
        table.Panel()
        .title("Jaeger: traces of request $request_id (service $service)")
        .datasource(JAEGER)
        .height(12)
        .span(24)
        .with_target(JaegerSearch("A", "$service", 'request.id="$request_id"'))
        .description("For the compose profile `jaeger`. Click a trace ID to open the trace.")
    )
    help_text = (
        text.Panel()
        .title("How to")
        .height(5)
        .span(24)
        .mode(text_m.TextMode.MARKDOWN)
        .content(
            "Paste an `X-Request-ID` above. The same lookup from a shell: "
            "`otel-llm trace <request-id>` (add `--tempo URL` or `--jaeger URL`). "
            'Tempo TraceQL: `{ span.request.id = "<request-id>" }`. '
            'Jaeger: service `<service>`, tags `request.id="<request-id>"`. '
            "Only the panels of the running trace store show data "
            "(Tempo by default; Jaeger with `OTEL_LLM_TRACE_STORE=jaeger` and the "
            "compose profile `jaeger`)."
        )
    )
    return (
        dash.with_panel(help_text)
        .with_panel(search)
        .with_panel(expensive)
        .with_panel(jaeger_search)
    )


DASHBOARDS = {
    "overview": overview,
    "cost": cost,
    "tokens": tokens,
    "request-lookup": request_lookup,
}


def render(name: str) -> str:
    """The JSON text of one dashboard (stable: sorted keys, two-space indent)."""
    data = json.loads(json.dumps(DASHBOARDS[name]().build(), cls=JSONEncoder))
    # Stable panel ids in layout order (links such as ?viewPanel=N rely on them).
    for number, panel in enumerate(data.get("panels", []), start=1):
        panel["id"] = number
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate the otel-llm Grafana dashboards.")
    parser.add_argument("--check", action="store_true", help="fail when committed JSON is stale")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    stale = []
    for name in DASHBOARDS:
        path = args.out / f"{name}.json"
        content = render(name)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != content:
                stale.append(str(path))
        else:
            args.out.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
    if stale:
        print(
            "stale dashboards (run python grafana/generate.py): " + ", ".join(stale),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
