"""A throw-away PKI for tests: a CA, a broker certificate for 127.0.0.1 and a client
certificate, made with openssl and keytool in a test's tmp folder. Passwords live in files
(0600), never on a command line."""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

LEAF_EXT = """basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage={usage}
{san}subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid,issuer
"""


@dataclass(frozen=True)
class Pki:
    ca: Path  # PEM of the CA
    broker_p12: Path  # PKCS12 keystore: broker key and chain
    truststore: Path  # PKCS12 truststore with the CA (client certificates)
    store_pw: Path  # password of both stores
    client_cert: Path
    client_key: Path  # encrypted with client_key_pw
    client_key_pw: Path


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, timeout=60)


def _password(path: Path) -> Path:
    path.write_text(secrets.token_urlsafe(18) + "\n")
    path.chmod(0o600)
    return path


def make_ca(d: Path, name: str = "ca") -> Path:
    _run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-sha256",
         "-subj", f"/CN=segstream test {name}", "-keyout", f"{name}.key", "-out", f"{name}.pem",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
         cwd=d)  # fmt: skip
    return d / f"{name}.pem"


def _leaf(d: Path, name: str, cn: str, usage: str, san: str = "") -> None:
    _run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}",
         "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)  # fmt: skip
    (d / f"{name}.ext").write_text(LEAF_EXT.format(usage=usage, san=f"subjectAltName={san}\n" if san else ""))
    _run("openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
         "-days", "2", "-sha256", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=d)  # fmt: skip


def make_test_pki(d: Path) -> Pki:
    d.mkdir(parents=True, exist_ok=True)
    store_pw = _password(d / "store.pw")
    make_ca(d)
    _leaf(d, "broker", "127.0.0.1", "serverAuth", "IP:127.0.0.1,DNS:localhost")
    _run("openssl", "pkcs12", "-export", "-in", "broker.pem", "-inkey", "broker.key", "-certfile", "ca.pem",
         "-name", "broker", "-out", "broker.p12", "-passout", f"file:{store_pw}", cwd=d)  # fmt: skip
    _run("keytool", "-importcert", "-noprompt", "-alias", "ca", "-file", "ca.pem", "-keystore", "truststore.p12",
         "-storetype", "PKCS12", "-storepass:file", str(store_pw), cwd=d)  # fmt: skip
    key_pw = _password(d / "client-key.pw")
    _leaf(d, "client", "segstream", "clientAuth")
    _run(
        "openssl", "pkey", "-in", "client.key", "-aes256", "-passout", f"file:{key_pw}", "-out", "client-enc.key", cwd=d
    )
    (d / "client.key").unlink()
    return Pki(
        ca=d / "ca.pem", broker_p12=d / "broker.p12", truststore=d / "truststore.p12", store_pw=store_pw,
        client_cert=d / "client.pem", client_key=d / "client-enc.key", client_key_pw=key_pw,
    )  # fmt: skip
