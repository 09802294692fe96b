"""Digest delivery over STARTTLS and implicit TLS with login, to aiosmtpd on 127.0.0.1, with a
certificate made for the test (trusted through SSL_CERT_FILE, as a private CA would be)."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from conftest import FeedServer, Sink, free_port
from test_email import NOW, _config, _parse

from aggregator.publish.sending import send_digest


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    key, crt = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(crt), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return crt, key


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == b"digest" and data.password == b"s3cret"
    return AuthResult(success=ok, handled=False)


# aiosmtpd warns about AUTH without STARTTLS; with implicit TLS the whole session is encrypted.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_and_login(server: FeedServer, tmp_path: Path, cert: tuple[Path, Path],
                       monkeypatch: pytest.MonkeyPatch, security: str) -> None:
    crt, key = cert
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)
    sink = Sink()
    port = free_port()
    # With implicit TLS aiosmtpd cannot tell the session is encrypted, so it is told not to
    # insist on STARTTLS before AUTH; the connection is TLS from the first byte.
    extra: dict[str, Any] = ({"tls_context": ctx, "require_starttls": True}
                             if security == "starttls"
                             else {"ssl_context": ctx, "auth_require_tls": False})
    controller = Controller(sink, hostname="127.0.0.1", port=port, authenticator=_authenticator,
                            auth_required=True, **extra)
    controller.start()
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(crt))
        monkeypatch.setenv("AGGREGATOR_SMTP_PASSWORD", "s3cret")
        cfg = _config(server, tmp_path, port, security=security, username="digest")
        result = send_digest(cfg, now=NOW)
        assert result.ok and result.sent, result.message
        assert _parse(sink.messages[0])["Message-ID"] == "<digest.default.2026-11-01@example.org>"

        # A wrong password is refused, reported, and nothing is marked sent.
        monkeypatch.setenv("AGGREGATOR_SMTP_PASSWORD", "wrong")
        other = tmp_path / "other"
        other.mkdir()
        cfg2 = _config(server, other, port, security=security, username="digest")
        failed = send_digest(cfg2, now=NOW)
        assert not failed.ok and "not sent" in failed.message
        assert len(sink.messages) == 1
    finally:
        controller.stop()


def test_untrusted_certificate_is_refused(server: FeedServer, tmp_path: Path,
                                          cert: tuple[Path, Path]) -> None:
    crt, key = cert
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port, ssl_context=ctx)
    controller.start()
    try:
        cfg = _config(server, tmp_path, port, security="tls")
        result = send_digest(cfg, now=NOW)
        assert not result.ok and "CERTIFICATE_VERIFY_FAILED" in result.message
        assert sink.messages == []
    finally:
        controller.stop()
