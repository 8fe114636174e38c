"""Tiny HTTP servers on loopback that fail in one precise way, for the load generator's tests.

Each `Behaviour` produces one socket situation a real server can cause during a rollout:
answering with a status, resetting (SO_LINGER 0), closing without answering, hanging,
holding responses until released, closing idle keep-alive connections. `LoopServer` runs on
the test's event loop; `ThreadServer` runs one in a thread for tests that drive the CLI in a
subprocess. Both count connections, requests and answers so tests assert on what the server saw.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum

from support.sockets import hard_reset


class Behaviour(Enum):
    ANSWER = "answer"  # a keep-alive response with `status` and the version/pod headers
    RESET = "reset"  # read the request, then abort with RST (SO_LINGER 0)
    CLOSE = "close"  # read the request, then close (FIN) without a byte
    HANG = "hang"  # read the request, never answer
    HOLD = "hold"  # read the request, answer when `release` is set
    CLOSE_SECOND = "close_second"  # answer the first request of a connection, close on the next
    RESET_SECOND = "reset_second"  # answer the first request of a connection, reset on the next
    CLOSE_IDLE = "close_idle"  # answer; while `close_idle` is set, close idle connections
    CONNECTION_CLOSE = "connection_close"  # answer with `Connection: close`, then close
    CHUNKED = "chunked"  # a chunked response
    UNTIL_EOF = "until_eof"  # a body delimited by closing the connection (no length)
    GARBAGE = "garbage"  # bytes that are not HTTP


class LoopServer:
    def __init__(self, behaviour: Behaviour, status: int = 200, version: str = "1.0",
                 pod: str = "pod-a") -> None:
        self.behaviour = behaviour
        self.status = status
        self.version, self.pod = version, pod
        self.connections = 0
        self.requests = 0  # request heads read
        self.answered = 0
        self.per_connection: list[int] = []  # requests read on each connection
        self.release = asyncio.Event()
        self.close_idle = asyncio.Event()
        self.port = 0
        self.head = False  # the last request was HEAD: answer without the body
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    async def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()

    def _response(self, extra: str = "") -> bytes:
        body = b"hello\n"
        return (f"HTTP/1.1 {self.status} X\r\nContent-Length: {len(body)}\r\n"
                f"X-App-Version: {self.version}\r\nX-Pod-Name: {self.pod}\r\n{extra}\r\n"
                ).encode() + (b"" if self.head else body)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        index = len(self.per_connection)
        self.per_connection.append(0)
        self._writers.add(writer)
        try:
            await self._serve(reader, writer, index)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # shutting down; re-raising makes 3.11's start_server log a spurious error
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _read_request(self, reader: asyncio.StreamReader, index: int) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return False
        self.requests += 1
        self.per_connection[index] += 1
        self.head = head.startswith(b"HEAD ")
        return True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     index: int) -> None:
        b = self.behaviour
        while True:
            if b is Behaviour.CLOSE_IDLE and self.per_connection[index] > 0:
                read = asyncio.ensure_future(self._read_request(reader, index))
                closing = asyncio.ensure_future(self.close_idle.wait())
                await asyncio.wait({read, closing}, return_when=asyncio.FIRST_COMPLETED)
                if not read.done():
                    read.cancel()
                    writer.close()  # the idle close a keep-alive timeout would do
                    return
                closing.cancel()
                if not read.result():
                    return
            elif not await self._read_request(reader, index):
                return
            if b is Behaviour.RESET or (b is Behaviour.RESET_SECOND and
                                        self.per_connection[index] > 1):
                hard_reset(writer.transport)
                return
            if b is Behaviour.CLOSE or (b is Behaviour.CLOSE_SECOND and
                                        self.per_connection[index] > 1):
                writer.close()
                return
            if b is Behaviour.HANG:
                await asyncio.Event().wait()  # until the server stops
            if b is Behaviour.HOLD:
                await self.release.wait()
            if b is Behaviour.GARBAGE:
                writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
            elif b is Behaviour.CHUNKED:
                writer.write(f"HTTP/1.1 {self.status} X\r\nTransfer-Encoding: chunked\r\n"
                             f"X-App-Version: {self.version}\r\n\r\n"
                             "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n".encode())
            elif b is Behaviour.UNTIL_EOF:
                writer.write(f"HTTP/1.1 {self.status} X\r\nX-App-Version: {self.version}\r\n"
                             "\r\nbody until the end".encode())
                self.answered += 1
                writer.close()
                return
            elif b is Behaviour.CONNECTION_CLOSE:
                writer.write(self._response("Connection: close\r\n"))
                self.answered += 1
                await writer.drain()
                writer.close()
                return
            else:
                writer.write(self._response())
            self.answered += 1
            await writer.drain()


@contextmanager
def thread_server(behaviour: Behaviour, **kw) -> Iterator[LoopServer]:  # type: ignore[no-untyped-def]
    """A LoopServer on its own loop in a thread (for tests whose client is a subprocess)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: list[LoopServer] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        server = LoopServer(behaviour, **kw)
        loop.run_until_complete(server.start())
        holder.append(server)
        ready.set()
        loop.run_forever()
        loop.run_until_complete(server.stop())
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()

    thread = threading.Thread(target=run, name=f"test-server-{behaviour.value}", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise AssertionError("test server did not start")
    try:
        yield holder[0]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
