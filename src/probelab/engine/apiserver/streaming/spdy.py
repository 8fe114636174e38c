"""SPDY/3.1 framing, as port-forward speaks it inside a WebSocket (pure: bytes in, frames out).

Sources: the SPDY/3.1 draft (chromium.org "SPDY Protocol - Draft 3.1"): sections 2.2 (control
and data frames), 2.6 (SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS,
WINDOW_UPDATE) and 2.6.10 (the name/value header block, zlib-compressed with one stream per
direction and the dictionary of 2.6.10.1); the Go implementation kubectl uses,
`github.com/moby/spdystream` (`spdy/read.go`, `spdy/write.go`: header names lower-case, each
block flushed with Z_SYNC_FLUSH; no flow control is enforced, WINDOW_UPDATE is ignored).
`Codec` keeps the two zlib streams of one connection; `Reader` cuts a byte stream into frames
(a WebSocket message may carry part of a frame, or several).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS = 1, 2, 3, 4
PING, GOAWAY, HEADERS, WINDOW_UPDATE = 6, 7, 8, 9
FLAG_FIN = 0x01
# RST_STREAM status codes (2.6.3)
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, CANCEL = 1, 2, 3, 5

_DICT_WORDS = (
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset",
    "accept-encoding", "accept-language", "accept-ranges", "age", "allow", "authorization",
    "cache-control", "connection", "content-base", "content-encoding", "content-language",
    "content-length", "content-location", "content-md5", "content-range", "content-type",
    "date", "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since",
    "if-none-match", "if-range", "if-unmodified-since", "last-modified", "location",
    "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer",
    "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent",
    "vary", "via", "warning", "www-authenticate", "method", "get", "status", "200 OK",
    "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin",
)
_DICT_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 "
    "Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 "
    "Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, "
    "Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
# The header compression dictionary of SPDY/3 (2.6.10.1): each word with its 32-bit length,
# then the tail as is.
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _DICT_WORDS) + \
    _DICT_TAIL.encode()


class ProtocolError(ValueError):
    """Bytes that are not SPDY/3: the connection must end."""


@dataclass
class Frame:
    """A control frame (`type` > 0) or a data frame (`type` 0)."""

    type: int
    flags: int = 0
    stream_id: int = 0
    data: bytes = b""  # data frames
    headers: dict[str, str] = field(default_factory=dict)  # SYN_STREAM, SYN_REPLY, HEADERS
    status: int = 0  # RST_STREAM, GOAWAY
    ping_id: int = 0
    raw: bytes = b""  # the payload of frames not decoded further

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


class Codec:
    """The header compression state of one connection (one zlib stream each way)."""

    def __init__(self) -> None:
        self._out = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zdict=DICTIONARY)
        self._in = zlib.decompressobj(zdict=DICTIONARY)

    def encode_headers(self, headers: dict[str, str]) -> bytes:
        block = struct.pack(">I", len(headers))
        for name, value in headers.items():
            n, v = name.lower().encode(), value.encode()
            block += struct.pack(">I", len(n)) + n + struct.pack(">I", len(v)) + v
        return self._out.compress(block) + self._out.flush(zlib.Z_SYNC_FLUSH)

    def decode_headers(self, compressed: bytes, limit: int = 1 << 20) -> dict[str, str]:
        try:
            block = self._in.decompress(compressed, limit)
        except zlib.error as exc:
            raise ProtocolError(f"header block: {exc}") from None
        if self._in.unconsumed_tail:
            raise ProtocolError("header block too large")
        return parse_header_block(block)


def parse_header_block(block: bytes) -> dict[str, str]:
    """Name/value pairs; several values of one name (NUL-separated) are kept joined."""
    try:
        (count,), pos = struct.unpack_from(">I", block), 4
        headers = {}
        for _ in range(count):
            (n,) = struct.unpack_from(">I", block, pos)
            name = block[pos + 4:pos + 4 + n]
            pos += 4 + n
            (m,) = struct.unpack_from(">I", block, pos)
            value = block[pos + 4:pos + 4 + m]
            pos += 4 + m
            if len(name) != n or len(value) != m:
                raise ProtocolError("truncated header block")
            headers[name.decode("latin-1").lower()] = value.decode("latin-1")
        return headers
    except struct.error:
        raise ProtocolError("truncated header block") from None


def _control(type_: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, type_, (flags << 24) | len(payload)) + payload


def data_frame(stream_id: int, data: bytes, fin: bool = False) -> bytes:
    return struct.pack(">II", stream_id & 0x7FFFFFFF,
                       ((FLAG_FIN if fin else 0) << 24) | len(data)) + data


def syn_stream(codec: Codec, stream_id: int, headers: dict[str, str], fin: bool = False
               ) -> bytes:
    payload = struct.pack(">IIH", stream_id, 0, 0) + codec.encode_headers(headers)
    return _control(SYN_STREAM, FLAG_FIN if fin else 0, payload)


def syn_reply(codec: Codec, stream_id: int, headers: dict[str, str] | None = None,
              fin: bool = False) -> bytes:
    payload = struct.pack(">I", stream_id) + codec.encode_headers(headers or {})
    return _control(SYN_REPLY, FLAG_FIN if fin else 0, payload)


def rst_stream(stream_id: int, status: int) -> bytes:
    return _control(RST_STREAM, 0, struct.pack(">II", stream_id, status))


def ping(ping_id: int) -> bytes:
    return _control(PING, 0, struct.pack(">I", ping_id))


def goaway(last_stream_id: int, status: int = 0) -> bytes:
    return _control(GOAWAY, 0, struct.pack(">II", last_stream_id, status))


class Reader:
    """Cuts the bytes of one direction of a connection into frames."""

    def __init__(self, codec: Codec, max_frame: int = 1 << 20) -> None:
        self.codec = codec
        self.max_frame = max_frame
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames = []
        while len(self._buf) >= 8:
            word, flags_len = struct.unpack_from(">II", self._buf)
            length = flags_len & 0xFFFFFF
            if length > self.max_frame:
                raise ProtocolError(f"frame of {length} bytes")
            if len(self._buf) < 8 + length:
                break
            payload = bytes(self._buf[8:8 + length])
            del self._buf[:8 + length]
            flags = flags_len >> 24
            if word & 0x80000000:
                version, type_ = (word >> 16) & 0x7FFF, word & 0xFFFF
                if version != VERSION:
                    raise ProtocolError(f"SPDY version {version}")
                frames.append(self._control(type_, flags, payload))
            else:
                frames.append(Frame(0, flags, word & 0x7FFFFFFF, data=payload))
        return frames

    def _control(self, type_: int, flags: int, payload: bytes) -> Frame:
        try:
            if type_ == SYN_STREAM:
                (sid,) = struct.unpack_from(">I", payload)
                return Frame(type_, flags, sid & 0x7FFFFFFF,
                             headers=self.codec.decode_headers(payload[10:]))
            if type_ in (SYN_REPLY, HEADERS):
                (sid,) = struct.unpack_from(">I", payload)
                return Frame(type_, flags, sid & 0x7FFFFFFF,
                             headers=self.codec.decode_headers(payload[4:]))
            if type_ in (RST_STREAM, GOAWAY):
                sid, status = struct.unpack_from(">II", payload)
                return Frame(type_, flags, sid & 0x7FFFFFFF, status=status)
            if type_ == PING:
                (pid,) = struct.unpack_from(">I", payload)
                return Frame(type_, flags, ping_id=pid)
        except struct.error:
            raise ProtocolError(f"control frame {type_} too short") from None
        return Frame(type_, flags, raw=payload)  # SETTINGS, WINDOW_UPDATE, unknown: ignored
