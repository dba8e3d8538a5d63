"""STARTTLS to the mail server checks its certificate before porch logs in.

``smtplib.SMTP.starttls()`` without a context uses an unverified one, so anyone between porch
and the mail server could present any certificate and read the SMTP password. A real aiosmtpd
server with a self-signed certificate for 127.0.0.1 stands in for the mail server.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bridges.watching.alerts import send_email
from bridges.watching.watching_config import SmtpConfig


class Mailbox:
    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(bytes(envelope.content))
        return "250 OK"


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path, Mailbox]]:
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    box = Mailbox()
    controller = Controller(
        box, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True
    )
    controller.start()
    try:
        yield port, cert, box
    finally:
        controller.stop()


def _config(port: int) -> SmtpConfig:
    return SmtpConfig.model_validate(
        {"host": "127.0.0.1", "port": port, "sender": "porch@example.org", "starttls": True}
    )


def test_an_untrusted_certificate_is_refused_before_anything_is_sent(
    tls_server: tuple[int, Path, Mailbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, _, box = tls_server
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with pytest.raises(ssl.SSLCertVerificationError):
        send_email(_config(port), ["team@example.org"], "alert", "text", None)
    assert box.received == []


def test_a_trusted_certificate_is_used(
    tls_server: tuple[int, Path, Mailbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, cert, box = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    send_email(_config(port), ["team@example.org"], "alert", "text", None)
    assert len(box.received) == 1


@pytest.mark.parametrize(
    ("host", "starttls", "ok"),
    [
        ("mail.example.org", False, False),
        ("192.0.2.7", False, False),
        ("mail.example.org", True, True),
        ("127.0.0.1", False, True),
        ("localhost", False, True),
        ("::1", False, True),
    ],
)
def test_a_password_never_goes_to_another_host_in_clear(
    host: str, starttls: bool, ok: bool
) -> None:
    data = {
        "host": host,
        "port": 587,
        "sender": "porch@example.org",
        "username": "porch",
        "password": "smtp-password-value",
        "starttls": starttls,
    }
    if ok:
        SmtpConfig.model_validate(data)
        return
    with pytest.raises(ValueError, match="starttls") as caught:
        SmtpConfig.model_validate(data)
    assert "smtp-password-value" not in str(caught.value)
    # Without a password there is nothing to protect.
    SmtpConfig.model_validate({**data, "password": None})
