"""Kafka TLS and SASL from the settings, in the shape each Kafka client library takes.

kafka-python (``KafkaProducer``, ``KafkaConsumer``, ``KafkaAdminClient``) and aiokafka
(``AIOKafkaConsumer``) take the same keyword names, :func:`client_kwargs`; Faust takes one
credentials object, :func:`faust_credentials`. Every Kafka client segstream creates gets
them (a unit test walks the code for clients without them).
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faust.types.auth import CredentialsT

    from segstream.config import Settings

TLS = frozenset({"SSL", "SASL_SSL"})
SASL = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})


def ssl_context(s: Settings) -> ssl.SSLContext | None:
    """The TLS context of the settings (None without TLS). The broker's chain is always
    verified; ``kafka_ssl_check_hostname`` only turns the name check off."""
    if s.kafka_security_protocol not in TLS:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=s.kafka_ssl_cafile or None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if s.kafka_ssl_certfile:
        ctx.load_cert_chain(s.kafka_ssl_certfile, s.kafka_ssl_keyfile or None, password=s.kafka_key_password() or None)
    if not s.kafka_ssl_check_hostname:
        ctx.check_hostname = False
    return ctx


def client_kwargs(s: Settings) -> dict[str, Any]:
    """Security keyword arguments for kafka-python and aiokafka clients."""
    kw: dict[str, Any] = {"security_protocol": s.kafka_security_protocol}
    if (ctx := ssl_context(s)) is not None:
        kw["ssl_context"] = ctx
    if s.kafka_security_protocol in SASL:
        kw |= {
            "sasl_mechanism": s.kafka_sasl_mechanism,
            "sasl_plain_username": s.kafka_sasl_username,
            "sasl_plain_password": s.kafka_password(),
        }
    return kw


def faust_credentials(s: Settings) -> CredentialsT | None:
    """Faust's ``broker_credentials`` (None: plaintext)."""
    import faust

    ctx = ssl_context(s)
    if s.kafka_security_protocol in SASL:  # with a context Faust uses SASL_SSL, without SASL_PLAINTEXT
        return faust.SASLCredentials(
            username=s.kafka_sasl_username,
            password=s.kafka_password(),
            ssl_context=ctx,
            mechanism=s.kafka_sasl_mechanism,
        )
    if ctx is not None:
        return faust.SSLCredentials(ctx)  # a ready context: SSLCredentials(cafile=...) raises in faust-streaming 0.15
    return None


@contextmanager
def refused_logins() -> Iterator[list[BaseException]]:
    """The SASL refusals kafka-python meets while a client bootstraps. It retries them until
    its bootstrap timeout and then raises only "Unable to bootstrap"; its connection manager
    logs each refusal with the exception as an argument, which this collects (and keeps
    off the terminal meanwhile)."""
    from kafka.errors import AuthorizationError, SaslAuthenticationFailedError

    found: list[BaseException] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            args = record.args if isinstance(record.args, tuple) else ()
            found.extend(a for a in args if isinstance(a, (SaslAuthenticationFailedError, AuthorizationError)))

    logger = logging.getLogger("kafka.net.manager")
    level, propagate, handler = logger.level, logger.propagate, Collect()
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield found
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def describe_failure(s: Settings, exc: BaseException, refused: list[BaseException] | None = None) -> str:
    """One line for a Kafka client that could not start (no secret in it); ``refused``: what
    :func:`refused_logins` collected meanwhile, the real reason behind a bootstrap timeout."""
    from aiokafka import errors as aio
    from kafka import errors as kp

    if refused:
        exc = refused[-1]

    where = f"Kafka at {s.kafka_bootstrap}"
    if isinstance(exc, (kp.SaslAuthenticationFailedError, aio.SaslAuthenticationFailed)):
        return f"{where} refused the credentials of user {s.kafka_sasl_username!r} ({s.kafka_sasl_mechanism}): {exc}"
    if isinstance(exc, (kp.UnsupportedSaslMechanismError, aio.UnsupportedSaslMechanismError)):
        return f"{where} does not offer SASL {s.kafka_sasl_mechanism}: {exc}"
    if s.kafka_security_protocol == "PLAINTEXT":
        hint = " (if it expects TLS or SASL, set SEGSTREAM_KAFKA_SECURITY_PROTOCOL)"
    elif s.kafka_security_protocol in SASL:
        # the broker answers a wrong password with an error and closes the connection; the
        # client sometimes sees only the close
        hint = f" (did it refuse user {s.kafka_sasl_username!r} ({s.kafka_sasl_mechanism})? check the password)"
    else:
        hint = ""
    return f"cannot reach {where}: {exc}{hint}"


def tls_problem(s: Settings, timeout: float = 5.0) -> str | None:
    """A TLS handshake with the first bootstrap server that accepts TCP; the reason it
    fails, in one line (kafka-python retries a certificate error silently until its
    bootstrap timeout and then says only that it could not bootstrap)."""
    if (ctx := ssl_context(s)) is None:
        return None
    for hp in s.kafka_bootstrap.split(","):
        host, _, port = hp.strip().rpartition(":")
        try:
            raw = socket.create_connection((host, int(port)), timeout=timeout)
        except OSError:
            continue  # unreachable: the client says so
        try:
            with ctx.wrap_socket(raw, server_hostname=host):
                return None
        except ssl.SSLCertVerificationError as exc:
            ca = s.kafka_ssl_cafile or "the system CAs"
            return f"TLS with Kafka at {hp}: {exc.verify_message} (CA: {ca})"
        except (ssl.SSLError, OSError) as exc:
            return (
                f"TLS with Kafka at {hp} failed ({getattr(exc, 'reason', None) or exc}); is that port a TLS listener?"
            )
        finally:
            raw.close()
    return None
