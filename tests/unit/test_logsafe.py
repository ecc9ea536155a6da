"""Secrets never reach a log line, an exception text included."""

from __future__ import annotations

import io
import logging

from segstream.logsafe import RedactSecrets, install


def test_secrets_in_messages_arguments_and_exceptions_are_redacted() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactSecrets(["hunter22", "", "tok-en"]))
    log = logging.getLogger("segstream.test.logsafe")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("login with %s and tok-en", "hunter22")
        try:
            raise RuntimeError("password hunter22 refused")
        except RuntimeError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    text = out.getvalue()
    assert "hunter22" not in text and "tok-en" not in text
    assert text.count("***") == 4 and "refused" in text  # message twice, the traceback's source line and exception


def test_install_keeps_kafka_python_above_debug() -> None:
    kafka = logging.getLogger("kafka")
    before = kafka.level
    try:
        kafka.setLevel(logging.DEBUG)
        install(["x" * 8], logging.getLogger("segstream.test.empty"))
        assert kafka.level == logging.INFO
    finally:
        kafka.setLevel(before)


def test_aiokafkas_retried_coordinator_lookup_is_info_and_an_unretried_one_stays_an_error() -> None:
    from aiokafka.errors import GroupAuthorizationFailedError, GroupCoordinatorNotAvailableError

    root = logging.getLogger()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.setLevel(logging.WARNING)  # a worker at --loglevel=warn
    coordinator = logging.getLogger("aiokafka.consumer.group_coordinator")
    before = list(coordinator.filters)
    root.addHandler(handler)
    try:
        install([], root)
        # the call aiokafka makes (group_coordinator.py, ensure_coordinator_known)
        coordinator.error("Group Coordinator Request failed: %s", GroupCoordinatorNotAvailableError())
        coordinator.error("Group Coordinator Request failed: %s", GroupAuthorizationFailedError())
    finally:
        root.removeHandler(handler)
        coordinator.filters[:] = before
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR") and "GroupAuthorizationFailed" in lines[0], lines
