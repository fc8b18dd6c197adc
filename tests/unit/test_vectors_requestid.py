"""The shared vectors (spec/vectors) through the Python implementation.

The Node package runs the same files; when a ``node`` binary is on the PATH the rules as
written in spec/vectors/README.md are also checked with JavaScript's own regex engine.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from otel_llm.logs import (
    CONTENT_KEY_PATTERN,
    REDACTION_RULES,
    SECRET_KEY_PATTERN,
    is_content_key,
    is_secret_key,
    redact_text,
)
from otel_llm.requestid import REQUEST_ID_PATTERN, validate_request_id

VECTORS = Path(__file__).resolve().parents[2] / "spec" / "vectors"
REQUEST_ID = json.loads((VECTORS / "request_id.json").read_text())
REDACTION = json.loads((VECTORS / "redaction.json").read_text())


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [c.get("name") or c["key"] for c in cases]


def test_vector_files_are_well_formed() -> None:
    for cases in (REQUEST_ID["cases"], REDACTION["cases"], REDACTION["key_cases"]):
        names = _ids(cases)
        assert len(names) == len(set(names))
    inputs = [c["input"] for c in REQUEST_ID["cases"]]
    assert "A" * 128 in inputs and "A" * 129 in inputs and None in inputs and "" in inputs
    assert any(c["expected"] == c["input"] for c in REDACTION["cases"])  # false positives
    assert any(c["expected"] != c["input"] for c in REDACTION["cases"])


@pytest.mark.parametrize("case", REQUEST_ID["cases"], ids=_ids(REQUEST_ID["cases"]))
def test_request_id_vector(case: dict[str, Any]) -> None:
    value = case["input"]
    result = validate_request_id(value)
    assert (result is not None) is case["valid"]
    if case["valid"]:
        assert result == value
    if isinstance(value, str):  # as a header value (bytes) the answer is the same
        raw = value.encode("utf-8", "surrogatepass")
        assert (validate_request_id(raw) is not None) is case["valid"]


@pytest.mark.parametrize("case", REDACTION["cases"], ids=_ids(REDACTION["cases"]))
def test_redaction_vector(case: dict[str, Any]) -> None:
    assert redact_text(case["input"]) == case["expected"]
    assert redact_text(case["expected"]) == case["expected"]


@pytest.mark.parametrize("case", REDACTION["key_cases"], ids=_ids(REDACTION["key_cases"]))
def test_key_vector(case: dict[str, Any]) -> None:
    assert is_secret_key(case["key"]) is case["secret"]
    assert is_content_key(case["key"]) is case["content"]


def test_readme_states_the_rules_verbatim() -> None:
    readme = (VECTORS / "README.md").read_text()
    for pattern in (REQUEST_ID_PATTERN, SECRET_KEY_PATTERN, CONTENT_KEY_PATTERN):
        assert f"\n{pattern}\n" in readme or f"  {pattern}\n" in readme, pattern
    for name, pattern, nocase, replacement in REDACTION_RULES:
        flags = "gi" if nocase else "g"
        assert f"`{name}`, flags `{flags}`, replacement `{replacement}`" in readme, name
        assert f"   {pattern}\n" in readme, name


_JS_CHECK = r"""
const spec = JSON.parse(require("fs").readFileSync(0, "utf8"));
const failures = [];
const rid = new RegExp(spec.request_id_pattern);
for (const c of spec.request_id.cases) {
  if ((c.input !== null && rid.test(c.input)) !== c.valid) failures.push(["request_id", c.name]);
}
const rules = spec.rules.map(([, p, nocase, rep]) => [new RegExp(p, nocase ? "gi" : "g"), rep]);
for (const c of spec.redaction.cases) {
  let t = c.input;
  for (const [re, rep] of rules) t = t.replace(re, rep);
  if (t !== c.expected) failures.push(["redaction", c.name, t]);
}
const secret = new RegExp(spec.secret_key), content = new RegExp(spec.content_key);
for (const c of spec.redaction.key_cases) {
  const k = c.key.toLowerCase().replace(/-/g, "_");
  if (secret.test(k) !== c.secret || content.test(k) !== c.content) failures.push(["key", c.key]);
}
process.stdout.write(JSON.stringify(failures));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="no node binary")
def test_rules_read_the_same_in_javascript() -> None:
    spec = {
        "request_id_pattern": REQUEST_ID_PATTERN,
        "rules": REDACTION_RULES,
        "secret_key": SECRET_KEY_PATTERN,
        "content_key": CONTENT_KEY_PATTERN,
        "request_id": REQUEST_ID,
        "redaction": REDACTION,
    }
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run(
        [node, "-e", _JS_CHECK],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert json.loads(done.stdout) == []
