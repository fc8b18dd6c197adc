"""Structured logging: one structlog pipeline for our loggers and the stdlib's.

:func:`configure_logging` shows the whole pipeline in order. Every line, whether written
through :func:`get_logger` or through stdlib ``logging`` (uvicorn, libraries), carries
``timestamp``, ``level``, ``event``, ``logger``, ``service`` and, while a request or a
span is current, ``request_id``, ``trace_id`` and ``span_id``. Secrets and personal data
are masked before rendering by :func:`redact_text` and :class:`Redactor`; their rules are
plain regular expressions that read the same in JavaScript (ASCII only, no ``\\s``, no
inline flags) and are written out, with the shared test vectors, in
``spec/vectors/README.md``.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any, Final, TextIO

import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor, WrappedLogger

from otel_llm.config import Settings
from otel_llm.context import current_request_id

__all__ = [
    "REDACTION_RULES",
    "Redactor",
    "add_correlation",
    "configure_logging",
    "get_logger",
    "is_content_key",
    "is_secret_key",
    "redact_text",
]

REDACTED: Final = "[REDACTED]"
REDACTED_CONTENT: Final = "[REDACTED:content]"

# (name, pattern, case-insensitive, replacement in JavaScript syntax), applied in order.
# Whitespace is spelled out (``\s`` means more in JavaScript than in Python's ASCII mode).
REDACTION_RULES: Final[tuple[tuple[str, str, bool, str], ...]] = (
    (
        "url_credentials",
        r"\b([A-Za-z][A-Za-z0-9+.-]*://)[^\t\n\v\f\r /?#@]+@",
        False,
        "$1[REDACTED]@",
    ),
    (
        "secret_assignment",
        r"""\b((?:[A-Za-z0-9]+[_-])*(?:api[_-]?key|token|secret|password|passwd|authorization"""
        r"""|credentials?))(["']?[\t ]*[:=][\t ]*["']?)(?:(?:bearer|basic|token)[\t ]+)?"""
        r"""[^\t\n\v\f\r "',;&<>(){}\[\]]+""",
        True,
        "$1$2[REDACTED]",
    ),
    (
        "api_key",
        r"\b(?:sk-[A-Za-z0-9_-]{16,}|sk_(?:live|test)_[A-Za-z0-9]{16,}|AIza[A-Za-z0-9_-]{35}"
        r"|AKIA[A-Z0-9]{16}|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}"
        r"|hf_[A-Za-z0-9]{30,}|xox[abposr]-[A-Za-z0-9-]{10,})",
        False,
        "[REDACTED:api_key]",
    ),
    (
        "bearer",
        r"\b(bearer)[\t ]+[A-Za-z0-9._~+/=-]{8,}",
        True,
        "$1 [REDACTED:token]",
    ),
    (
        "jwt",
        r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
        False,
        "[REDACTED:token]",
    ),
    (
        "email",
        r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
        False,
        "[REDACTED:email]",
    ),
    (
        "phone_international",
        r"\+(?<![\w+]\+)[1-9](?:[ .-]?\(?\d\)?){6,14}(?!\w)",
        False,
        "[REDACTED:phone]",
    ),
    (
        "phone_nanp",
        r"(?<![\w.+/-])(?:1[ .-])?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}(?!\w|[.-]\d)",
        False,
        "[REDACTED:phone]",
    ),
    (
        "phone_trunk_prefix",
        r"0(?<![\w.+/-]0)(?=(?:[ -]?\d){8,10}(?!\d))\d{1,4}(?:[ -]\d{2,8}){1,4}"
        r"(?!\w|[:.]\d|[ -]\d)",
        False,
        "[REDACTED:phone]",
    ),
)

SECRET_KEY_PATTERN: Final = (
    r"(?:^|[_.])(?:api_?key|token|secret|password|passwd|authorization|credentials?"
    r"|cookie|private_?key)$"
)
"""Matched against the key lower-cased with ``-`` turned into ``_``; the value is masked whole."""
CONTENT_KEY_PATTERN: Final = (
    r"^(?:gen_ai\.)?(?:(?:input|output)[._])?"
    r"(?:prompts?|messages|content|completions?|system_prompt|system_instructions)$"
)
"""Keys holding prompts or completions: masked whole unless content capture is on."""

