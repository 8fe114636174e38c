"""The service proxy's data plane: TCP listeners and the byte splice between client and pod.

`proxy.component` (the control plane) owns one `Route` per Service port and replaces its
`usable` tuple when it applies an endpoints change; this module only reads it, once per new
connection, and picks a backend with `rules.pick_endpoint`. Established connections keep
their backend whatever happens to the route (what conntrack does for kube-proxy's DNAT).

Speed matters (the proxy sits in every request of a load test), so the splice is two asyncio
Protocols that forward each chunk with a direct `transport.write` from `data_received`: no
streams, no per-chunk awaits or tasks, one task per connection only while connecting. It runs
on whatever loop the engine runs (uvloop when installed is much faster). Flow control follows
the transports: when one side's write buffer is full, reading from the other side pauses.

What a client sees, as behind iptables: no usable endpoint or a backend that refuses → the
accepted connection is reset (SO_LINGER 0, then abort); a backend reset → client reset; a
half-close (EOF) → `write_eof` on the other side; a clean close after both EOFs.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import struct
from contextlib import suppress
from dataclasses import dataclass

from probelab.engine.proxy.rules import Endpoint, pick_endpoint

log = logging.getLogger("probelab.engine.proxy.component")

_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST


def _nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def reset(transport: asyncio.BaseTransport | None) -> None:
    """Close a TCP transport with RST instead of FIN (the peer sees 'connection reset')."""
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with suppress(OSError, ValueError):  # already closed: nothing left to reset
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    transport.abort()  # type: ignore[attr-defined]


class Route:
    """The backends new connections of one Service port may use (replaced, never mutated)."""

    __slots__ = ("name", "usable")

    def __init__(self, name: str, usable: tuple[Endpoint, ...] = ()) -> None:
        self.name = name  # "namespace/service:port" for logs
        self.usable = usable


@dataclass
class Stats:
    """Connection counters (read by tests and the bench; one owner: the data plane)."""

    accepted: int = 0  # client connections accepted
    rejected: int = 0  # reset at once: no usable endpoint
    failed: int = 0  # reset because the backend refused or the connect failed
    spliced: int = 0  # connected to a backend


class _Backend(asyncio.Protocol):
    """The proxy's connection to the pod; forwards to the client side."""

    __slots__ = ("client", "transport")

    def __init__(self, client: _Client) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        _nodelay(transport)

    def data_received(self, data: bytes) -> None:
        self.client.transport.write(data)

    def eof_received(self) -> bool:
        client = self.client
        client.backend_eof = True
        if client.client_eof:
            client.close_both()
        elif not client.transport.is_closing():
            client.transport.write_eof()
        return True  # keep our side open: the client may still send

    def pause_writing(self) -> None:  # the pod reads slower than the client sends
        self.client.transport.pause_reading()

    def resume_writing(self) -> None:
        if not self.client.transport.is_closing():
            self.client.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            reset(self.client.transport)  # the pod reset us: reset the client too
        elif not self.client.transport.is_closing():
            self.client.transport.close()


class _Client(asyncio.Protocol):
    """One accepted client connection; created per connection by the listener."""

    __slots__ = (
        "backend", "backend_eof", "client_eof", "early", "peer", "plane", "route", "task",
        "transport",
    )

    def __init__(self, plane: DataPlane, route: Route) -> None:
        self.plane = plane
        self.route = route
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.peer: asyncio.Transport | None = None  # the backend transport once connected
        self.backend: _Backend | None = None
        self.task: asyncio.Task[None] | None = None
        self.client_eof = False
        self.backend_eof = False
        self.early: list[bytes] = []  # bytes read before the backend connected (see below)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        plane = self.plane
        plane.stats.accepted += 1
        endpoint = pick_endpoint(self.route.usable, plane.rng)
        if endpoint is None:
            plane.stats.rejected += 1
            reset(transport)
            return
        _nodelay(transport)
        transport.pause_reading()  # type: ignore[attr-defined]  # until the backend answers
        plane.clients.add(self)
        self.task = plane.loop.create_task(self._connect(endpoint))

    async def _connect(self, endpoint: Endpoint) -> None:
        backend = _Backend(self)
        try:
            async with asyncio.timeout(self.plane.connect_timeout_s):
                await self.plane.loop.create_connection(
                    lambda: backend, endpoint.address, endpoint.port
                )
        except (OSError, TimeoutError) as exc:
            self.plane.stats.failed += 1
            log.debug("%s: backend %s:%s failed: %s", self.route.name, endpoint.address,
                      endpoint.port, exc)
            reset(self.transport)
            return
        finally:
            self.task = None
        self.backend = backend
        if self.transport.is_closing():  # the client left while we were connecting
            reset(backend.transport)
            return
        self.plane.stats.spliced += 1
        self.peer = backend.transport
        if self.early:  # uvloop can hand over a read that raced with pause_reading()
            self.peer.write(b"".join(self.early))
            self.early.clear()
        if self.client_eof:
            self.peer.write_eof()
        self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.peer is None:  # paused until connected, but a read already under way still lands
            self.early.append(data)
            return
        self.peer.write(data)

    def eof_received(self) -> bool:
        self.client_eof = True
        if self.backend_eof:
            self.close_both()
        elif self.peer is not None and not self.peer.is_closing():
            self.peer.write_eof()
        return True  # keep our side open: the pod may still answer

    def pause_writing(self) -> None:  # the client reads slower than the pod sends
        if self.peer is not None:
            self.peer.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and not self.peer.is_closing():
            self.peer.resume_reading()

    def close_both(self) -> None:
        self.transport.close()
        if self.peer is not None:
            self.peer.close()

    def abort(self) -> None:
        if self.task is not None:
            self.task.cancel()
        reset(self.peer)
        reset(self.transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.plane.clients.discard(self)
        if self.task is not None:
            self.task.cancel()
        if self.peer is None:
            return
        if exc is not None:
            reset(self.peer)  # the client reset us: pass the reset on
        elif not self.peer.is_closing():
            self.peer.close()


class DataPlane:
    """Listeners and live connections of the proxy; `abort_all()` ends every connection."""

    def __init__(self, rng: random.Random, connect_timeout_s: float = 10.0) -> None:
        self.loop = asyncio.get_running_loop()
        self.rng = rng
        self.connect_timeout_s = connect_timeout_s
        self.clients: set[_Client] = set()
        self.stats = Stats()

    async def listen(self, host: str, port: int, route: Route) -> asyncio.Server:
        """Start accepting on host:port for `route`; raises OSError (e.g. port in use)."""
        return await self.loop.create_server(
            lambda: _Client(self, route), host, port, backlog=1024, reuse_address=True
        )

    def sync(self) -> None:
        """Nothing to do: each new connection reads its route's `usable` itself."""

    def abort_all(self) -> int:
        """Reset every live connection (engine stop); returns how many there were."""
        clients = list(self.clients)
        for client in clients:
            client.abort()
        self.clients.clear()
        return len(clients)
