"""A raw RFC 6455 WebSocket client over TLS, for tests that need control over the frames the
server sees (masking, fragmentation, close codes), which the websocket-client library hides.

Blocking, one connection, bounded by socket timeouts. Used by the streaming tests against a
real API server.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import ssl
import struct
from dataclasses import dataclass
from urllib.parse import urlsplit

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


@dataclass
class Handshake:
    status: int
    headers: dict[str, str]
    body: bytes


def encode_frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bool = True) -> bytes:
    """One frame as a client sends it (RFC 6455 5.2): masked unless `mask` is False."""
    head = bytes([(0x80 if fin else 0) | opcode])
    bit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head += bytes([bit | n])
    elif n < 1 << 16:
        head += bytes([bit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([bit | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class WsClient:
    def __init__(self, url: str, path: str, token: str, ca_pem: bytes,
                 protocols: list[str] | None, timeout_s: float = 20.0) -> None:
        parts = urlsplit(url)
        context = ssl.create_default_context(cadata=ca_pem.decode())
        raw = socket.create_connection((parts.hostname, parts.port), timeout=timeout_s)
        self.sock = context.wrap_socket(raw, server_hostname=parts.hostname)
        self._buf = b""
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {parts.hostname}:{parts.port}",
                 "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                 "Sec-WebSocket-Version: 13", f"Authorization: Bearer {token}"]
        if protocols is not None:
            lines.append(f"Sec-WebSocket-Protocol: {', '.join(protocols)}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.handshake = self._read_handshake()

    def _read(self, n: int) -> bytes:
        while len(self._buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def _read_handshake(self) -> Handshake:
        while b"\r\n\r\n" not in self._buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self._buf += chunk
        head, _, self._buf = self._buf.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        status = int(status_line.split()[1])
        body = b""
        if status != 101:
            length = int(headers.get("content-length", "0"))
            body = self._read(length) if length else self._buf
        return Handshake(status, headers, body)

    @property
    def protocol(self) -> str:
        return self.handshake.headers.get("sec-websocket-protocol", "")

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, opcode: int, payload: bytes) -> None:
        self.sock.sendall(encode_frame(opcode, payload))

    def recv_frame(self) -> tuple[bool, int, bytes]:
        """(fin, opcode, payload) of the next frame from the server (never masked)."""
        b0, b1 = self._read(2)
        assert not b1 & 0x80, "a server must not mask its frames"
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack(">H", self._read(2))
        elif n == 127:
            (n,) = struct.unpack(">Q", self._read(8))
        return bool(b0 & 0x80), b0 & 0x0F, self._read(n)

    def recv_message(self) -> tuple[int, bytes]:
        """The next whole data or close message (pings answered, fragments joined)."""
        parts: list[bytes] = []
        first = None
        while True:
            fin, opcode, payload = self.recv_frame()
            if opcode == PING:
                self.send(PONG, payload)
                continue
            if opcode in (PONG,):
                continue
            if opcode == CLOSE:
                return CLOSE, payload
            first = opcode if first is None else first
            parts.append(payload)
            if fin:
                return first, b"".join(parts)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
