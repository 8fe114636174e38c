"""A self-signed serving certificate for the API server, made at start-up without extra packages.

Why TLS on loopback at all: kubectl (client-go `clientcmd`, `getUserIdentificationPartialConfig`)
only sends credentials — the bearer token included — to `https://` servers; against `http://` it
sends no `Authorization` header and every request is 401 (kubernetes/kubectl#744). So the engine
serves HTTPS with a fresh RSA key per run, and the kubeconfig carries the certificate as
`certificate-authority-data`, as kind and minikube do with their cluster CA.

The certificate is its own CA (basicConstraints CA:TRUE, keyCertSign) and names the loopback
addresses in subjectAltName, since Go's verifier ignores the common name. Everything here is pure:
DER encoding (ITU-T X.690), RSA key generation (FIPS 186-4 style probable primes, e = 65537) and
RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017). `ssl` only loads the PEM files.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

KEY_BITS = 2048
PUBLIC_EXPONENT = 65537
_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % d for d in range(2, math.isqrt(p) + 1))]

# Object identifiers used below.
OID_RSA = "1.2.840.113549.1.1.1"
OID_SHA256_RSA = "1.2.840.113549.1.1.11"
OID_CN = "2.5.4.3"
OID_ORG = "2.5.4.10"
OID_SKI = "2.5.29.14"
OID_KEY_USAGE = "2.5.29.15"
OID_SAN = "2.5.29.17"
OID_BASIC_CONSTRAINTS = "2.5.29.19"
OID_AKI = "2.5.29.35"
OID_EXT_KEY_USAGE = "2.5.29.37"
OID_SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


# ---- DER -------------------------------------------------------------------------------------
def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + body


def der_int(value: int) -> bytes:
    raw = value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True) if value else b"\0"
    return _tlv(0x02, raw)


def der_seq(*items: bytes) -> bytes:
    return _tlv(0x30, b"".join(items))


def der_oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytearray([40 * parts[0] + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.append(0x80 | (part & 0x7F))
            part >>= 7
        body.extend(reversed(chunk))
    return _tlv(0x06, bytes(body))


def _bits(data: bytes) -> bytes:
    return _tlv(0x03, b"\0" + data)


def _octets(data: bytes) -> bytes:
    return _tlv(0x04, data)


def _time(moment: datetime) -> bytes:
    return _tlv(0x17, moment.strftime("%y%m%d%H%M%SZ").encode())


def _name(common_name: str) -> bytes:
    def rdn(oid: str, text: str) -> bytes:
        return _tlv(0x31, der_seq(der_oid(oid), _tlv(0x0C, text.encode())))
    return der_seq(rdn(OID_ORG, "probelab"), rdn(OID_CN, common_name))


def _extension(oid: str, value: bytes, critical: bool = False) -> bytes:
    flag = _tlv(0x01, b"\xff") if critical else b""
    return der_seq(der_oid(oid), flag, _octets(value))


# ---- RSA -------------------------------------------------------------------------------------
def _probably_prime(n: int, rounds: int = 40) -> bool:
    if any(n % p == 0 for p in _SMALL_PRIMES):
        return n in _SMALL_PRIMES
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        x = pow(secrets.randbelow(n - 3) + 2, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int) -> int:
    while True:
        candidate = secrets.randbits(bits) | (0b11 << (bits - 2)) | 1
        if math.gcd(candidate - 1, PUBLIC_EXPONENT) == 1 and _probably_prime(candidate):
            return candidate


@dataclass(frozen=True)
class RsaKey:
    n: int
    e: int
    d: int
    p: int
    q: int

    @classmethod
    def generate(cls, bits: int = KEY_BITS) -> RsaKey:
        while True:
            p, q = _prime(bits // 2), _prime(bits // 2)
            if p != q and (p * q).bit_length() == bits:
                break
        d = pow(PUBLIC_EXPONENT, -1, math.lcm(p - 1, q - 1))
        return cls(p * q, PUBLIC_EXPONENT, d, p, q)

    def public_der(self) -> bytes:
        return der_seq(der_int(self.n), der_int(self.e))

    def private_der(self) -> bytes:
        """PKCS #1 RSAPrivateKey."""
        return der_seq(der_int(0), der_int(self.n), der_int(self.e), der_int(self.d),
                       der_int(self.p), der_int(self.q), der_int(self.d % (self.p - 1)),
                       der_int(self.d % (self.q - 1)), der_int(pow(self.q, -1, self.p)))

    def sign_sha256(self, message: bytes) -> bytes:
        """RSASSA-PKCS1-v1_5 signature (RFC 8017 §8.2) over SHA-256."""
        size = (self.n.bit_length() + 7) // 8
        t = SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
        encoded = b"\x00\x01" + b"\xff" * (size - len(t) - 3) + b"\x00" + t
        return pow(int.from_bytes(encoded, "big"), self.d, self.n).to_bytes(size, "big")


# ---- certificate -----------------------------------------------------------------------------
def _san(hosts: list[str]) -> bytes:
    names = []
    for host in hosts:
        try:
            names.append(_tlv(0x87, ipaddress.ip_address(host).packed))
        except ValueError:
            names.append(_tlv(0x82, host.encode()))
    return der_seq(*names)


def self_signed_cert(key: RsaKey, hosts: list[str], now: datetime, days: int = 365) -> bytes:
    """A DER X.509 v3 certificate for `hosts` (IPs or DNS names), signed by `key` itself."""
    algorithm = der_seq(der_oid(OID_SHA256_RSA), _tlv(0x05, b""))
    spki = der_seq(der_seq(der_oid(OID_RSA), _tlv(0x05, b"")), _bits(key.public_der()))
    key_id = hashlib.sha1(key.public_der(), usedforsecurity=False).digest()
    # keyUsage bits: digitalSignature(0), keyEncipherment(2), keyCertSign(5) -> 0xA4, 2 unused.
    extensions = der_seq(
        _extension(OID_BASIC_CONSTRAINTS, der_seq(_tlv(0x01, b"\xff")), critical=True),
        _extension(OID_KEY_USAGE, _tlv(0x03, b"\x02\xa4"), critical=True),
        _extension(OID_EXT_KEY_USAGE, der_seq(der_oid(OID_SERVER_AUTH))),
        _extension(OID_SKI, _octets(key_id)),
        _extension(OID_AKI, der_seq(_tlv(0x80, key_id))),
        _extension(OID_SAN, _san(hosts)),
    )
    name = _name("probelab-engine")
    tbs = der_seq(
        _tlv(0xA0, der_int(2)),
        der_int(secrets.randbits(63) | 1),
        algorithm,
        name,
        der_seq(_time(now - timedelta(hours=1)), _time(now + timedelta(days=days))),
        name,
        spki,
        _tlv(0xA3, extensions),
    )
    return der_seq(tbs, algorithm, _bits(key.sign_sha256(tbs)))


def pem(label: str, der: bytes) -> bytes:
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return b"\n".join([f"-----BEGIN {label}-----".encode(), *lines,
                       f"-----END {label}-----".encode(), b""])


@dataclass(frozen=True)
class ServingCert:
    cert_pem: bytes  # also the CA a client trusts (`certificate-authority-data`)
    key_pem: bytes


def make_serving_cert(hosts: list[str], now: datetime | None = None) -> ServingCert:
    key = RsaKey.generate()
    der = self_signed_cert(key, hosts, now or datetime.now(UTC))
    return ServingCert(pem("CERTIFICATE", der), pem("RSA PRIVATE KEY", key.private_der()))
