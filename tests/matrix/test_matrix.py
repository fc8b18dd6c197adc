"""The client compatibility matrix: each supported client library, at its newest release
and the oldest we claim, in its own environment, driven against the mock LLM over real
HTTP; every call must give one GenAI span that holds the contract.

Environments live in ``~/.cache/otel-llm/matrix/<client>-<version>`` (``uv venv`` + the
project installed editable + that client version) and are reused while their spec is
unchanged, so a warm run costs the drives only. ``OTEL_LLM_MATRIX=0`` skips the matrix
(logged by pytest as a skip with that reason); ``OTEL_LLM_MATRIX_CLIENTS=openai,cohere``
runs a subset. An environment that cannot be built (no network on a cold cache) fails
the test: a claimed version is never skipped silently.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from genai_prices import Usage, calc_price

from otel_llm.demo.mock_llm import MockLLMConfig, serve_in_thread
from otel_llm.genai._versions import SUPPORTED

ROOT = Path(__file__).parents[2]
DRIVER = Path(__file__).parent / "drive.py"
CACHE = Path(os.environ.get("OTEL_LLM_MATRIX_DIR", Path.home() / ".cache" / "otel-llm" / "matrix"))

NEWEST: dict[str, str] = {
    # client distribution: newest release; keep the README's supported-clients table in step
    "openai": "3.57.0",
    "anthropic": "2.14.0",
    "google-genai": "3.6.1",
    "groq": "1.7.0",
    "mistralai": "3.7.0",
    "cohere": "7.3.1",
    "litellm": "1.110.2",
    "langchain-openai": "1.7.4",
    "boto3": "1.44.8",
}
MATRIX: dict[str, tuple[str, ...]] = {
    # (newest release, oldest claimed): the oldest is otel_llm's own claim
    client: (newest, SUPPORTED[client][0])
    for client, newest in NEWEST.items()
}
EXTRAS: dict[str, tuple[str, ...]] = {
    # Bedrock's GenAI spans come from the botocore instrumentation (see docs/clients.md)
    "boto3": ("opentelemetry-instrumentation-botocore",),
}

_selected = {
    c.strip() for c in os.environ.get("OTEL_LLM_MATRIX_CLIENTS", "").split(",") if c.strip()
}
PARAMS = [
    pytest.param(client, version, id=f"{client}-{version}")
    for client, versions in MATRIX.items()
    if not _selected or client in _selected
    for version in versions
]

pytestmark = [
    pytest.mark.matrix,
    pytest.mark.skipif(
        os.environ.get("OTEL_LLM_MATRIX", "1") == "0", reason="OTEL_LLM_MATRIX=0: matrix off"
    ),
]


def _uv() -> list[str]:
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def environment(client: str, version: str) -> Path:
    """The client's environment, built once per spec (``uv venv`` + editable project)."""
    env_dir = CACHE / f"{client}-{version}"
    python = env_dir / "bin" / "python"
    spec = json.dumps(
        {
            "client": client,
            "version": version,
            "python": sys.version.split()[0],
            "pyproject": (ROOT / "pyproject.toml").read_text(),
            "root": str(ROOT),
            "extras": EXTRAS.get(client, ()),
        }
    )
    marker = env_dir / ".otel-llm-matrix.json"
    if python.exists() and marker.exists() and marker.read_text() == spec:
        return python
    shutil.rmtree(env_dir, ignore_errors=True)
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    run = dict(capture_output=True, text=True, timeout=900, check=False)
    made = subprocess.run([*_uv(), "venv", "--python", sys.executable, str(env_dir)], **run)  # type: ignore[call-overload]
    assert made.returncode == 0, made.stderr
    installed = subprocess.run(
        [
            *_uv(),
            "pip",
            "install",
            "--python",
            str(python),
            "-e",
            str(ROOT),
            f"{client}=={version}",
            *EXTRAS.get(client, ()),
        ],
        **run,  # type: ignore[call-overload]
    )
    assert installed.returncode == 0, (
        f"cannot build the {client} {version} environment:\n{installed.stderr[-3000:]}"
    )
    marker.write_text(spec)
    return python


