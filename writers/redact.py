"""Keep secrets out of logs: a logging filter that masks known secret values.

botocore's DEBUG logs print request headers (the session token among them); users turn
DEBUG on when something fails. Whatever a handler would write, known secrets (secret
keys, session tokens) are replaced by a mask first.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

MASK = "****"
SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "FAULT_PROXY_RESIGN_SECRET_KEY")


class RedactingFilter(logging.Filter):
    def __init__(self) -> None:
        super().__init__("redact")
        self.secrets: set[str] = set()

    def add(self, secrets: Iterable[str | None]) -> None:
        self.secrets.update(s for s in secrets if s and len(s) >= 8)  # short values would mask ordinary words

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_filter = RedactingFilter()


def redact_logs(extra: Iterable[str | None] = ()) -> RedactingFilter:
    """Mask secrets from the environment (and `extra`) in everything the root handlers write."""
    _filter.add(os.environ.get(name) for name in SECRET_ENV)
    _filter.add(extra)
    for handler in logging.getLogger().handlers:
        if _filter not in handler.filters:
            handler.addFilter(_filter)
    return _filter
