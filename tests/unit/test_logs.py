"""The structlog pipeline: fields, correlation, stdlib routing, redaction, idempotence."""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider

from otel_llm import logs
from otel_llm.config import Settings
from otel_llm.context import RequestState, request_state
from otel_llm.logs import (
    REDACTION_RULES,
    Redactor,
    configure_logging,
    get_logger,
    is_content_key,
    is_secret_key,
    redact_text,
)

SETTINGS = Settings(service_name="svc-a", log_format="json")
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    names = ("uvicorn", "uvicorn.error", "uvicorn.access", "gunicorn.error", "lib")
    routed = {
        name: (list(lg.handlers), lg.propagate, lg.level, lg.disabled)
        for name in names
        for lg in [logging.getLogger(name)]
    }
    for name in names:  # earlier tests (uvicorn runs) may have set levels or disabled them
        logging.getLogger(name).setLevel(logging.NOTSET)
        logging.getLogger(name).disabled = False
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for name, (handlers, prop, level, disabled) in routed.items():
        lg = logging.getLogger(name)
        lg.handlers[:] = handlers
        lg.propagate = prop
        lg.setLevel(level)
        lg.disabled = disabled
    structlog.reset_defaults()


@pytest.fixture
def configured(restore_logging: None) -> Callable[..., io.StringIO]:
    def configure(settings: Settings = SETTINGS, **kwargs: Any) -> io.StringIO:
        stream = io.StringIO()
        configure_logging(settings, stream=stream, **kwargs)
        return stream

    return configure


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_line_has_the_contract_fields(configured: Callable[..., io.StringIO]) -> None:
    stream = configured()
    get_logger("otel_llm.example").info("call finished", input_tokens=512, model="gpt-4o-mini")
    (line,) = records(stream)
    assert line["event"] == "call finished"
    assert line["level"] == "info"
    assert line["logger"] == "otel_llm.example"
    assert line["service"] == "svc-a"
    assert ISO_UTC.match(line["timestamp"])
    assert line["input_tokens"] == 512 and line["model"] == "gpt-4o-mini"
    # Outside a request and a span there is nothing to correlate with.
    assert not {"request_id", "trace_id", "span_id"} & line.keys()


def test_service_name_argument_wins_and_default(configured: Callable[..., io.StringIO]) -> None:
    stream = configured(service_name="from-arg")
    get_logger("x").info("a")
    assert records(stream)[0]["service"] == "from-arg"
    stream = configured(Settings())
    get_logger("x").info("b")
    assert records(stream)[0]["service"] == "unknown_service"


def test_correlation_inside_a_request_and_a_span(configured: Callable[..., io.StringIO]) -> None:
    stream = configured()
    tracer = TracerProvider().get_tracer("t")
    with request_state(RequestState("rid-42")), tracer.start_as_current_span("s") as span:
        get_logger("x").info("inside")
        logging.getLogger("some.library").warning("stdlib inside")
    ctx = span.get_span_context()
    for line in records(stream):
        assert line["request_id"] == "rid-42"
        assert line["trace_id"] == format(ctx.trace_id, "032x")
        assert line["span_id"] == format(ctx.span_id, "016x")


def test_stdlib_logging_goes_through_the_same_pipeline(
    configured: Callable[..., io.StringIO],
) -> None:
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.addHandler(logging.StreamHandler(io.StringIO()))  # uvicorn's own, replaced
    uvicorn_access.propagate = False
    uvicorn_access.setLevel(logging.INFO)  # as uvicorn's logging config does
    logging.getLogger("lib").setLevel(logging.INFO)  # the application's choice
    stream = configured()
    uvicorn_access.info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:52344", "GET", "/v1?api_key=abc123", "1.1", 200
    )
    logging.getLogger("lib").info("with extra", extra={"user_email": "ann@example.org", "n": 3})
    access, extra = records(stream)
    assert access["event"] == '127.0.0.1:52344 - "GET /v1?api_key=[REDACTED] HTTP/1.1" 200'
    assert access["logger"] == "uvicorn.access"
    assert access["level"] == "info"
    assert access["service"] == "svc-a"
    assert ISO_UTC.match(access["timestamp"])
    assert extra["user_email"] == "[REDACTED:email]" and extra["n"] == 3
    assert not uvicorn_access.handlers and uvicorn_access.propagate