# Cheap exact preconditions (a rule cannot match a text failing its gate), so most
# strings skip most regexes. An optimisation only: the results are the same without them.
_Gate = Callable[[str, str], bool]  # (text, lower-cased text) -> may match
_SECRET_WORDS: Final = ("key", "token", "secret", "passw", "authorization", "credential")
_API_KEY_PREFIXES: Final = ("sk-", "sk_", "AIza", "AKIA", "gh", "hf_", "xox")
_NANP_CORE: Final = re.compile(r"\d{3}[ .-]\d{4}", re.ASCII)
_GATES: Final[Mapping[str, _Gate]] = {
    "url_credentials": lambda t, low: "://" in t,
    "secret_assignment": lambda t, low: (
        ("=" in t or ":" in t) and any(w in low for w in _SECRET_WORDS)
    ),
    "api_key": lambda t, low: any(p in t for p in _API_KEY_PREFIXES),
    "bearer": lambda t, low: "bearer" in low,
    "jwt": lambda t, low: "eyJ" in t,
    "email": lambda t, low: "@" in t,
    "phone_international": lambda t, low: "+" in t,
    "phone_nanp": lambda t, low: _NANP_CORE.search(t) is not None,
    "phone_trunk_prefix": lambda t, low: "0" in t,
}
_RULES: Final = tuple(
    (
        re.compile(pattern, re.ASCII | (re.IGNORECASE if nocase else 0)),
        re.sub(r"\$(\d)", r"\\g<\1>", replacement),
        _GATES[name],
    )
    for name, pattern, nocase, replacement in REDACTION_RULES
)
_SECRET_KEY_RE: Final = re.compile(SECRET_KEY_PATTERN, re.ASCII)
_CONTENT_KEY_RE: Final = re.compile(CONTENT_KEY_PATTERN, re.ASCII)

# Fields the pipeline itself fills from validated or generated values: never rewritten,
# so a line's request_id always equals the spans' request.id.
_OWN_FIELDS: Final = frozenset(
    {"timestamp", "level", "logger", "service", "request_id", "trace_id", "span_id"}
)
# structlog's ProcessorFormatter bookkeeping: passed through untouched.
_META_FIELDS: Final = frozenset({"_record", "_from_structlog"})
_MAX_DEPTH: Final = 8
_HANDLER_MARK: Final = "_otel_llm_handler"
_STDLIB_ROUTED: Final = ("uvicorn", "uvicorn.error", "uvicorn.access", "gunicorn.error")


# Strings seen to need no masking (event texts, model names, routes repeat a lot): a set
# lookup instead of the rules. Bounded; emptied when full. Only clean text is kept.
_CLEAN: Final[set[str]] = set()
_CLEAN_MAX_ITEMS: Final = 4096
_CLEAN_MAX_LENGTH: Final = 256


def redact_text(text: str) -> str:
    """``text`` with API keys, tokens, e-mail addresses and phone numbers masked."""
    if text in _CLEAN:
        return text
    low, changed = text.lower(), False
    for regex, replacement, gate in _RULES:
        if gate(text, low):
            masked, count = regex.subn(replacement, text)
            if count:
                text, low, changed = masked, masked.lower(), True
    if not changed and len(text) <= _CLEAN_MAX_LENGTH:
        if len(_CLEAN) >= _CLEAN_MAX_ITEMS:
            _CLEAN.clear()
        _CLEAN.add(text)
    return text


def _normal_key(key: str) -> str:
    return key.lower().replace("-", "_")


def is_secret_key(key: str) -> bool:
    """True for keys like ``authorization``, ``api_key``, ``db_password``, ``access_token``."""
    return _SECRET_KEY_RE.search(_normal_key(key)) is not None


def is_content_key(key: str) -> bool:
    """True for keys that hold prompts or completions (``prompt``, ``messages``...)."""
    return _CONTENT_KEY_RE.match(_normal_key(key)) is not None


