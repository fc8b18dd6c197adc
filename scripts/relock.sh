#!/usr/bin/env bash
# Re-resolve the pinned dependency set after changing pyproject.toml and export it as
# hash-checked requirement files with no index addresses inside: requirements.lock (all
# extras and the dev group; setup.sh installs it) and requirements-demo.lock (the demo
# extra only; the Dockerfile installs it). Arguments go to `uv lock`, e.g. --upgrade.
# Without --upgrade the versions pinned now are kept (passed as constraints), so a change
# to pyproject.toml moves only what it has to.
# uv refuses to lock a project marked unmanaged, so the resolution runs on a copy.
# When genai-prices moves: ./setup.sh, then `uv run python scripts/gen_price_data.py`
# rewrites otel_llm/_price_data.bin from its data (tests/unit/test_price_data.py fails
# until it is current).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
sed '/^managed = false$/d' "$root/pyproject.toml" > "$work/pyproject.toml"
if [ -f "$root/requirements.lock" ] && [[ " $* " != *" --upgrade "* ]]; then
  pins="$(grep -oE '^[A-Za-z0-9._-]+==[^ ;]+' "$root/requirements.lock" | sed 's/.*/"&",/' | tr -d '\n')"
  sed -i "s/^\[tool\.uv\]$/[tool.uv]\nconstraint-dependencies = [${pins}]/" "$work/pyproject.toml"
fi
cp "$root/README.md" "$work/"
mkdir "$work/otel_llm" && touch "$work/otel_llm/__init__.py"
cd "$work"
uv lock --quiet "$@"
uv export --frozen --all-extras --no-emit-project --format requirements-txt \
  --no-header -o "$root/requirements.lock" -q
uv export --frozen --extra demo --no-dev --no-emit-project --format requirements-txt \
  --no-header -o "$root/requirements-demo.lock" -q
echo "relock: wrote requirements.lock and requirements-demo.lock" >&2
if ! git -C "$root" diff --quiet -- requirements.lock 2>/dev/null \
  && git -C "$root" diff -- requirements.lock | grep -q '^[-+]genai-prices=='; then
  echo "relock: genai-prices moved: run ./setup.sh, then uv run python scripts/gen_price_data.py" >&2
fi
