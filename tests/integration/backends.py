"""Real backends for the integration tests, run as plain processes (no Docker).

Every binary comes from ``stack/bin.sh NAME`` (fetched or built once, cached under
``~/.cache/otel-llm/bin``).  Each backend listens on free 127.0.0.1 ports, keeps its
data in a temp dir, logs to a file there, and is stopped with SIGTERM (SIGKILL after a
grace period).  ``conftest.py`` turns these into session fixtures; test modules call
the same helpers to start the demo service and the mock LLM.

A binary that cannot be obtained is an error, never a skip: the integration suite must
fail loudly on a machine where the stack is missing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN_SH = REPO / "stack" / "bin.sh"
COLLECTOR_CONFIG = REPO / "collector" / "config.yaml"
JAEGER_CONFIG = REPO / "jaeger" / "jaeger.yaml"

# Building the Go binaries on a fresh machine takes minutes; CI runs
# `stack/bin.sh all` before pytest, so here this only bounds a cold local run.
BIN_TIMEOUT_S = float(os.environ.get("OTEL_LLM_BIN_TIMEOUT", "3600"))

# Every process started here, so a failing test can show their logs.
RUNNING: list[ManagedProcess] = []


class BackendError(RuntimeError):
    """A backend could not be obtained, started or queried."""


# ------------------------------------------------------------------ basics ---


_binaries: dict[str, Path] = {}


def stack_binary(name: str, *, timeout: float = BIN_TIMEOUT_S) -> Path:
    """Absolute path of a ready binary from ``stack/bin.sh``; BackendError if it fails."""
    if name in _binaries:
        return _binaries[name]
    try:
        proc = subprocess.run(
            [str(BIN_SH), name],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackendError(f"stack/bin.sh {name} failed: {exc}") from exc
    path = Path(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else None
    if proc.returncode != 0 or path is None or not os.access(path, os.X_OK):
        raise BackendError(
            f"stack/bin.sh {name} exited {proc.returncode}; stderr:\n{proc.stderr[-4000:]}"
        )
    _binaries[name] = path
    return path


def load_script(path: Path, module_name: str) -> ModuleType:
    """A script of the repository (``prometheus/generate.py``...) imported as ``module_name``."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_taken: set[int] = set()
_taken_lock = threading.Lock()


def free_port() -> int:
    """A loopback port nobody listens on now (and not handed out before in this run)."""
    with _taken_lock:
        for _ in range(100):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", 0))
                port = int(s.getsockname()[1])
            if port not in _taken:
                _taken.add(port)
                return port
    raise BackendError("no free loopback port")


def wait_until(
    check: Callable[[], Any], timeout: float, interval: float = 0.2, what: str = "condition"
) -> Any:
    """Poll ``check`` until it returns a truthy value (returned) or ``timeout`` passes.

    Exceptions from ``check`` count as "not yet"; the last one is reported on timeout.
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:
            last_exc = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_exc!r})" if last_exc else ""
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_ready(
    proc: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    timeout: float,
    *,
    what: str,
    output: Callable[[], str] = lambda: "",
) -> None:
    """Poll ``ready`` every 0.1 s until it is true (an exception counts as "not yet").

    BackendError with ``output()`` as soon as ``proc`` exits; TimeoutError after ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BackendError(
                f"{what} exited with {proc.returncode} while starting; log:\n" + output()
            )
        try:
            if ready():
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s")


