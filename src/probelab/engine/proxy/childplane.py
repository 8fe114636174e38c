"""The engine's handle on the userspace data plane's own process (`proxy.splicer`).

Same interface as `dataplane.DataPlane` (`listen`, `sync`, `stats`) plus `aclose`, so
`proxy.component` keeps every decision: it sets each `Route.usable` and calls `sync()`, which
sends what changed as one versioned message (`proxy.wire`) that the child applies in one step.
A port the child cannot bind comes back as an OSError from `listen`, which the component turns
into a FailedListen Event as before.

The child leads a session of its own (so a Ctrl-C at the terminal reaches only the engine, which
stops it in order) and is started from the engine's loop thread, whose exit is what its
parent-death signal follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import probelab
from probelab.engine.proxy import wire
from probelab.engine.proxy.dataplane import Route, Stats

log = logging.getLogger("probelab.engine.proxy.component")


class _Listener:
    """One listener in the child (what `listen` returns: close() and wait_closed())."""

    def __init__(self, plane: ChildPlane, ident: int) -> None:
        self.plane, self.ident = plane, ident

    def close(self) -> None:
        self.plane._sent.pop(self.ident, None)
        if self.plane.routes.pop(self.ident, None) is not None:
            self.plane.send("close", id=self.ident)

    async def wait_closed(self) -> None:
        return None


class ChildPlane:
    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.stats = Stats()  # as last reported by the child
        self.routes: dict[int, Route] = {}
        self.version = 0  # rule sets sent
        self.applied = 0  # rule sets the child said it applied
        self.loop_name = ""  # the child's event loop class, once it answered
        self._ids = 0
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._aborted: asyncio.Future[int] = self.loop.create_future()
        self._sent: dict[int, tuple[Any, ...]] = {}  # the usable tuple last sent, per id
        self._closing = False
        ours, theirs = socket.socketpair()
        src = str(Path(probelab.__file__).resolve().parent.parent)
        env = {**os.environ,
               "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)}
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "probelab.engine.proxy.splicer", str(theirs.fileno()),
                 str(os.getpid()), str(log.getEffectiveLevel())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env,
                start_new_session=True)
        finally:
            theirs.close()
        self._sock = ours
        self._writer: asyncio.StreamWriter | None = None
        self._queue: list[bytes] = []
        self._reader = self.loop.create_task(self._read(), name="proxy-child-reader")

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def ready(self, timeout_s: float = 30.0) -> None:
        """Wait until the child answers (its interpreter and uvloop are loaded), so that the
        first listeners open as fast as in this process; RuntimeError if it does not."""
        reply = self.loop.create_future()
        self._waiting[0] = reply
        self.send("hello", id=0)
        try:
            msg = await asyncio.wait_for(reply, timeout_s)
        except TimeoutError:
            msg = {"error": f"no answer in {timeout_s:g} s"}
        if msg.get("error"):
            raise RuntimeError(f"the proxy process did not start: {msg['error']}")
        self.loop_name = str(msg.get("loop"))
        log.info("proxy process %d splices on %s", self.proc.pid, self.loop_name)

    # ---- the data-plane interface ----------------------------------------------------------
    async def listen(self, host: str, port: int, route: Route) -> _Listener:
        """Open host:port in the child; raises OSError as a bind here would."""
        self._ids += 1
        ident = self._ids
        reply = self.loop.create_future()
        self._waiting[ident] = reply
        first = route.usable
        self.send("listen", id=ident, host=host, port=port, name=route.name,
                  endpoints=wire.rows(first))
        msg = await reply
        if msg.get("error"):
            raise OSError(int(msg.get("errno") or 0), msg["error"])
        self.routes[ident] = route
        self._sent[ident] = first
        self.sync()  # its endpoints may have changed while the child was binding
        return _Listener(self, ident)

    def sync(self) -> None:
        """Send the routes whose endpoints changed since the last sync, as one message, at
        once: the bytes are in the child's socket before the component records the change
        (EndpointsApplied), so a client that saw the Event finds the new rules applied."""
        if self._closing:
            return
        changed = {str(i): wire.rows(r.usable) for i, r in self.routes.items()
                   if self._sent.get(i) is not r.usable}
        if not changed:
            return
        for i, r in self.routes.items():
            self._sent[i] = r.usable
        self.version += 1
        self.send("rules", version=self.version, routes=changed)

    def abort_all(self) -> int:
        """Ask the child to reset every connection and exit (see `aclose` for the count)."""
        if not self._closing:
            self._closing = True
            self.send("abort")
        return 0

    async def aclose(self, timeout_s: float = 5.0) -> int:
        """Reset every connection, stop the child and wait for it; returns how many were
        reset. Safe twice."""
        self.abort_all()
        aborted = 0
        with contextlib.suppress(TimeoutError, asyncio.CancelledError, OSError):
            aborted = await asyncio.wait_for(asyncio.shield(self._aborted), timeout_s)
        if self._writer is not None:
            self._writer.close()
        else:
            self._sock.close()
        try:
            await asyncio.wait_for(asyncio.to_thread(self.proc.wait), timeout_s)
        except TimeoutError:
            self.proc.kill()
            await asyncio.to_thread(self.proc.wait)
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        if self._writer is not None:
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.wait_closed()
        self._sock.close()
        return aborted

    # ---- the socket --------------------------------------------------------------------------
    def send(self, op: str, **fields: Any) -> None:
        data = wire.encode(op, **fields)
        if self._writer is None:
            self._queue.append(data)
        elif not self._writer.is_closing():
            self._writer.write(data)

    async def _read(self) -> None:
        reader, self._writer = await asyncio.open_connection(sock=self._sock)
        for data in self._queue:
            self._writer.write(data)
        self._queue.clear()
        try:
            while line := await reader.readline():
                self._handle(wire.decode(line))
        except (ConnectionError, ValueError) as exc:
            log.error("proxy process: %s", exc)
        if not self._closing:
            code = await asyncio.to_thread(self.proc.wait)
            log.error("the proxy process (pid %d) exited with %s; Services get no traffic",
                      self.proc.pid, code)
        gone = OSError(errno.EPIPE, "the proxy process is gone")
        for reply in self._waiting.values():
            if not reply.done():
                reply.set_result({"error": gone.strerror, "errno": gone.errno})
        self._waiting.clear()
        if not self._aborted.done():
            self._aborted.set_result(0)

    def _handle(self, msg: dict[str, Any]) -> None:
        op = msg["op"]
        if op in ("listened", "hello"):
            reply = self._waiting.pop(msg["id"], None)
            if reply is not None and not reply.done():
                reply.set_result(msg)
        elif op == "applied":
            self.applied = max(self.applied, int(msg["version"]))
        elif op == "stats":
            self.stats = Stats(msg["accepted"], msg["rejected"], msg["failed"], msg["spliced"])
        elif op == "aborted" and not self._aborted.done():
            self._aborted.set_result(int(msg["n"]))
