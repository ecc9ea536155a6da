"""Kafka TLS/SASL settings reach every client (no broker: contexts and keyword arguments)."""

from __future__ import annotations

import ast
import ssl
from pathlib import Path

import faust
import pytest

from segstream.config import ConfigError, Settings, load_settings
from segstream.streams.security import client_kwargs, describe_failure, faust_credentials, ssl_context
from tests.tls import Pki, make_test_pki

ROOT = Path(__file__).resolve().parents[3]
CLIENTS = {"KafkaProducer", "KafkaConsumer", "KafkaAdminClient", "AIOKafkaConsumer", "AIOKafkaProducer"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_test_pki(tmp_path_factory.mktemp("pki"))


def secured(pki: Pki, **over: object) -> Settings:
    fields: dict[str, object] = dict(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-256",
        kafka_sasl_username="u",
        kafka_sasl_password="pa55-word",
        kafka_ssl_cafile=str(pki.ca),
        kafka_ssl_certfile=str(pki.client_cert),
        kafka_ssl_keyfile=str(pki.client_key),
        kafka_ssl_key_password_file=str(pki.client_key_pw),
    )
    return Settings(**(fields | over))  # type: ignore[arg-type]


def test_plaintext_gives_only_the_protocol() -> None:
    s = Settings()
    assert client_kwargs(s) == {"security_protocol": "PLAINTEXT"} and faust_credentials(s) is None


def test_sasl_ssl_gives_a_verifying_context_and_the_credentials(pki: Pki) -> None:
    s = secured(pki)
    kw = client_kwargs(s)
    assert kw["security_protocol"] == "SASL_SSL" and kw["sasl_mechanism"] == "SCRAM-SHA-256"
    assert (kw["sasl_plain_username"], kw["sasl_plain_password"]) == ("u", "pa55-word")
    ctx = kw["ssl_context"]
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    creds = faust_credentials(s)
    assert isinstance(creds, faust.SASLCredentials) and creds.protocol.value == "SASL_SSL"
    assert creds.mechanism.value == "SCRAM-SHA-256" and "pa55-word" not in repr(creds)


def test_tls_without_sasl_and_without_the_hostname_check(pki: Pki) -> None:
    s = Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=str(pki.ca), kafka_ssl_check_hostname=False)
    ctx = ssl_context(s)
    assert ctx is not None and not ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    assert "sasl_mechanism" not in client_kwargs(s)
    assert isinstance(faust_credentials(s), faust.SSLCredentials)


def test_secrets_come_from_files_and_children_get_them_unmasked(pki: Pki, tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("from-a-file\n")
    s = secured(pki, kafka_sasl_password="", kafka_sasl_password_file=str(pw))
    assert s.kafka_password() == "from-a-file" and client_kwargs(s)["sasl_plain_password"] == "from-a-file"
    env = secured(pki).as_env()
    assert env["SEGSTREAM_KAFKA_SASL_PASSWORD"] == "pa55-word"  # not '**********'
    assert "pa55-word" not in repr(secured(pki)) and "pa55-word" not in str(secured(pki))
    assert set(secured(pki).secret_values()) >= {"pa55-word", pki.client_key_pw.read_text().strip()}


@pytest.mark.parametrize(
    ("over", "fragment"),
    [
        ({"kafka_sasl_username": ""}, "needs SEGSTREAM_KAFKA_SASL_USERNAME"),
        ({"kafka_security_protocol": "SSL"}, "has no SASL"),
        ({"kafka_security_protocol": "SASL_PLAINTEXT"}, "has no TLS"),
        ({"kafka_ssl_cafile": "/nonexistent/ca.pem"}, "cannot read /nonexistent/ca.pem"),
        ({"kafka_sasl_password_file": "/etc/hostname"}, "not both"),
        ({"kafka_ssl_key_password_file": "", "kafka_ssl_key_password": "wrong"}, "do not load"),
    ],
)
def test_inconsistent_security_settings_give_one_line_without_the_secret(
    pki: Pki, monkeypatch: pytest.MonkeyPatch, over: dict[str, object], fragment: str
) -> None:
    fields = {
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "pa55-word",
        "KAFKA_SSL_CAFILE": str(pki.ca), "KAFKA_SSL_CERTFILE": str(pki.client_cert),
        "KAFKA_SSL_KEYFILE": str(pki.client_key), "KAFKA_SSL_KEY_PASSWORD_FILE": str(pki.client_key_pw),
    }  # fmt: skip
    fields |= {k.upper(): str(v) for k, v in over.items()}
    for k, v in fields.items():
        monkeypatch.setenv(f"SEGSTREAM_{k}", v)
    with pytest.raises(ConfigError) as err:
        load_settings()
    msg = str(err.value)
    assert fragment in msg and "\n" not in msg and "pa55-word" not in msg, msg


def test_a_refused_login_is_named_without_the_password(pki: Pki) -> None:
    from kafka.errors import SaslAuthenticationFailedError

    msg = describe_failure(secured(pki), SaslAuthenticationFailedError("invalid credentials"))
    assert "refused the credentials of user 'u' (SCRAM-SHA-256)" in msg and "pa55-word" not in msg


def _client_calls(tree: ast.AST) -> list[ast.Call]:
    def name(node: ast.expr) -> str:
        return node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""

    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and (name(n.func) in CLIENTS or name(n.func) == "App")]


def test_every_kafka_client_in_the_code_gets_the_security_settings() -> None:
    """A new client cannot forget TLS and SASL: each one carries ``**client_kwargs(...)``
    (``**security()`` in the latency benchmark's processes), each Faust app credentials."""
    files = [*ROOT.glob("src/segstream/**/*.py"), *ROOT.glob("benchmarks/*.py"), ROOT / "tests/integration/harness.py"]
    trees = [(f, ast.parse(f.read_text(encoding="utf-8"))) for f in files]
    ceiling = ROOT / "benchmarks/consumer_ceiling.py"
    module = ast.parse(ceiling.read_text(encoding="utf-8"))
    for node in module.body:  # the scripts it runs in child processes
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            inner = node.value.func.value if isinstance(node.value.func, ast.Attribute) else None
            if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
                trees.append((ceiling, ast.parse(inner.value)))
    seen = 0
    for path, tree in trees:
        for call in _client_calls(tree):
            if isinstance(call.func, ast.Attribute) and call.func.attr == "App":
                assert any(k.arg == "broker_credentials" for k in call.keywords), f"{path}:{call.lineno}"
            else:
                starred = [k.value for k in call.keywords if k.arg is None]
                # **client_kwargs(s), **security() (the latency benchmark), or **security
                # (the argument streams.topics.connect passes to its client factory)
                ok = any((isinstance(v, ast.Call) and getattr(v.func, "id", "") in ("client_kwargs", "security"))
                         or (isinstance(v, ast.Name) and v.id == "security") for v in starred)  # fmt: skip
                assert ok, f"{path}:{call.lineno} creates a Kafka client without **client_kwargs(settings)"
            seen += 1
    assert seen >= 15
