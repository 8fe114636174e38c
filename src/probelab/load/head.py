"""What the load client needs from a response head, read from its bytes in one pass.

httptools (llhttp) still parses and validates every response; this only reads, from the head
llhttp has just accepted, the three facts the client keeps: `X-App-Version`, `X-Pod-Name`
and whether the body is framed (Content-Length or Transfer-Encoding; else it ends at EOF).
A per-header callback did the same at one Python call per header (five for nginx's plain
answer, per request); lower-casing the head and a few substring searches are C calls on
~150 bytes. Header names are case-insensitive, values are kept as sent.
"""

from __future__ import annotations

from typing import NamedTuple

MAX_HEAD_BYTES = 64 * 1024  # a longer head is refused: the client buffers it whole


class HeadFacts(NamedTuple):
    framed: bool
    version: str | None
    pod: str | None


_FRAMED = HeadFacts(True, None, None)  # shared: no tuple built for the common answers
_UNFRAMED = HeadFacts(False, None, None)


def head_end(buffer: bytes) -> int:
    """Index just past the head that starts `buffer` (its blank line), or -1 if incomplete.
    llhttp accepts bare LF line ends too, so both are looked for."""
    end = buffer.find(b"\r\n\r\n")
    if end >= 0:
        return end + 4
    end = buffer.find(b"\n\n")
    return end + 2 if end >= 0 else -1


def _value(head: bytes, lowered: bytes, name: bytes) -> str | None:
    at = lowered.find(name)
    if at < 0:
        return None
    start = at + len(name)
    stop = lowered.find(b"\n", start)
    return head[start:stop].strip().decode("latin-1")


def read_head(head: bytes) -> HeadFacts:
    """The facts of one response head (status line, header lines, blank line); of a header
    sent twice, the first."""
    lowered = head.lower()
    framed = b"\ncontent-length:" in lowered or b"\ntransfer-encoding:" in lowered
    if b"\nx-" not in lowered:  # the common case of a server that sends neither
        return _FRAMED if framed else _UNFRAMED
    return HeadFacts(framed, _value(head, lowered, b"\nx-app-version:"),
                     _value(head, lowered, b"\nx-pod-name:"))