class Redactor:
    """structlog processor masking secrets and personal data in every value.

    Strings are rewritten by :func:`redact_text`; dicts, lists and tuples are walked
    (copied, never mutated in place); other objects are masked in their ``repr``, which
    is what the renderers would print. Values under secret-like keys are masked whole,
    and prompt/completion keys too unless ``capture_content``.
    """

    def __init__(self, *, capture_content: bool = False) -> None:
        self.capture_content = capture_content
        self._key_cache: dict[str, str | None] = {}

    def _key_mask(self, key: str) -> str | None:
        mask = self._key_cache.get(key, "")
        if mask == "":
            if is_secret_key(key):
                mask = REDACTED
            elif not self.capture_content and is_content_key(key):
                mask = REDACTED_CONTENT
            else:
                mask = None
            if len(self._key_cache) < 4096:  # bounded: keys are code, not data, mostly
                self._key_cache[key] = mask
        return mask

    def _value(self, value: Any, depth: int) -> Any:
        if isinstance(value, str):
            return redact_text(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if depth < _MAX_DEPTH:
            if isinstance(value, Mapping):
                return self._mapping(value, depth + 1)
            if isinstance(value, list | tuple):
                items = [self._value(v, depth + 1) for v in value]
                return items if isinstance(value, list) else tuple(items)
        return redact_text(repr(value))

    def _mapping(self, mapping: Mapping[Any, Any], depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key, value in mapping.items():
            mask = self._key_mask(key) if isinstance(key, str) else None
            out[key] = mask if mask is not None else self._value(value, depth)
        return out

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        for key, value in event_dict.items():
            if key in _OWN_FIELDS or key in _META_FIELDS:
                continue
            mask = self._key_mask(key)
            event_dict[key] = mask if mask is not None else self._value(value, 0)
        return event_dict


def add_service(service: str) -> Processor:
    """Processor setting ``service`` (the OpenTelemetry ``service.name``)."""

    def _add_service(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        event_dict["service"] = service
        return event_dict

    return _add_service


def add_correlation(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Add ``request_id``, ``trace_id`` and ``span_id`` (hex) when they are known."""
    request_id = current_request_id()
    if request_id is not None:
        event_dict["request_id"] = request_id
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event_dict["trace_id"] = format(span_context.trace_id, "032x")
        event_dict["span_id"] = format(span_context.span_id, "016x")
    return event_dict


def configure_logging(
    settings: Settings,
    *,
    service_name: str | None = None,
    stream: TextIO | None = None,
) -> None:
    """Set up structlog and route stdlib ``logging`` through the same pipeline.

    Idempotent: a second call replaces the first one's handler and configuration.
    ``stream`` defaults to ``sys.stderr``. A plain ``StreamHandler`` left on the root
    logger (``logging.basicConfig``) is removed so lines are not printed twice in two
    formats; other handlers (files, OpenTelemetry's ``LoggingHandler``) are kept.

    ``settings.log_level`` is the level of otel-llm's loggers and of those made by
    :func:`get_logger`; no other logger's level changes (the root logger's included), so
    a library logs through the pipeline at the level the application gave it (Python's
    default: WARNING and above).
    """
    level = logging.getLevelName(settings.log_level.upper())
    if not isinstance(level, int):
        raise ValueError(
            f"OTEL_LLM_LOG_LEVEL must be a logging level name, got {settings.log_level!r}"
        )
    stream = sys.stderr if stream is None else stream
    service = service_name or settings.service_name or "unknown_service"

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        add_service(service),
        add_correlation,
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,  # before redaction: tracebacks hold secrets too
        Redactor(capture_content=settings.capture_content),
    ]
    renderer: Processor
    if settings.log_format == "console":
        colors = _isatty(stream) and "NO_COLOR" not in os.environ
        renderer = structlog.dev.ConsoleRenderer(colors=colors)
    else:
        renderer = structlog.processors.JSONRenderer()

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.stdlib.PositionalArgumentsFormatter(),
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached, so that a second configure_logging reaches loggers made earlier.
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)

    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, _HANDLER_MARK, False) or type(old) is logging.StreamHandler:
            root.removeHandler(old)
    root.addHandler(handler)
    _set_own_level(level)
    for name in _STDLIB_ROUTED:  # their own handlers would print a second, unlike line
        routed = logging.getLogger(name)
        routed.handlers.clear()
        routed.propagate = True


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    """A structlog logger that goes through the pipeline set by :func:`configure_logging`.

    Without a name it is named after the calling module (looked up once, here, rather
    than by structlog on every call). Its level is ``OTEL_LLM_LOG_LEVEL`` unless the
    stdlib logger of that name has a level of its own.
    """
    if name is None:
        name = sys._getframe(1).f_globals.get("__name__", "root")
    if name not in _OWN_LOGGERS and name != "root":
        stdlib = logging.getLogger(name)
        if stdlib.level == logging.NOTSET:  # a level set by the application stays
            _OWN_LOGGERS.add(name)
            if _own_level is not None:
                stdlib.setLevel(_own_level)
    return structlog.stdlib.get_logger(name)


# Loggers whose level OTEL_LLM_LOG_LEVEL sets: otel-llm's own and those made by
# get_logger() without a level of their own. The root logger and other libraries' loggers
# keep their levels: lowering the root's to INFO would switch on every library's INFO
# lines (httpx logs one per request) and run them through the pipeline.
_OWN_LOGGERS: Final[set[str]] = {"otel_llm"}
_own_level: int | None = None


def _set_own_level(level: int) -> None:
    global _own_level
    previous, _own_level = _own_level, level
    for name in _OWN_LOGGERS:
        own = logging.getLogger(name)
        # leave a level the application set after ours
        if own.level in (logging.NOTSET, previous):
            own.setLevel(level)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