def test_redaction_of_event_nested_values_and_keys(
    configured: Callable[..., io.StringIO],
) -> None:
    stream = configured()

    class Thing:
        def __repr__(self) -> str:
            return "Thing(owner=bob@example.com)"

    payload = {"headers": {"Authorization": "Bearer abcdefgh12345678", "accept": "json"}}
    get_logger("x").info(
        "user bob@example.com called with sk-ant-api03-abcdefghijklmnopqrstu",
        request=payload,
        contacts=["+44 20 7946 0958", ("ann@example.org", 7)],
        password="hunter2",
        api_key={"nested": "whole value masked"},
        thing=Thing(),
        input_tokens=128000,
        duration_ms=1234.5,
        prompt="tell me a secret",
        messages=[{"role": "user", "content": "hi"}],
        content_type="application/json",
    )
    (line,) = records(stream)
    assert line["event"] == "user [REDACTED:email] called with [REDACTED:api_key]"
    assert line["request"] == {"headers": {"Authorization": "[REDACTED]", "accept": "json"}}
    assert line["contacts"] == ["[REDACTED:phone]", ["[REDACTED:email]", 7]]
    assert line["password"] == "[REDACTED]"
    assert line["api_key"] == "[REDACTED]"
    assert line["thing"] == "Thing(owner=[REDACTED:email])"
    assert line["input_tokens"] == 128000 and line["duration_ms"] == 1234.5
    assert line["prompt"] == "[REDACTED:content]"
    assert line["messages"] == "[REDACTED:content]"
    assert line["content_type"] == "application/json"
    assert payload["headers"]["Authorization"] == "Bearer abcdefgh12345678"  # not mutated


def test_content_is_kept_but_still_redacted_when_capture_is_on(
    configured: Callable[..., io.StringIO],
) -> None:
    stream = configured(SETTINGS.with_(capture_content=True))
    get_logger("x").info("llm", prompt="mail me at bob@example.com", messages=[{"content": "hi"}])
    (line,) = records(stream)
    assert line["prompt"] == "mail me at [REDACTED:email]"
    assert line["messages"] == [{"content": "hi"}]


def test_exception_tracebacks_are_redacted(configured: Callable[..., io.StringIO]) -> None:
    stream = configured()
    try:
        raise ValueError("bad key sk-proj-abcdefghijklmnopqrstuvwx for bob@example.com")
    except ValueError:
        get_logger("x").exception("failed")
        logging.getLogger("lib").exception("stdlib failed")
    for line in records(stream):
        assert "ValueError: bad key [REDACTED:api_key] for [REDACTED:email]" in line["exception"]
        assert "sk-proj" not in json.dumps(line)


def test_console_format(configured: Callable[..., io.StringIO]) -> None:
    stream = configured(SETTINGS.with_(log_format="console"))
    with request_state(RequestState("rid-c")):
        get_logger("x").info("hello console", email="bob@example.com")
    text = stream.getvalue()
    assert "hello console" in text and "request_id=rid-c" in text and "service=svc-a" in text
    assert "[REDACTED:email]" in text and "bob@" not in text
    assert "\x1b[" not in text  # no colour codes into a non-terminal
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_configure_twice_is_idempotent(configured: Callable[..., io.StringIO]) -> None:
    early = get_logger("early")
    basic = logging.StreamHandler(io.StringIO())  # what logging.basicConfig installs
    kept = logging.NullHandler()
    logging.getLogger().addHandler(basic)
    logging.getLogger().addHandler(kept)
    first = configured()
    second = configured(SETTINGS.with_(service_name="svc-b"))
    logging.getLogger("lib").setLevel(logging.INFO)
    early.info("once")
    logging.getLogger("lib").info("stdlib once")
    assert first.getvalue() == ""
    assert [(r["event"], r["service"]) for r in records(second)] == [
        ("once", "svc-b"),
        ("stdlib once", "svc-b"),
    ]
    handlers = logging.getLogger().handlers
    assert basic not in handlers and kept in handlers
    assert sum(getattr(h, "_otel_llm_handler", False) for h in handlers) == 1


def test_level_is_honoured_and_bad_level_rejected(configured: Callable[..., io.StringIO]) -> None:
    stream = configured(SETTINGS.with_(log_level="WARNING"))
    get_logger("x").info("dropped")
    get_logger("x").warning("kept")
    assert [r["event"] for r in records(stream)] == ["kept"]
    with pytest.raises(ValueError, match="OTEL_LLM_LOG_LEVEL"):
        configure_logging(SETTINGS.with_(log_level="LOUD"), stream=io.StringIO())


def test_other_loggers_keep_their_levels(configured: Callable[..., io.StringIO]) -> None:
    """configure() sets otel-llm's level only: the root's INFO would switch on httpx's
    per-request INFO line and send it through the pipeline on every call."""
    names = ("httpx", "httpx2", "httpcore", "openai", "anthropic", "urllib3", "lib", "some.library")
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in names)]
    logging.getLogger("openai").setLevel(logging.ERROR)  # set by the application
    before = [(lg.level, lg.getEffectiveLevel()) for lg in loggers]
    stream = configured(SETTINGS.with_(log_level="DEBUG"))
    configured(SETTINGS.with_(log_level="INFO"))
    stream = configured(SETTINGS.with_(log_level="DEBUG"))
    assert [(lg.level, lg.getEffectiveLevel()) for lg in loggers] == before
    logging.getLogger("httpx").info('HTTP Request: POST https://api.example "HTTP/1.1 200 OK"')
    logging.getLogger("httpx").warning("a warning still shows")
    get_logger("otel_llm.x").debug("ours at DEBUG")
    get_logger("app.module").debug("the app's, through get_logger")
    assert [r["event"] for r in records(stream)] == [
        "a warning still shows",
        "ours at DEBUG",
        "the app's, through get_logger",
    ]
    assert logging.getLogger("otel_llm").level == logging.DEBUG
    logging.getLogger("openai").setLevel(logging.NOTSET)


