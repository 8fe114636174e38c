"""Ports and sockets: a free port, whether one answers, and the kernel's TCP table by PID.

Socket checks go by the PID that holds the socket (its fd inodes looked up in /proc/net/tcp*),
so a process of another engine on the same address never counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the OS may hand it out again; tests bind soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def hard_reset(transport: asyncio.BaseTransport) -> None:
    """Abort with RST instead of FIN (SO_LINGER 0): what a crashing peer looks like."""
    sock = transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()  # type: ignore[attr-defined]


def sockets(pid: int, local_port: int, state: str) -> int:
    """How many TCP sockets process `pid` holds on its local port `local_port` in `state`
    ("01" ESTABLISHED, "0A" LISTEN)."""
    inodes: set[str] = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        tables = [Path(f"/proc/{pid}/net/{t}").read_text() for t in ("tcp", "tcp6")]
    except OSError:  # the process is gone
        return 0
    count = 0
    for table in tables:
        for line in table.splitlines()[1:]:
            fields = line.split()
            local, st, inode = fields[1], fields[3], fields[9]
            if st == state and inode in inodes and int(local.rsplit(":", 1)[1], 16) == local_port:
                count += 1
    return count


def established(pid: int, local_port: int) -> int:
    return sockets(pid, local_port, "01")


def listens(pid: int | None, port: int) -> bool:
    return pid is not None and sockets(pid, port, "0A") > 0


def listening_addresses(port: int) -> set[str]:
    """The local addresses that listen on TCP `port` (hex from /proc/net, made readable)."""
    found: set[str] = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if fields[3] == "0A" and int(hex_port, 16) == port:
                found.add(_address(address))
    return found


def _address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return ".".join(str(b) for b in reversed(raw))
    words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]  # little-endian 32-bit words
    flat = b"".join(words)
    return ":".join(flat[i:i + 2].hex() for i in range(0, 16, 2))
