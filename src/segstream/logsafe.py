"""Logging filters: one replaces secrets (Kafka passwords, the API token, a Redis URL's
password) with ``***`` in every record a handler writes, exceptions included; one turns a
client library's retried, harmless errors into the INFO lines they are."""

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


class RetriedIsNotAnError(logging.Filter):
    """aiokafka logs ``Group Coordinator Request failed`` at ERROR each time it asks for a
    consumer group's coordinator before the broker has one: on every start of a new group
    (the broker is still creating ``__consumer_offsets``), and after a broker restart. It
    retries those and goes on; only an error it does not retry stays an ERROR.

    >>> import logging
    >>> class Retriable(Exception): retriable = True
    >>> r = logging.LogRecord("aiokafka", logging.ERROR, "", 0, "Group Coordinator Request failed: %s",
    ...                       (Retriable("CoordinatorNotAvailable"),), None)
    >>> RetriedIsNotAnError().filter(r), r.levelname, r.getMessage()
    (True, 'INFO', 'Group Coordinator Request failed: CoordinatorNotAvailable (retried)')
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        lookup = record.levelno == logging.ERROR and str(record.msg).startswith("Group Coordinator Request failed")
        if lookup and args and getattr(args[0], "retriable", False):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg = f"{record.msg} (retried)"
        return True


def install(secrets: Iterable[str], logger: logging.Logger | None = None) -> None:
    """Redact ``secrets`` in whatever the handlers of ``logger`` (the root logger) write, and
    keep kafka-python's logger above DEBUG (it logs its whole configuration there)."""
    flt = RedactSecrets(secrets)
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(flt)
    kafka = logging.getLogger("kafka")
    kafka.setLevel(max(logging.INFO, kafka.getEffectiveLevel()))
    # a logger's filters run before its handlers look at the level: an INFO record is dropped
    # by handlers above INFO, as if it had been logged at INFO
    logging.getLogger("aiokafka.consumer.group_coordinator").addFilter(RetriedIsNotAnError())
