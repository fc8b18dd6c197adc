#!/usr/bin/env bash
# Re-resolve the pinned dependency set after changing pyproject.toml and export it as
# hash-checked requirement files with no index addresses inside: requirements.lock (all
# extras and the dev group; setup.sh installs it) and requirements-demo.lock (the demo
# extra only; the Dockerfile installs it). Arguments go to `uv lock`, e.g. --upgrade.
# uv refuses to lock a project marked unmanaged, so the resolution runs on a copy.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
sed '/^managed = false$/d' "$root/pyproject.toml" > "$work/pyproject.toml"
cp "$root/README.md" "$work/"
mkdir "$work/otel_llm" && touch "$work/otel_llm/__init__.py"
cd "$work"
uv lock --quiet "$@"
uv export --frozen --all-extras --no-emit-project --format requirements-txt \
  --no-header -o "$root/requirements.lock" -q
uv export --frozen --extra demo --no-dev --no-emit-project --format requirements-txt \
  --no-header -o "$root/requirements-demo.lock" -q
echo "relock: wrote requirements.lock and requirements-demo.lock" >&2