@pytest.fixture(scope="module")
def mock() -> Iterator[Any]:
    server = serve_in_thread(MockLLMConfig(seed=7, latency_scale=0.0))
    try:
        yield server
    finally:
        server.close()


def _price(price_id: str, model: str, usage: dict[str, int]) -> float:
    return float(
        calc_price(
            Usage(
                input_tokens=usage.get("input", 0),
                output_tokens=usage.get("output", 0),
                cache_read_tokens=usage.get("cache_read", 0),
                output_reasoning_tokens=usage.get("reasoning", 0),
            ),
            model,
            provider_id=price_id,
        ).total_price
    )


def drive(
    client: str, version: str, port: int, out: Path
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    python = environment(client, version)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OPENAI_", "ANTHROPIC_"))
    }
    env |= {
        "OTEL_LLM_LOG_LEVEL": "WARNING",
        "OTEL_SDK_DISABLED": "false",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    done = subprocess.run(
        [str(python), str(DRIVER), client, str(port), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, f"driver failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    spans = [json.loads(line) for line in (out / "spans.jsonl").read_text().splitlines()]
    calls = [json.loads(line) for line in (out / "calls.jsonl").read_text().splitlines()]
    return spans, calls


@pytest.mark.timeout(900)
@pytest.mark.parametrize(("client", "version"), PARAMS)
def test_client(client: str, version: str, mock: Any, tmp_path: Path) -> None:
    spans, calls = drive(client, version, mock.port, tmp_path)
    genai = [s for s in spans if "gen_ai.operation.name" in s["attributes"]]
    assert calls, "the driver made no call"
    for call in calls:
        mine = [s for s in genai if s["attributes"].get("request.id") == call["request_id"]]
        assert len(mine) == 1, (
            f"{call['request_id']}: {len(mine)} GenAI spans: {[s['name'] for s in mine]}"
        )
        span = mine[0]
        attrs = span["attributes"]
        model = call["request_model"]
        assert span["name"] == f"{call['operation']} {model}", span["name"]
        assert span["kind"] == "CLIENT"
        # the botocore instrumentation still writes the older gen_ai.system spelling,
        # which every reader of the contract accepts
        provider = attrs.get("gen_ai.provider.name") or attrs.get("gen_ai.system")
        assert provider == call["provider"], attrs
        assert attrs["gen_ai.request.model"] == model
        if not call.get("no_response_model"):
            assert attrs.get("gen_ai.response.model"), attrs
        assert attrs.get("otel_llm.provider.unresolved") is None
        n_in = attrs.get("gen_ai.usage.input_tokens")
        n_out = attrs.get("gen_ai.usage.output_tokens")
        assert isinstance(n_in, int) and n_in > 0, attrs
        assert isinstance(n_out, int) and n_out > 0, attrs
        usage = call.get("usage")
        if usage is not None:
            assert n_in == usage["input"], (attrs, usage)
            assert n_out == usage["output"], (attrs, usage)
            if usage.get("reasoning"):
                assert attrs["gen_ai.usage.reasoning.output_tokens"] == usage["reasoning"]
            assert not attrs.get("otel_llm.usage.estimated")
        if call.get("estimated"):
            # a stream that carries no usage: estimated, still priced
            assert attrs.get("otel_llm.usage.estimated") is True, attrs
        if call["stream"]:
            assert attrs.get("gen_ai.request.stream") is True
        cost = attrs.get("gen_ai.usage.cost.amount")
        if call.get("provider_cost") is not None:
            assert attrs["gen_ai.usage.cost.source"] == "provider"
            assert math.isclose(cost, call["provider_cost"], rel_tol=1e-9)
            continue
        assert attrs.get("gen_ai.usage.cost.source") == "local", attrs
        expected_usage = {
            "input": n_in,
            "output": n_out,
            "cache_read": attrs.get("gen_ai.usage.cache_read.input_tokens", 0),
            "reasoning": attrs.get("gen_ai.usage.reasoning.output_tokens", 0),
        }
        priced_model = attrs.get("gen_ai.response.model") or model
        expected = _price(call["price_id"], priced_model, expected_usage)
        assert math.isclose(cost, expected, rel_tol=1e-9), (cost, expected, priced_model)
