"""structlog configuration: one line per event, a request id on every line.

Log calls pass ids, codes and counts, never personal data; a test suite-wide scan of the
captured output holds the code to that.

Exceptions are the one place where data could slip in unasked: a traceback renderer
that shows local variables prints request bodies and credentials, and an exception's
message may quote a stored value (a database driver's "Key (x)=(…)"). So every
``exc_info`` — ours or a library's (uvicorn, SQLAlchemy) — is replaced before rendering
by ``safe_exception``: the exception type and the frames (file, line, function), never
locals, source lines or messages. Rendering that is cheap, so a burst of errors cannot
stall the event loop.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import MutableMapping
from types import TracebackType
from typing import Any

import structlog

__all__ = ["configure_logging", "exception_summary", "safe_exception"]

_MAX_FRAMES = 12


def exception_summary(error: BaseException) -> dict[str, Any]:
    """Type and innermost frames of ``error``: safe to log (no locals, no message)."""
    frames = traceback.extract_tb(error.__traceback__)[-_MAX_FRAMES:]
    return {
        "error_type": f"{type(error).__module__}.{type(error).__qualname__}",
        "where": [f"{frame.filename.rsplit('/site-packages/', 1)[-1]}:{frame.lineno} {frame.name}" for frame in frames],
    }


def _exception_of(exc_info: Any) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3 and isinstance(exc_info[1], BaseException):
        return exc_info[1]
    if exc_info is True:
        current = sys.exc_info()[1]
        return current
    return None


def safe_exception(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: swap ``exc_info`` / ``exception`` for ``exception_summary``."""
    exc_info = event_dict.pop("exc_info", None)
    event_dict.pop("exception", None)
    error = _exception_of(exc_info)
    if error is not None:
        event_dict.update(exception_summary(error))
    return event_dict


class _NoTracebackFormatter(structlog.stdlib.ProcessorFormatter):
    """Never let the stdlib formatter append ``exc_text`` (a full traceback)."""

    def formatException(self, ei: tuple[type[BaseException], BaseException, TracebackType | None] | Any) -> str:
        return ""

    def format(self, record: logging.LogRecord) -> str:
        record.exc_text = None
        return super().format(record)


def _foreign_exc(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    record = event_dict.get("_record")
    if record is not None and record.exc_info:
        event_dict["exc_info"] = record.exc_info
        record.exc_info = None
    return event_dict


class _PathWithoutQuery(logging.Filter):
    """uvicorn's access line without the query string: a playback link's token (and
    whatever else a client puts there) stays out of the log. Its arguments are
    ``(client, method, path with query, HTTP version, status)``."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (args[0], args[1], args[2].split("?", 1)[0] + "?…", *args[3:])
        return True


def configure_logging(level: str = "INFO", *, json: bool = False) -> None:
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            safe_exception,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = _NoTracebackFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _foreign_exc,
            safe_exception,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not getattr(h, "_callvault", False)]
    handler._callvault = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # httpx logs every request's full URL at INFO: an alert webhook's URL often is its secret
    logging.getLogger("httpx").setLevel(logging.WARNING)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _PathWithoutQuery) for f in access.filters):
        access.addFilter(_PathWithoutQuery())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn's own handlers would print tracebacks themselves: route through ours
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
