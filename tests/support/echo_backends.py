"""Tiny real TCP backends on 127.244.250.x for the service proxy's tests, and their clients.

Each backend greets a new connection with its name and a newline, then echoes; on the client's
EOF it writes `bye` and closes; on `reset` it aborts with RST. Everything runs in the test's
own event loop (asyncio or uvloop), started and closed by the test. A backend that names
itself on connect lets a test see where the proxy sent each connection.
"""

from __future__ import annotations

import asyncio
import contextlib

from support.sockets import hard_reset


class _Echo(asyncio.Protocol):
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.backend.connections += 1
        self.backend.live.add(self)
        self.transport.write(self.backend.name.encode() + b"\n")

    def data_received(self, data: bytes) -> None:
        self.backend.received += len(data)
        if data.startswith(b"reset"):
            hard_reset(self.transport)
        else:
            self.transport.write(data)

    def eof_received(self) -> bool:
        self.transport.write(b"bye\n")
        self.transport.close()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.backend.live.discard(self)
        self.backend.lost.append(exc)


class Backend:
    """One echo backend listening on (host, port)."""

    def __init__(self, name: str, host: str, port: int = 0) -> None:
        self.name, self.host, self.port = name, host, port
        self.server: asyncio.Server | None = None
        self.connections = 0
        self.received = 0
        self.live: set[_Echo] = set()
        self.lost: list[Exception | None] = []

    async def start(self) -> Backend:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: _Echo(self), self.host, self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            for conn in list(self.live):
                conn.transport.abort()
            await self.server.wait_closed()
            self.server = None


@contextlib.asynccontextmanager
async def backends(n: int, first: int = 1):
    """n backends on 127.244.250.<first..>, all on the same port (slices share one port)."""
    started: list[Backend] = []
    try:
        b = await Backend("b1", f"127.244.250.{first}").start()
        started.append(b)
        for i in range(2, n + 1):
            started.append(await Backend(f"b{i}", f"127.244.250.{first + i - 1}", b.port).start())
        yield started
    finally:
        for b in started:
            await b.close()


async def greet(host: str, port: int) -> tuple[str, asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect and read the backend's name line."""
    reader, writer = await asyncio.open_connection(host, port)
    line = await asyncio.wait_for(reader.readline(), 10)
    if not line:
        writer.close()
        raise ConnectionResetError("closed before greeting")
    return line.decode().strip(), reader, writer


async def who(host: str, port: int) -> str:
    """Which backend a new connection lands on (then close it)."""
    name, _reader, writer = await greet(host, port)
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    return name


async def expect_reset(host: str, port: int) -> None:
    """A connection to host:port must be reset or refused (not hang, not get data)."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except (ConnectionRefusedError, ConnectionResetError):  # a proxy in another process can
        return  # accept and reset before the client's loop has seen its connect complete
    try:
        data = await asyncio.wait_for(reader.read(100), 10)
    except ConnectionResetError:
        return
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    raise AssertionError(f"expected a reset, got {data!r}")


async def gather_names(host: str, port: int, n: int) -> list[str]:
    return [await who(host, port) for _ in range(n)]

