#!/usr/bin/env bash
# One-time set-up on a fresh machine: uv, the Python environment, the Node package,
# and the backend binaries the integration tests run (Collector, Jaeger, Prometheus,
# Alertmanager; cached under ~/.cache/otel-llm, built once).
# OTEL_LLM_SKIP_STACK=1 skips the backend binaries (enough for the demo and unit tests).
set -euo pipefail
cd "$(dirname "$0")"

UV_VERSION=0.13.8
if ! command -v uv >/dev/null 2>&1 || [ "$(uv --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  echo "setup: installing uv $UV_VERSION" >&2
  python3 -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
fi
UV="uv"
command -v uv >/dev/null 2>&1 || UV="python3 -m uv"

echo "setup: Python environment (pinned, hash-checked: requirements.lock)" >&2
$UV venv --quiet --allow-existing --python 3.11 .venv
$UV pip sync --quiet --python .venv/bin/python requirements.lock
$UV pip install --quiet --python .venv/bin/python --no-deps --editable .

if [ -f node/package.json ]; then
  if command -v npm >/dev/null 2>&1; then
    echo "setup: Node package" >&2
    (cd node && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
  else
    echo "setup: npm not found; skipping the Node package" >&2
  fi
fi

if [ "${OTEL_LLM_SKIP_STACK:-0}" != "1" ] && [ -x stack/bin.sh ]; then
  echo "setup: backend binaries (first run builds them; cached afterwards)" >&2
  stack/bin.sh all >/dev/null
fi
echo "setup: done. Try: uv run otel-llm demo" >&2
