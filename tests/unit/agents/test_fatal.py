"""Access refusals (an ACL, revoked credentials) stop a worker in one line; outages do not."""

from __future__ import annotations

import asyncio
import logging

import aiokafka.errors as aioerrors
import kafka.errors as syncerrors
import pytest
import redis.exceptions as rediserrors

from segstream.agents import fatal


@pytest.mark.parametrize(
    "exc",
    [
        rediserrors.NoPermissionError("this user has no permissions to run the 'evalsha' command"),
        rediserrors.AuthenticationError("invalid username-password pair"),
        aioerrors.TopicAuthorizationFailedError(),
        aioerrors.GroupAuthorizationFailedError(),
        aioerrors.SaslAuthenticationFailed(),
        syncerrors.SaslAuthenticationFailedError(
            "Authentication failed during authentication due to invalid credentials"
        ),
    ],
)
def test_refusals_are_told_apart_even_when_wrapped(exc: BaseException) -> None:
    assert fatal.refused(exc)
    try:
        raise RuntimeError("batch failed") from exc
    except RuntimeError as wrapped:
        assert fatal.refused(wrapped)


@pytest.mark.parametrize(
    "exc",
    [
        rediserrors.ConnectionError("Connection refused"),
        rediserrors.TimeoutError(),
        rediserrors.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
        aioerrors.KafkaConnectionError(),
        aioerrors.NotLeaderForPartitionError(),
        ValueError("a bug"),
    ],
)
def test_outages_and_bugs_are_not_refusals(exc: BaseException) -> None:
    assert not fatal.refused(exc)


def test_stop_logs_one_line_naming_the_server_and_exits_3(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    codes: list[int] = []

    def exit_(code: int) -> None:
        codes.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(fatal.os, "_exit", exit_)
    with caplog.at_level(logging.CRITICAL), pytest.raises(SystemExit):
        fatal.stop("save", rediserrors.NoPermissionError("this user has no permissions to run the 'evalsha' command"))
    assert codes == [fatal.EXIT_REFUSED] == [3]
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
    assert "Redis refused access: NOPERM this user" in line and "during save" in line and "\n" not in line
    assert "Kafka refused access" in fatal.describe(aioerrors.TopicAuthorizationFailedError())


def test_a_leader_timer_stops_on_a_refusal_but_skips_a_tick_on_an_outage(monkeypatch: pytest.MonkeyPatch) -> None:
    from segstream.agents.maintenance import _skip_when_unavailable

    stopped: list[str] = []
    monkeypatch.setattr(fatal, "stop", lambda what, exc: stopped.append(what))

    async def refused_tick() -> None:
        raise aioerrors.TopicAuthorizationFailedError()  # a KafkaError, like the retryable ones

    async def outage_tick() -> None:
        raise rediserrors.ConnectionError("Connection refused")

    asyncio.run(_skip_when_unavailable(refused_tick)())
    asyncio.run(_skip_when_unavailable(outage_tick)())
    assert stopped == ["refused_tick"]
