"""compose.yaml: pinned images, files that exist, ports that agree with the configs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "compose.yaml"


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def services() -> dict[str, dict[str, Any]]:
    svcs: dict[str, dict[str, Any]] = compose()["services"]
    return svcs


def test_every_expected_service_is_there() -> None:
    assert set(services()) >= {
        "otel-collector",
        "tempo",
        "jaeger",
        "prometheus",
        "alertmanager",
        "grafana",
        "mock-llm",
        "demo-app",
        "traffic",
        "alert-log",
    }


def test_images_are_pinned() -> None:
    for name, svc in services().items():
        if "build" in svc:
            assert (REPO / svc["build"]["context"] / svc["build"]["dockerfile"]).is_file(), name
            continue
        image = svc["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest", f"{name}: unpinned image {image}"
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{name}: tag {tag} is not a release"


def test_collector_image_matches_the_ocb_manifest_version() -> None:
    manifest = (REPO / "collector" / "builder-config.yaml").read_text()
    versions = set(re.findall(r"v(0\.\d+\.\d+)", manifest))
    tag = services()["otel-collector"]["image"].rsplit(":", 1)[1]
    assert tag in versions, f"collector image {tag} vs manifest {versions}"
    assert "contrib" in services()["otel-collector"]["image"]


def test_bind_mounts_exist() -> None:
    for name, svc in services().items():
        for volume in svc.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name}: missing {source}"


def test_depends_on_conditions_are_backed_by_health_checks() -> None:
    svcs = services()
    for name, svc in svcs.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in svcs, f"{name} depends on unknown {dep}"
            if cond["condition"] == "service_healthy":
                check = svcs[dep].get("healthcheck") or compose()["x-app"].get("healthcheck")
                assert check and not check.get("disable"), f"{name}: {dep} has no health check"


def _container_port(service: str) -> set[int]:
    svc = services()[service]
    ports = {int(str(p).split(":")[-1]) for p in svc.get("ports", [])}
    command = " ".join(map(str, svc.get("command", [])))
    ports |= {int(p) for p in re.findall(r"--port[ =](\d+)", command)}
    return ports


def test_prometheus_targets_point_at_compose_services() -> None:
    prom = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())
    known_ports = {
        "otel-collector": {8888, 8889},  # its telemetry and prometheus exporter
        "tempo": {3200},
        "alertmanager": {9093},
        "demo-app": _container_port("demo-app"),
    }
    targets = [
        t for job in prom["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]
    ]
    targets += prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    for target in targets:
        host, port = target.rsplit(":", 1)
        if host == "localhost":
            continue
        assert host in services(), target
        assert int(port) in known_ports[host], target
    collector = (REPO / "collector" / "config.yaml").read_text()
    assert "OTELCOL_METRICS_PORT:-8888" in collector
    assert "0.0.0.0:8889" in collector


def test_demo_app_reaches_mock_llm_and_collector() -> None:
    app = services()["demo-app"]
    command = " ".join(app["command"])
    mock_port = _container_port("mock-llm")
    url = re.search(r"--llm-base-url (\S+)", command)
    assert url and url.group(1) == f"http://mock-llm:{next(iter(mock_port))}"
    assert app["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4317"
    assert app["environment"]["OTEL_LLM_ATTRIBUTION_LABELS"] == "user"


def test_grafana_datasources_point_at_compose_services() -> None:
    ds = yaml.safe_load(
        (REPO / "grafana" / "provisioning" / "datasources" / "datasources.yaml").read_text()
    )
    urls = {d["uid"]: d["url"] for d in ds["datasources"]}
    assert urls == {
        "prometheus": "http://prometheus:9090",
        "tempo": "http://tempo:3200",
        "jaeger": "http://jaeger:16686",
    }
    assert "16686:16686" in services()["jaeger"]["ports"]


def test_one_variable_picks_the_trace_store() -> None:
    """OTEL_LLM_TRACE_STORE (default tempo) names the compose service the Collector
    exports traces to and the Grafana data source uid exemplar links open."""
    svcs = services()
    assert "profiles" not in svcs["tempo"]
    assert svcs["jaeger"]["profiles"] == ["jaeger"]
    assert svcs["jaeger"]["image"].startswith("jaegertracing/jaeger:")
    assert "./jaeger/jaeger.yaml:/etc/jaeger/jaeger.yaml:ro" in svcs["jaeger"]["volumes"]
    endpoint = svcs["otel-collector"]["environment"]["OTELCOL_TRACES_ENDPOINT"]
    assert endpoint == "${OTEL_LLM_TRACE_STORE:-tempo}:4317"
    assert (
        "${env:OTELCOL_TRACES_ENDPOINT:-tempo:4317}"
        in (REPO / "collector" / "config.yaml").read_text()
    )
    grafana_env = svcs["grafana"]["environment"]
    assert grafana_env["OTEL_LLM_TRACE_STORE"] == "${OTEL_LLM_TRACE_STORE:-tempo}"
    ds = yaml.safe_load(
        (REPO / "grafana" / "provisioning" / "datasources" / "datasources.yaml").read_text()
    )
    prom = next(d for d in ds["datasources"] if d["type"] == "prometheus")
    (dest,) = prom["jsonData"]["exemplarTraceIdDestinations"]
    assert dest == {"name": "trace_id", "datasourceUid": "${OTEL_LLM_TRACE_STORE}"}
    uids = {d["uid"] for d in ds["datasources"]}
    for store in ("tempo", "jaeger"):
        assert store in svcs and store in uids


def test_alertmanager_webhooks_point_at_the_alert_log_service() -> None:
    am = yaml.safe_load((REPO / "alertmanager" / "alertmanager.yml").read_text())
    for receiver in am["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            assert hook["url"].startswith("http://alert-log:9099/"), hook["url"]
    assert services()["alert-log"]["command"][-1].endswith("webhook_log.py")


def test_prometheus_runs_with_exemplars_and_remote_write() -> None:
    command = services()["prometheus"]["command"]
    assert "--enable-feature=exemplar-storage" in command
    assert "--web.enable-remote-write-receiver" in command


COMPOSE_GO = "github.com/compose-spec/compose-go/v2@v2.16.2"


def _compose_schema() -> dict[str, object]:
    """The Compose Specification schema Docker Compose validates with (from compose-go).

    Fetched through the Go module proxy into Go's module cache, so it is downloaded once.
    """
    go = shutil.which("go")
    assert go is not None, "Go is needed (./setup.sh) to fetch the Compose schema"
    env = {**os.environ, "GOFLAGS": "", "GOWORK": "off"}
    proc = subprocess.run(
        [go, "mod", "download", "-json", COMPOSE_GO],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    schema_file = Path(json.loads(proc.stdout)["Dir"]) / "schema" / "compose-spec.json"
    return dict(json.loads(schema_file.read_text()))


def test_compose_file_matches_the_compose_specification() -> None:
    """compose.yaml against the official Compose Specification JSON schema."""
    import jsonschema

    schema = _compose_schema()
    doc = yaml.safe_load(COMPOSE.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    # and the schema is strict enough to catch a typo
    bad = {**doc, "services": {**doc["services"], "oops": {"imagee": "x"}}}
    assert list(validator.iter_errors(bad))
