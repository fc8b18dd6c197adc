#!/usr/bin/env bash
# The whole test suite: lint and types, the Node package's tests, then pytest
# (unit tests, shared test vectors, and integration tests on real backend binaries).
# Extra arguments go to pytest, e.g. ./test.sh tests/unit -x
set -euo pipefail
cd "$(dirname "$0")"
UV="uv"
command -v uv >/dev/null 2>&1 || UV="python3 -m uv"

echo "== ruff, mypy" >&2
$UV run ruff check .
$UV run ruff format --check .
$UV run mypy

if [ -f node/package.json ] && [ -z "${OTEL_LLM_SKIP_NODE:-}" ]; then
  echo "== node" >&2
  (cd node && npm test)
fi

echo "== pytest" >&2
$UV run pytest "$@"
