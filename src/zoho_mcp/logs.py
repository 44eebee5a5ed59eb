"""structlog JSON on stderr, with secrets redacted from every line.

stdout is the MCP channel over stdio, so nothing here ever writes to it. The same `redact()` is used
for error messages and tool results, so a secret cannot leak through any of the three.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

import structlog

REDACTED = "***"

_SECRET_KEYS = re.compile(
    r"(authorization|access_token|refresh_token|client_secret|secret|password|api_key|apikey|token|cookie)$",
    re.IGNORECASE,
)
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # a credential after the scheme word is long; "a bearer token, or…" in prose is not one
    (re.compile(r"(Zoho-oauthtoken|Bearer)\s+[^\s\"',;]{10,}", re.IGNORECASE), r"\1 " + REDACTED),
    (re.compile(r"(/mcp/)[^/\s\"'?]+(/message)"), r"\1" + REDACTED + r"\2"),
    (
        re.compile(
            r"((?:access_token|refresh_token|client_secret|code|key|token)=)[^&\s\"']+", re.IGNORECASE
        ),
        r"\1" + REDACTED,
    ),
    (
        re.compile(r"(\"(?:access_token|refresh_token|client_secret)\"\s*:\s*\")[^\"]*(\")", re.IGNORECASE),
        r"\1" + REDACTED + r"\2",
    ),
    (re.compile(r"\b1000\.[0-9a-f]{16,}\.[0-9a-f]{16,}\b"), REDACTED),
]

_known_secrets: set[str] = set()
_known_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a secret value so that it is masked wherever it appears, whatever its shape."""
    if value and len(value) >= 6:
        with _known_lock:
            _known_secrets.add(value)


def redact(text: str) -> str:
    """Mask every secret we know of or can recognise in `text`."""
    if not text:
        return text
    for secret in sorted(_known_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any, key: str | None = None) -> Any:
    """Recursively redact a log or result value; values under secret-looking keys are masked whole."""
    if key is not None and _SECRET_KEYS.search(key) and value not in (None, "", False, True):
        if not isinstance(value, (int, float)):
            return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v) for v in value]
    if isinstance(value, BaseException):
        return redact(f"{type(value).__name__}: {value}")
    return value


def _redact_processor(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event_dict.keys()):
        event_dict[key] = redact_value(event_dict[key], key if key != "event" else None)
    return event_dict


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_NOISY = ("httpx", "httpx2", "httpcore", "urllib3", "mcp", "uvicorn.access", "SDKLogger")


class _Stderr:
    """Looks up `sys.stderr` at each write, so a replaced stderr (pytest capture, a closed pipe) is followed."""

    def write(self, text: str) -> int:
        try:
            return sys.stderr.write(text)
        except ValueError:  # stderr was closed under us: logging must never crash the caller
            return 0

    def flush(self) -> None:
        try:
            sys.stderr.flush()
        except ValueError:
            pass


def configure_logging(level: str = "info", stream: Any = None) -> None:
    """Route structlog and the standard-library loggers (mcp, httpx, uvicorn, zcrmsdk) to JSON on stderr."""
    out = stream if stream is not None else _Stderr()
    lvl = _LEVELS.get(level, logging.INFO)
    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            _redact_processor,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*_shared_processors(), structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                _redact_processor,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(lvl)
    for name in _NOISY:
        logging.getLogger(name).setLevel(max(lvl, logging.WARNING))
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.captureWarnings(True)


def get_logger(name: str | None = None, **initial: Any) -> Any:
    return structlog.get_logger(name, **initial)


def known_secrets() -> Iterable[str]:
    """For tests: the values `register_secret` has been told about."""
    with _known_lock:
        return tuple(_known_secrets)


def _ensure_stderr_default() -> None:
    """structlog's unconfigured default prints to stdout; in an MCP server that corrupts the channel."""
    if not structlog.is_configured():
        structlog.configure(
            processors=[*_shared_processors(), _redact_processor, structlog.processors.JSONRenderer()],
            logger_factory=structlog.WriteLoggerFactory(file=_Stderr()),  # type: ignore[arg-type]
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
            cache_logger_on_first_use=False,
        )


_ensure_stderr_default()
