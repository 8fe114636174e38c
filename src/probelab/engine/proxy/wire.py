"""The messages between the engine's proxy (the decisions) and its splice process (the bytes).

Pure: encoding and decoding only. One JSON object per line, each with the format's version
`v`; a reader refuses another version (the engine and its child come from the same tree, so a
mismatch means a stale process, not something to negotiate).

Engine → child: `listen` (id, host, port, name, endpoints), `close` (id), `rules` (version,
{id: endpoints} for every listener: one sync's rule set, applied in one step as kube-proxy's
iptables-restore applies a whole table), `abort` (reset every connection, then stop).
Child → engine: `listened` (id, error, errno), `applied` (version), `stats`, `aborted` (n).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from probelab.engine.proxy.rules import Endpoint

VERSION = 1

Row = list[Any]  # [address, port, ready, serving, terminating, pod]


def encode(op: str, **fields: Any) -> bytes:
    return json.dumps({"v": VERSION, "op": op, **fields}, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """One message; ValueError when it is not one of this version."""
    msg = json.loads(line)
    if not isinstance(msg, dict) or msg.get("v") != VERSION or not isinstance(msg.get("op"), str):
        raise ValueError(f"not a version {VERSION} proxy message: {line[:80]!r}")
    return msg


def rows(endpoints: Iterable[Endpoint]) -> list[Row]:
    return [[e.address, e.port, e.ready, e.serving, e.terminating, e.pod] for e in endpoints]


def endpoints(rows_: Iterable[Row]) -> tuple[Endpoint, ...]:
    return tuple(Endpoint(str(a), int(p), bool(r), bool(s), bool(t), str(pod))
                 for a, p, r, s, t, pod in rows_)
