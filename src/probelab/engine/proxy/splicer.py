"""The userspace data plane's own process: listeners and the byte splice (`proxy.dataplane`) on
uvloop, driven by the engine's proxy over one socket (`proxy.wire`).

Why a process of its own: profiling showed the splice is bound by the kernel work of its two
extra sockets, not by its own code; what a separate process buys is a faster loop (uvloop,
which the engine's own loop cannot run) and a loop that API bursts in the engine do not slow.
The decisions stay in the engine (`proxy.component`: which endpoints, the sync runner, the
Events and the timeline of what was routed where); this process only applies each rule set.

It dies with the engine: a parent-death signal (prctl PR_SET_PDEATHSIG, SIGKILL), end of file
on its socket (it then resets what is left and exits), and, as it leads a session of its own,
the engine's watchdog, which kills every session the engine started.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import random
import signal
import socket
import sys
from typing import Any

from probelab.engine.proxy import wire
from probelab.engine.proxy.dataplane import DataPlane, Route, Stats

log = logging.getLogger("probelab.engine.proxy.splicer")

PR_SET_PDEATHSIG = 1  # linux/prctl.h
STATS_EVERY_S = 0.05  # counters reach the engine this often when they changed


def die_with_parent(parent: int) -> bool:
    """Ask the kernel for SIGKILL when the parent goes; False if it is gone already."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the socket's end of file still stops us
    return os.getppid() == parent


class Splicer:
    """The child's state: the data plane and its listeners by the engine's ids."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.plane = DataPlane(random.Random())
        self.servers: dict[int, tuple[asyncio.Server, Route]] = {}
        self._sent = Stats()

    def send(self, op: str, **fields: Any) -> None:
        self.writer.write(wire.encode(op, **fields))

    async def handle(self, msg: dict[str, Any]) -> bool:
        """Apply one message; False when the engine asked to stop."""
        op = msg["op"]
        if op == "hello":
            loop = type(asyncio.get_running_loop())
            self.send("hello", id=msg["id"], loop=f"{loop.__module__}.{loop.__name__}",
                      error=None)
        elif op == "listen":
            route = Route(msg["name"], wire.endpoints(msg["endpoints"]))
            try:
                server = await self.plane.listen(msg["host"], msg["port"], route)
            except OSError as exc:
                self.send("listened", id=msg["id"], error=exc.strerror or str(exc),
                          errno=exc.errno or 0)
            else:
                self.servers[msg["id"]] = (server, route)
                self.send("listened", id=msg["id"], error=None, errno=0)
        elif op == "close":
            found = self.servers.pop(msg["id"], None)
            if found is not None:
                found[0].close()  # established connections stay (conntrack)
        elif op == "rules":
            for key, rows in msg["routes"].items():  # one loop step: no connection sees half
                found = self.servers.get(int(key))
                if found is not None:
                    found[1].usable = wire.endpoints(rows)
            self.send("applied", version=msg["version"])
        elif op == "abort":
            self.send_stats(force=True)
            self.send("aborted", n=self.shutdown())
            return False
        return True

    def send_stats(self, force: bool = False) -> None:
        stats = self.plane.stats
        if force or stats != self._sent:
            self._sent = Stats(**vars(stats))
            self.send("stats", **vars(stats))

    def shutdown(self) -> int:
        for server, _route in self.servers.values():
            server.close()
        self.servers.clear()
        return self.plane.abort_all()


async def serve(fd: int) -> None:
    sock = socket.socket(fileno=fd)
    reader, writer = await asyncio.open_connection(sock=sock)
    splicer = Splicer(writer)

    async def report() -> None:
        while True:
            await asyncio.sleep(STATS_EVERY_S)
            splicer.send_stats()

    reporter = asyncio.get_running_loop().create_task(report())
    try:
        while line := await reader.readline():  # end of file: the engine is gone
            if not await splicer.handle(wire.decode(line)):
                break
            await writer.drain()
    finally:
        reporter.cancel()
        splicer.shutdown()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.drain()
        writer.close()


def main(argv: list[str]) -> int:
    fd, parent = int(argv[0]), int(argv[1])
    level = int(argv[2]) if len(argv) > 2 else logging.WARNING
    if not die_with_parent(parent):
        return 0
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the engine decides when this stops
    # the engine's level and format, on the engine's stderr: a failed backend is logged at
    # debug as when the splice ran in the engine (tests and people count those lines)
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        import uvloop
        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(serve(fd))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
