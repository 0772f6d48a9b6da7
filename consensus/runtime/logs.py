"""Structured logging: one JSON object per line.

Code logs with the standard library and puts its fields in ``extra={"fields": {...}}``::

    log.info("peer connected", extra={"fields": {"node": 1, "peer": 2}})

and :func:`configure_logging` makes every record a line like
``{"ts": "2025-01-01T00:00:00.123Z", "level": "info", "logger": "consensus.transport.tcp",
"event": "peer connected", "node": 1, "peer": 2}``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import IO, Any


class JsonLinesFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line: dict[str, Any] = {
            "ts": f"{ts}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                line.setdefault(key, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str = "info", stream: IO[str] | None = None) -> None:
    """Send every log record to ``stream`` (stderr by default) as JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLinesFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
