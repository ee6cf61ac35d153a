"""Logging: structlog on top of the standard library, JSON lines by default.

:func:`configure_logging` routes both structlog loggers and plain ``logging``
loggers (uvicorn, botocore, ...) through one handler on stderr that renders
JSON (``PREWORK_LOG_JSON=true``, the default) or coloured console lines.
Values bound with ``structlog.contextvars`` (the request id) are added to
every line logged while they are bound. uvicorn's own access log is switched
off: :class:`prework.http.middleware.RequestContextMiddleware` writes one.

Tracebacks are rendered without the values of local variables (structlog and
Rich show them by default): a frame's locals hold Authorization headers,
tokens and passwords, and none of those may ever reach a log line.
"""

from __future__ import annotations

import logging
import sys
from typing import Final, TextIO

import structlog
import structlog.tracebacks
from structlog.typing import Processor

from prework.config import Settings

__all__ = ["configure_logging"]

_HANDLER_NAME: Final = "prework"

# loggers that are noisy at INFO and say nothing an operator needs
_QUIET: Final = ("botocore", "aiobotocore", "urllib3", "asyncio", "multipart")


def configure_logging(settings: Settings, *, stream: TextIO | None = None) -> None:
    """Configure structlog and the standard library. Safe to call again."""
    level = getattr(logging, settings.log_level.upper())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    final: list[Processor]
    if settings.log_json:
        tracebacks = structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        )
        final = [tracebacks, structlog.processors.JSONRenderer()]
    else:
        final = [
            structlog.dev.ConsoleRenderer(
                colors=(stream or sys.stderr).isatty(),
                exception_formatter=structlog.dev.plain_traceback,
            )
        ]

    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.UnicodeDecoder(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # not cached: structlog.testing.capture_logs() must see every logger
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    # uvicorn: errors through our handler, no access log of its own
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.disabled = True