def stop_process(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM ``proc``, SIGKILL it after ``timeout`` seconds (for a process in our group)."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


class ManagedProcess:
    """One backend process: start, wait for readiness, stop, restart, show its log."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        ready: Callable[[], bool],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self.ready = ready
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        if self.running:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        log.write(f"\n==== start {time.strftime('%H:%M:%S')}: {' '.join(self.argv)}\n".encode())
        log.flush()
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,  # our own process group: stopping it stops children
            )
        finally:
            log.close()
        if self not in RUNNING:
            RUNNING.append(self)
        try:
            wait_ready(
                self.proc, self.ready, self.start_timeout, what=self.name, output=self.log_tail
            )
        except TimeoutError:
            self.stop()
            raise BackendError(
                f"{self.name} not ready after {self.start_timeout:.0f}s; log:\n" + self.log_tail()
            ) from None

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the process group, SIGKILL after ``timeout`` seconds."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, max_bytes: int = 12_000) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return "(no log)"
        return data[-max_bytes:].decode(errors="replace")


# ------------------------------------------------------------------ Jaeger ---


@dataclass
class JaegerInstance:
    """Jaeger v2 single binary (jaeger/jaeger.yaml, memory store).

    ``url`` is the query API (HTTP), ``otlp_grpc`` / ``otlp_http`` the OTLP ingest.
    The memory store starts empty after a restart: what the Collector delivers
    afterwards is what a test can find.
    """

    process: ManagedProcess
    url: str
    otlp_grpc: str  # host:port
    otlp_http: str  # http://host:port

    def stop(self) -> None:
        self.process.stop()

    def start(self) -> None:
        self.process.start()

    def store(self) -> Any:
        from otel_llm.store.jaeger import JaegerStore

        return JaegerStore(self.url)


def start_jaeger(
    workdir: Path, *, binary: Path | None = None, max_traces: int | None = None
) -> JaegerInstance:
    """Jaeger on free loopback ports, running the repository's jaeger/jaeger.yaml
    (``max_traces`` overrides the memory store's bound, JAEGER_MAX_TRACES)."""
    binary = binary or stack_binary("jaeger")
    query_http, query_grpc, health, otlp_grpc_port, otlp_http_port = (free_port() for _ in range(5))
    env = {
        "JAEGER_QUERY_HTTP_ENDPOINT": f"127.0.0.1:{query_http}",
        "JAEGER_QUERY_GRPC_ENDPOINT": f"127.0.0.1:{query_grpc}",
        "JAEGER_HEALTH_ENDPOINT": f"127.0.0.1:{health}",
        "JAEGER_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{otlp_grpc_port}",
        "JAEGER_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{otlp_http_port}",
    }
    if max_traces is not None:
        env["JAEGER_MAX_TRACES"] = str(max_traces)
    url = f"http://127.0.0.1:{query_http}"
    process = ManagedProcess(
        "jaeger",
        [binary, f"--config={JAEGER_CONFIG}"],
        log_path=workdir / "jaeger.log",
        env=env,
        ready=lambda: http_ok(f"{url}/api/services"),
        start_timeout=60,
    )
    process.start()
    return JaegerInstance(
        process=process,
        url=url,
        otlp_grpc=f"127.0.0.1:{otlp_grpc_port}",
        otlp_http=f"http://127.0.0.1:{otlp_http_port}",
    )


# --------------------------------------------------------------- Collector ---


@dataclass
class CollectorInstance:
    """Our Collector distribution running collector/config.yaml."""

    process: ManagedProcess
    otlp_grpc: str  # http://127.0.0.1:port, for OTEL_EXPORTER_OTLP_ENDPOINT with grpc
    otlp_http: str  # http://127.0.0.1:port
    health_url: str
    metrics_url: str  # the collector's own telemetry (Prometheus text)
    metrics_target: str  # host:port of the same, for a scrape config
    exporter_target: str  # host:port of the prometheus exporter (OTLP metrics pushed in)
    storage_dir: Path

    def stop(self) -> None:
        self.process.stop()

    def start(self) -> None:
        self.process.start()

    def internal_metrics(self) -> dict[str, float]:
        """The collector's own metrics now, as ``{'name{label="v",...}': value}``."""
        from prometheus_client.parser import text_string_to_metric_families

        text = httpx.get(self.metrics_url, timeout=5).text
        out: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                out[f"{sample.name}{{{labels}}}"] = float(sample.value)
        return out

    def metric_sum(self, name: str) -> float:
        """Sum of every series of one internal metric (0 when absent)."""
        return sum(v for k, v in self.internal_metrics().items() if k.split("{", 1)[0] == name)


def start_collector(
    workdir: Path, traces_otlp_grpc: str, *, binary: Path | None = None
) -> CollectorInstance:
    """The Collector exporting traces over OTLP/gRPC to ``traces_otlp_grpc`` (host:port)."""
    binary = binary or stack_binary("otelcol")
    grpc_port, http_port, health_port, metrics_port, exporter_port = (free_port() for _ in range(5))
    storage = workdir / "queue"
    env = {
        "OTELCOL_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{grpc_port}",
        "OTELCOL_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{http_port}",
        "OTELCOL_HEALTH_ENDPOINT": f"127.0.0.1:{health_port}",
        "OTELCOL_METRICS_HOST": "127.0.0.1",
        "OTELCOL_METRICS_PORT": str(metrics_port),
        "OTELCOL_PROMETHEUS_ENDPOINT": f"127.0.0.1:{exporter_port}",
        "OTELCOL_TRACES_ENDPOINT": traces_otlp_grpc,
        "OTELCOL_STORAGE_DIR": str(storage),
        # Test-only: retry a failed export at least every 2 s, so delivery resumes
        # quickly once the trace store is back.
        "OTELCOL_RETRY_MAX_INTERVAL": "2s",
    }
    health_url = f"http://127.0.0.1:{health_port}/"
    process = ManagedProcess(
        "otelcol",
        [binary, f"--config={COLLECTOR_CONFIG}"],
        log_path=workdir / "otelcol.log",
        env=env,
        ready=lambda: http_ok(health_url),
        start_timeout=60,
    )
    process.start()
    return CollectorInstance(
        process=process,
        otlp_grpc=f"http://127.0.0.1:{grpc_port}",
        otlp_http=f"http://127.0.0.1:{http_port}",
        health_url=health_url,
        metrics_url=f"http://127.0.0.1:{metrics_port}/metrics",
        metrics_target=f"127.0.0.1:{metrics_port}",
        exporter_target=f"127.0.0.1:{exporter_port}",
        storage_dir=storage,
    )


# -------------------------------------------------------------- Prometheus ---


@dataclass
class PrometheusInstance:
    """Prometheus 2.42 with exemplar storage and the remote-write receiver.

    Scrape targets come from file-based service discovery (``add_target``), so tests
    can add services started later; ``configure`` swaps rule files and the
    Alertmanager and reloads.
    """

    process: ManagedProcess
    url: str
    config_path: Path
    sd_dir: Path
    scrape_interval: str = "1s"
    evaluation_interval: str = "1s"
    rule_files: list[str] = field(default_factory=list)
    alertmanager_urls: list[str] = field(default_factory=list)

    def stop(self) -> None:
        self.process.stop()

    def start(self) -> None:
        self.process.start()

    def store(self) -> Any:
        from otel_llm.store.prometheus import PrometheusStore

        return PrometheusStore(self.url)

    def add_target(
        self,
        job: str,
        address: str,
        *,
        metrics_path: str = "/metrics",
        labels: Mapping[str, str] | None = None,
    ) -> None:
        """Scrape ``address`` (host:port) as ``job``; picked up within about a second."""
        entry = {
            "targets": [address],
            "labels": {"job": job, "__metrics_path__": metrics_path, **(labels or {})},
        }
        name = f"{job}-{address.replace(':', '_')}.json".replace("/", "_")
        tmp = self.sd_dir / f".{name}.tmp"
        tmp.write_text(json.dumps([entry]))
        tmp.replace(self.sd_dir / name)

    def remove_target(self, job: str, address: str) -> None:
        name = f"{job}-{address.replace(':', '_')}.json".replace("/", "_")
        (self.sd_dir / name).unlink(missing_ok=True)

    def wait_for_target(self, job: str, timeout: float = 30.0) -> None:
        """Wait until some target of ``job`` was scraped successfully."""

        def up() -> bool:
            body = httpx.get(f"{self.url}/api/v1/targets", timeout=5).json()
            return any(
                t["labels"].get("job") == job and t.get("health") == "up"
                for t in body["data"]["activeTargets"]
            )

        wait_until(up, timeout, what=f"Prometheus target {job} up")

    def write_config(self) -> None:
        config: dict[str, Any] = {
            "global": {
                "scrape_interval": self.scrape_interval,
                "scrape_timeout": self.scrape_interval,
                "evaluation_interval": self.evaluation_interval,
            },
            "scrape_configs": [
                {
                    "job_name": "file_sd",
                    "file_sd_configs": [
                        {"files": [str(self.sd_dir / "*.json")], "refresh_interval": "1s"}
                    ],
                }
            ],
            "rule_files": list(self.rule_files),
        }
        if self.alertmanager_urls:
            config["alerting"] = {
                "alertmanagers": [
                    {
                        "static_configs": [
                            {"targets": [u.split("://", 1)[-1] for u in self.alertmanager_urls]}
                        ]
                    }
                ]
            }
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    def configure(
        self,
        *,
        rule_files: Sequence[str | Path] | None = None,
        alertmanager_urls: Sequence[str] | None = None,
    ) -> None:
        """Rewrite the config with these rule files / Alertmanagers and reload."""
        if rule_files is not None:
            self.rule_files = [str(p) for p in rule_files]
        if alertmanager_urls is not None:
            self.alertmanager_urls = list(alertmanager_urls)
        self.write_config()
        resp = httpx.post(f"{self.url}/-/reload", timeout=30)
        if resp.status_code != 200:
            raise BackendError(f"Prometheus reload failed ({resp.status_code}): {resp.text}")


def prometheus_query(url: str, expr: str) -> list[dict[str, Any]]:
    """The result list of an instant PromQL query against the Prometheus at ``url``."""
    body = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=5).json()
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def start_prometheus(workdir: Path, *, binary: Path | None = None) -> PrometheusInstance:
    binary = binary or stack_binary("prometheus")
    port = free_port()
    sd_dir = workdir / "sd"
    sd_dir.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    config_path = workdir / "prometheus.yml"
    process = ManagedProcess(
        "prometheus",
        [
            binary,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
            "--web.enable-remote-write-receiver",
            "--enable-feature=exemplar-storage",
            "--storage.tsdb.retention.time=1d",
        ],
        log_path=workdir / "prometheus.log",
        ready=lambda: http_ok(f"{url}/-/ready"),
        start_timeout=60,
    )
    inst = PrometheusInstance(process=process, url=url, config_path=config_path, sd_dir=sd_dir)
    inst.write_config()
    process.start()
    return inst


# ------------------------------------------------------------ Alertmanager ---


class WebhookReceiver:
    """Collects the JSON bodies Alertmanager posts (``.payloads``; ``.alerts`` flattened)."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    payload = json.loads(body or b"{}")
                except ValueError:
                    payload = {"invalid": body.decode(errors="replace")}
                with receiver._lock:
                    receiver.payloads.append(payload)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/alerts"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def alerts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [a for p in self.payloads for a in p.get("alerts", [])]

    def clear(self) -> None:
        with self._lock:
            self.payloads.clear()

    def wait_for_alert(
        self, alertname: str, timeout: float = 30.0, status: str = "firing"
    ) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            for alert in self.alerts:
                if (
                    alert.get("labels", {}).get("alertname") == alertname
                    and alert.get("status") == status
                ):
                    return alert
            return None

        found: dict[str, Any] = wait_until(find, timeout, what=f"alert {alertname} {status}")
        return found

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class AlertmanagerInstance:
    process: ManagedProcess
    url: str
    config_path: Path

    def stop(self) -> None:
        self.process.stop()

    def start(self) -> None:
        self.process.start()

    def configure(self, config_yaml: str) -> None:
        """Replace the configuration (YAML text) and reload."""
        self.config_path.write_text(config_yaml)
        resp = httpx.post(f"{self.url}/-/reload", timeout=30)
        if resp.status_code != 200:
            raise BackendError(f"Alertmanager reload failed ({resp.status_code}): {resp.text}")


def webhook_config(webhook_url: str) -> str:
    """Alertmanager config sending every alert to one webhook at once (test timings)."""
    return yaml.safe_dump(
        {
            "route": {
                "receiver": "webhook",
                "group_by": ["alertname"],
                "group_wait": "0s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {
                    "name": "webhook",
                    "webhook_configs": [{"url": webhook_url, "send_resolved": True}],
                }
            ],
        },
        sort_keys=False,
    )


def start_alertmanager(
    workdir: Path, webhook_url: str, *, binary: Path | None = None
) -> AlertmanagerInstance:
    binary = binary or stack_binary("alertmanager")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config_path = workdir / "alertmanager.yml"
    config_path.write_text(webhook_config(webhook_url))
    process = ManagedProcess(
        "alertmanager",
        [
            binary,
            f"--config.file={config_path}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no HA gossip port
        ],
        log_path=workdir / "alertmanager.log",
        ready=lambda: http_ok(f"{url}/-/ready"),
        start_timeout=60,
    )
    process.start()
    return AlertmanagerInstance(process=process, url=url, config_path=config_path)


# ------------------------------------------------------------ Node gateway ---

NODE_DIR = REPO / "node"
GATEWAY = NODE_DIR / "examples" / "gateway" / "server.mjs"


def node_package_ready() -> None:
    """Fail (never skip) without Node or the installed package; build dist/ if missing."""
    import pytest

    if shutil.which("node") is None:
        pytest.fail("node is not installed: ./setup.sh needs Node 20+ for the Node package")
    if not (NODE_DIR / "node_modules").is_dir():
        pytest.fail("node/node_modules missing: run ./setup.sh (or cd node && npm ci)")
    if not (NODE_DIR / "dist" / "esm" / "register-esm.js").exists():
        subprocess.run(["npm", "run", "build"], cwd=NODE_DIR, check=True, timeout=300)


# ------------------------------------------------- demo service and mock LLM ---


def otel_llm_command() -> list[str]:
    """The ``otel-llm`` console script of this environment."""
    script = Path(sys.executable).parent / "otel-llm"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "otel_llm.cli"]


def run_cli(
    *args: str, timeout: float = 60.0, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``otel-llm ARGS`` run from the repository root; output captured as text, not checked.

    ``env`` adds to (or overrides) this process's environment.
    """
    return subprocess.run(
        [*otel_llm_command(), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **env} if env is not None else None,
    )


@dataclass
class ServiceProcess:
    process: ManagedProcess
    url: str
    port: int
    service_name: str = ""

    def stop(self) -> None:
        self.process.stop()


def start_mock_llm(
    workdir: Path, *, latency_scale: float = 0.1, seed: int = 7, extra_args: Sequence[str] = ()
) -> ServiceProcess:
    """``otel-llm mock-llm`` on a free port."""
    port = free_port()
    process = ManagedProcess(
        "mock-llm",
        [
            *otel_llm_command(),
            "mock-llm",
            "--port",
            str(port),
            "--seed",
            str(seed),
            "--latency-scale",
            str(latency_scale),
            *extra_args,
        ],
        log_path=workdir / f"mock-llm-{port}.log",
        ready=lambda: tcp_open("127.0.0.1", port),
        start_timeout=60,
    )
    process.start()
    return ServiceProcess(process=process, url=f"http://127.0.0.1:{port}", port=port)


def start_demo_app(
    workdir: Path,
    *,
    llm_url: str,
    collector: CollectorInstance,
    service_name: str = "otel-llm-demo",
    env: Mapping[str, str] | None = None,
    protocol: str | None = "grpc",
) -> ServiceProcess:
    """``otel-llm demo-app`` exporting OTLP to ``collector`` with ``protocol`` (None: no
    protocol variable set, the default exporter); /metrics on its port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = ManagedProcess(
        f"demo-app:{service_name}",
        [*otel_llm_command(), "demo-app", "--port", str(port), "--llm-base-url", llm_url],
        log_path=workdir / f"demo-app-{service_name}-{port}.log",
        env={
            "OTEL_SERVICE_NAME": service_name,
            "OTEL_EXPORTER_OTLP_ENDPOINT": (
                collector.otlp_grpc if protocol == "grpc" else collector.otlp_http
            ),
            **({"OTEL_EXPORTER_OTLP_PROTOCOL": protocol} if protocol else {}),
            "OTEL_LLM_EXPORTER": "otlp",
            # Test-only: export finished spans after 200 ms instead of 5 s.
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_LLM_ATTRIBUTION_LABELS": "user",
            **(env or {}),
        },
        ready=lambda: http_ok(f"{url}/healthz"),
        start_timeout=90,
    )
    if protocol is None:  # nor inherited from this process
        for name in ("OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"):
            process.env.pop(name, None)
    process.start()
    return ServiceProcess(process=process, url=url, port=port, service_name=service_name)


def chat(
    app_url: str,
    request_id: str,
    *,
    model: str = "gpt-4o-mini",
    prompt: str = "Say hello.",
    user: str = "alice",
    stream: bool = False,
    timeout: float = 30.0,
) -> httpx.Response:
    """POST /chat with a chosen X-Request-ID; raises if the service does not answer 200."""
    resp = httpx.post(
        f"{app_url}/chat",
        json={"model": model, "prompt": prompt, "stream": stream, "user": user},
        headers={"X-Request-ID": request_id},
        timeout=timeout,
    )
    if resp.status_code != 200:
        raise BackendError(f"/chat answered {resp.status_code}: {resp.text[:500]}")
    return resp


@contextlib.contextmanager
def stopped(*processes: ManagedProcess) -> Iterator[None]:
    """Stop processes for the block and start them again afterwards (also on error)."""
    for p in processes:
        p.stop()
    try:
        yield
    finally:
        for p in processes:
            p.start()
