"""Errors no retry can fix, and the one way a worker stops on them.

Redis refusing a command or a key to this ACL user (``NOPERM``), or its password; Kafka
refusing this user's credentials (revoked while the worker runs) or its access to a topic or
group. Retrying hides them behind an endless loop of warnings, and treating them as a bad
batch would dead-letter every valid event. The worker says what was refused in one line and
exits with :data:`EXIT_REFUSED`, leaving the batch in flight uncommitted (it is read again
once the access is fixed).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn

import aiokafka.errors as aioerrors
import kafka.errors as syncerrors
import redis.exceptions as rediserrors

log = logging.getLogger(__name__)

EXIT_REFUSED = 3
REFUSED: tuple[type[BaseException], ...] = (
    rediserrors.NoPermissionError,
    rediserrors.AuthenticationError,
    rediserrors.AuthenticationWrongNumberOfArgsError,
    aioerrors.AuthenticationFailedError,
    aioerrors.SaslAuthenticationFailed,
    aioerrors.TopicAuthorizationFailedError,
    aioerrors.GroupAuthorizationFailedError,
    aioerrors.ClusterAuthorizationFailedError,
    aioerrors.TransactionalIdAuthorizationFailed,
    syncerrors.SaslAuthenticationFailedError,
    syncerrors.AuthorizationError,
)


def refused(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) is an access refusal.

    >>> refused(rediserrors.NoPermissionError("NOPERM this user has no permissions to run the 'evalsha' command"))
    True
    >>> refused(rediserrors.ConnectionError("Connection refused")), refused(ValueError("x"))
    (False, False)
    """
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, REFUSED):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        seen += 1
    return False


def describe(exc: BaseException) -> str:
    """One line: which server refused what."""
    server = "Redis" if isinstance(exc, rediserrors.RedisError) else "Kafka"
    hint = (
        "the ACL user needs the commands and keys in docs/SECURITY.md"
        if server == "Redis"
        else "check the SASL credentials and the ACLs on segstream's topics and groups (docs/SECURITY.md)"
    )
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, rediserrors.NoPermissionError) and not text.startswith("NOPERM"):
        text = f"NOPERM {text}"  # redis-py drops the error code Redis sent
    return f"{server} refused access: {text} ({hint})"


def stop(what: str, exc: BaseException) -> NoReturn:
    """Log one line and exit the process at once: no retry, no dead letters, no commit."""
    log.critical("stopping: %s during %s", describe(exc), what)
    logging.shutdown()
    sys.stderr.flush()
    os._exit(EXIT_REFUSED)
