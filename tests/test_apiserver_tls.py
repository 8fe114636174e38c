"""The API server's self-signed certificate: DER encoding, RSA signatures, and a real TLS
handshake in which a client that trusts only this certificate verifies the loopback address."""

from __future__ import annotations

import hashlib
import socket
import ssl
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from probelab.engine.apiserver import tls


@pytest.mark.parametrize(
    ("value", "der"),
    [(0, "020100"), (1, "020101"), (127, "02017f"), (128, "02020080"), (256, "02020100"),
     (-1, "0201ff"), (65537, "0203010001")],
)
def test_der_integers_are_minimal_twos_complement(value: int, der: str) -> None:
    assert tls.der_int(value).hex() == der


@pytest.mark.parametrize(
    ("oid", "der"),
    [("2.5.4.3", "0603550403"), ("1.2.840.113549.1.1.11", "06092a864886f70d01010b"),
     ("1.3.6.1.5.5.7.3.1", "06082b06010505070301")],
)
def test_der_object_identifiers(oid: str, der: str) -> None:
    assert tls.der_oid(oid).hex() == der


def test_long_lengths_use_the_multi_byte_form() -> None:
    encoded = tls.der_seq(b"\0" * 300)
    assert encoded[:4].hex() == "3082012c"


@pytest.fixture(scope="module")
def cert() -> tls.ServingCert:
    return tls.make_serving_cert(["127.0.0.1", "::1", "localhost"])


def test_signature_verifies_with_the_public_exponent() -> None:
    key = tls.RsaKey.generate(1024)
    assert key.n.bit_length() == 1024
    signature = key.sign_sha256(b"hello")
    decoded = pow(int.from_bytes(signature, "big"), key.e, key.n).to_bytes(128, "big")
    assert decoded.startswith(b"\x00\x01\xff")
    assert decoded.endswith(tls.SHA256_DIGEST_INFO + hashlib.sha256(b"hello").digest())
    other = pow(int.from_bytes(key.sign_sha256(b"hellO"), "big"), key.e, key.n)
    assert other != int.from_bytes(decoded, "big")


def test_pem_files_round_trip_through_ssl(cert: tls.ServingCert) -> None:
    der = ssl.PEM_cert_to_DER_cert(cert.cert_pem.decode())
    assert ssl.DER_cert_to_PEM_cert(der).strip() == cert.cert_pem.decode().strip()
    assert cert.key_pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----\n")


def _serve_once(server_ctx: ssl.SSLContext, sock: socket.socket) -> None:
    conn, _ = sock.accept()
    try:
        with server_ctx.wrap_socket(conn, server_side=True) as tls_conn:
            tls_conn.sendall(tls_conn.recv(5).upper())
    except (ssl.SSLError, OSError):
        pass


@pytest.mark.parametrize(("hostname", "ok"), [("127.0.0.1", True), ("localhost", True),
                                              ("example.invalid", False)])
def test_a_client_trusting_only_this_cert_verifies_the_names_in_it(
    cert: tls.ServingCert, tmp_path: Path, hostname: str, ok: bool
) -> None:
    (tmp_path / "c.pem").write_bytes(cert.cert_pem)
    (tmp_path / "k.pem").write_bytes(cert.key_pem)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    client_ctx = ssl.create_default_context(cafile=str(tmp_path / "c.pem"))
    client_ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    with socket.create_server(("127.0.0.1", 0)) as listener:
        thread = threading.Thread(target=_serve_once, args=(server_ctx, listener), daemon=True)
        thread.start()
        with socket.create_connection(listener.getsockname(), timeout=10) as raw:
            if ok:
                with client_ctx.wrap_socket(raw, server_hostname=hostname) as conn:
                    conn.sendall(b"hello")
                    assert conn.recv(5) == b"HELLO"
            else:
                with pytest.raises(ssl.SSLCertVerificationError):
                    client_ctx.wrap_socket(raw, server_hostname=hostname)
        thread.join(10)


def test_validity_starts_before_now() -> None:
    der = tls.self_signed_cert(tls.RsaKey.generate(1024), ["127.0.0.1"],
                               datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert b"300102020405Z" in der  # notBefore one hour earlier, UTCTime
    assert b"310102030405Z" in der  # notAfter a year later
