"""A logging filter that replaces secrets (Kafka passwords, the API token, a Redis URL's
password) with ``***`` in every record a handler writes, exceptions included."""

from __future__ import annotations

import logging
from collections.abc import Iterable


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def _clean(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        msg = record.getMessage()
        cleaned = self._clean(msg)
        if cleaned != msg:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        return True


def install(secrets: Iterable[str], logger: logging.Logger | None = None) -> None:
    """Redact ``secrets`` in whatever the handlers of ``logger`` (the root logger) write, and
    keep kafka-python's logger above DEBUG (it logs its whole configuration there)."""
    flt = RedactSecrets(secrets)
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(flt)
    kafka = logging.getLogger("kafka")
    kafka.setLevel(max(logging.INFO, kafka.getEffectiveLevel()))