def test_a_level_the_application_set_on_a_get_logger_logger_stays(
    configured: Callable[..., io.StringIO],
) -> None:
    logging.getLogger("quiet.app").setLevel(logging.ERROR)
    stream = configured()
    get_logger("quiet.app").warning("dropped")
    get_logger("quiet.app").error("kept")
    assert [r["event"] for r in records(stream)] == ["kept"]
    logging.getLogger("quiet.app").setLevel(logging.NOTSET)


def test_get_logger_defaults_to_the_calling_module(configured: Callable[..., io.StringIO]) -> None:
    stream = configured()
    get_logger().info("named")
    assert records(stream)[0]["logger"] == __name__


def test_positional_arguments_are_formatted(configured: Callable[..., io.StringIO]) -> None:
    stream = configured()
    get_logger("x").info("sent to %s", "bob@example.com")
    assert records(stream)[0]["event"] == "sent to [REDACTED:email]"


# --- rules, directly ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "secret", "content"),
    [
        ("Authorization", True, False),
        ("X-Api-Key", True, False),
        ("completion_tokens", False, False),
        ("gen_ai.input.messages", False, True),
    ],
)
def test_key_rules(key: str, secret: bool, content: bool) -> None:
    assert is_secret_key(key) is secret
    assert is_content_key(key) is content


def test_redactor_walks_bounded_depth_and_cycles() -> None:
    deep: dict[str, Any] = {"v": "bob@example.com"}
    for _ in range(20):
        deep = {"d": deep}
    cyclic: list[Any] = ["ann@example.org"]
    cyclic.append(cyclic)
    out = Redactor()(None, "info", {"event": "e", "deep": deep, "cyclic": cyclic})
    assert "bob@" not in json.dumps(out["deep"], default=str)
    assert "ann@" not in str(out["cyclic"])


def _ungated(text: str) -> str:
    for regex, replacement, _gate in logs._RULES:
        text = regex.sub(replacement, text)
    return text


ALPHABET = "aAbBeEkKrRsStTyYzZ019+-_.:=@/ ()\"'\n,;&[]"
WORDS = ["sk-", "api_key", "Bearer ", "eyJ", "://", "@ex.com", "+44 ", "020 ", "415-555-", "token"]


@given(parts=st.lists(st.one_of(st.text(alphabet=ALPHABET, max_size=12), st.sampled_from(WORDS))))
def test_gates_never_change_the_result(parts: list[str]) -> None:
    text = "".join(parts)
    assert redact_text(text) == _ungated(text)
    assert redact_text(redact_text(text)) == redact_text(text)  # stable once masked


@pytest.mark.parametrize(
    "text",
    [
        "a" * 20000,
        "1 " * 10000,
        "a-" * 10000,
        "a@" * 10000,
        "token=" * 5000,
        "+1" * 10000,
        "0 12" * 5000,
        "x://" * 5000,
        "a_" * 10000 + "token",
    ],
)
def test_no_catastrophic_backtracking(text: str) -> None:
    started = time.perf_counter()
    redact_text(text)
    assert time.perf_counter() - started < 1.0


def test_rule_names_are_unique_and_gated() -> None:
    names = [name for name, *_ in REDACTION_RULES]
    assert len(names) == len(set(names)) == len(logs._GATES)


def test_own_fields_are_not_rewritten(configured: Callable[..., io.StringIO]) -> None:
    """A line's request_id must equal the spans' request.id, even when it looks like a key."""
    stream = configured()
    rid = "sk-abcdefghijklmnopqrstuvwx"
    with request_state(RequestState(rid)):
        get_logger("x").info("looks like a key", other=rid)
    (line,) = records(stream)
    assert line["request_id"] == rid
    assert line["other"] == "[REDACTED:api_key]"


def test_clean_text_cache_holds_only_clean_text() -> None:
    secret = "mail bob@example.com now"
    assert redact_text(secret) == redact_text(secret) == "mail [REDACTED:email] now"
    assert secret not in logs._CLEAN
    clean = "nothing to hide here 42"
    assert redact_text(clean) is clean
    assert clean in logs._CLEAN
    long_clean = "x" * (logs._CLEAN_MAX_LENGTH + 1)
    redact_text(long_clean)
    assert long_clean not in logs._CLEAN
