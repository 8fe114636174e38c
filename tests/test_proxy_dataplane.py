"""The proxy's data plane over real sockets, on asyncio and on uvloop: spreading, resets where
iptables would refuse, half-close, reset propagation, backpressure, and conntrack-like stickiness.
"""

import asyncio
import contextlib
import random

import pytest

from probelab.engine.proxy import dataplane
from probelab.engine.proxy.dataplane import DataPlane, Route
from probelab.engine.proxy.rules import Endpoint
from support.echo_backends import backends, expect_reset, gather_names, greet
from support.loops import LOOPS, run
from support.sockets import hard_reset
from support.waiting import until

HOST = "127.244.251.1"  # the proxy's listen address in these tests


def endpoints(*backs, port=None) -> tuple[Endpoint, ...]:
    return tuple(Endpoint(b.host, port or b.port, True, True, False, b.name) for b in backs)


@contextlib.asynccontextmanager
async def plane_on(route: Route, seed: int = 1):
    plane = DataPlane(random.Random(seed), connect_timeout_s=5)
    server = await plane.listen(HOST, 0, route)
    try:
        yield plane, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        plane.abort_all()
        await server.wait_closed()


@pytest.mark.parametrize("loop", LOOPS)
def test_new_connections_spread_over_every_usable_endpoint(loop: str) -> None:
    async def main() -> None:
        async with backends(3) as backs:
            route = Route("t", endpoints(*backs))
            async with plane_on(route) as (plane, port):
                names = await gather_names(HOST, port, 30)
                assert set(names) == {"b1", "b2", "b3"}
                assert plane.stats.spliced == 30
    run(main(), loop)


@pytest.mark.parametrize("loop", LOOPS)
def test_no_usable_endpoint_resets_the_client(loop: str) -> None:
    async def main() -> None:
        async with plane_on(Route("t", ())) as (plane, port):
            await expect_reset(HOST, port)
            assert plane.stats.rejected == 1
    run(main(), loop)


@pytest.mark.parametrize("loop", LOOPS)
def test_backend_refusing_resets_the_client(loop: str) -> None:
    async def main() -> None:
        async with backends(1) as backs:
            port_of_nothing = backs[0].port
            # 127.244.250.9 listens on nothing: the kernel refuses the proxy's connect
            dead = Endpoint("127.244.250.9", port_of_nothing, True, True, False)
            async with plane_on(Route("t", (dead,))) as (plane, port):
                await expect_reset(HOST, port)
                await until(lambda: plane.stats.failed == 1)
                assert not plane.clients
    run(main(), loop)


@pytest.mark.parametrize("loop", LOOPS)
def test_half_close_travels_both_ways(loop: str) -> None:
    async def main() -> None:
        async with backends(1) as backs, plane_on(Route("t", endpoints(*backs))) as (plane, port):
            name, reader, writer = await greet(HOST, port)
            writer.write(b"hello ")
            writer.write_eof()  # the backend answers our EOF with "bye" and its own EOF
            rest = await asyncio.wait_for(reader.read(), 10)
            assert (name, rest) == ("b1", b"hello bye\n")
            writer.close()
            await writer.wait_closed()
            await until(lambda: not plane.clients, what="the proxy closed both sides")
            assert backs[0].lost == [None]  # a clean close, no reset
    run(main(), loop)


@pytest.mark.parametrize("loop", LOOPS)
def test_backend_reset_reaches_the_client_as_reset(loop: str) -> None:
    async def main() -> None:
        async with backends(1) as backs, plane_on(Route("t", endpoints(*backs))) as (_p, port):
            _name, reader, writer = await greet(HOST, port)
            writer.write(b"reset")
            with pytest.raises(ConnectionResetError):
                await asyncio.wait_for(reader.read(), 10)
            writer.close()
    run(main(), loop)


@pytest.mark.parametrize("loop", LOOPS)
def test_client_reset_reaches_the_backend_as_reset(loop: str) -> None:
    async def main() -> None:
        async with backends(1) as backs, plane_on(Route("t", endpoints(*backs))) as (_p, port):
            _name, _reader, writer = await greet(HOST, port)
            hard_reset(writer.transport)
            await until(lambda: backs[0].lost, what="the backend lost the connection")
            assert isinstance(backs[0].lost[0], ConnectionResetError)
    run(main(), loop)


@pytest.mark.parametrize("loop", LOOPS)
def test_established_connections_keep_their_backend_when_the_route_changes(loop: str) -> None:
    async def main() -> None:
        async with backends(2) as (b1, b2):
            route = Route("t", endpoints(b1))
            async with plane_on(route) as (_plane, port):
                name, reader, writer = await greet(HOST, port)
                route.usable = endpoints(b2)  # b1 removed from the proxy's view
                assert (await gather_names(HOST, port, 3)) == ["b2"] * 3
                writer.write(b"still there?")
                assert await asyncio.wait_for(reader.readexactly(12), 10) == b"still there?"
                assert name == "b1"
                writer.close()
    run(main(), loop)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_slow_client_pauses_the_backend_instead_of_filling_memory(loop: str) -> None:
    total = 48 * 1024 * 1024
    chunk = b"x" * 65536

    async def main() -> None:
        async with backends(1) as backs, plane_on(Route("t", endpoints(*backs))) as (plane, port):
            _name, reader, writer = await greet(HOST, port)
            echo = next(iter(backs[0].live))
            sent = 0

            async def blast() -> None:  # the backend writes as fast as the proxy lets it
                nonlocal sent
                while sent < total:
                    echo.transport.write(chunk)
                    sent += len(chunk)
                    while echo.transport.get_write_buffer_size() > 1 << 20:
                        await asyncio.sleep(0.005)

            task = asyncio.create_task(blast())
            last = -1
            while sent != last and sent < total:  # until the backend is stuck (or done)
                last = sent
                await asyncio.sleep(0.3)
            assert sent < total, "the proxy read everything: no backpressure"
            buffered = sum(c.transport.get_write_buffer_size() for c in plane.clients)
            assert buffered < 4 << 20
            got = 0
            while got < total:
                data = await asyncio.wait_for(reader.read(1 << 20), 10)
                assert data
                got += len(data)
            assert got == total
            await task
            writer.close()
    run(main(), loop)


@pytest.mark.parametrize("loop", LOOPS)
def test_abort_all_resets_live_connections(loop: str) -> None:
    async def main() -> None:
        async with backends(1) as backs, plane_on(Route("t", endpoints(*backs))) as (plane, port):
            _name, reader, writer = await greet(HOST, port)
            assert plane.abort_all() == 1
            with pytest.raises(ConnectionResetError):
                await asyncio.wait_for(reader.read(), 10)
            writer.close()
            await until(lambda: backs[0].lost, what="the backend side was closed too")
    run(main(), loop)


@pytest.mark.parametrize("loop", LOOPS)
def test_bytes_and_eof_that_arrive_before_the_backend_connects_are_kept(loop, monkeypatch) -> None:
    """uvloop can deliver a read that raced with `pause_reading()` in `connection_made`, before
    the backend is connected (seen in `make bench`: 21k errors, every such request lost). The
    race is made certain here: each accepted client "receives" bytes and an EOF at once."""

    made = dataplane._Client.connection_made

    def early_read(self, transport) -> None:  # type: ignore[no-untyped-def]
        made(self, transport)
        assert self.peer is None  # still connecting
        self.data_received(b"early:")
        self.eof_received()

    monkeypatch.setattr(dataplane._Client, "connection_made", early_read)

    async def main() -> None:
        async with backends(1) as backs, plane_on(Route("t", endpoints(*backs))) as (plane, port):
            reader, writer = await asyncio.open_connection(HOST, port)
            got = await asyncio.wait_for(reader.read(), 10)  # until the proxy's EOF
            writer.close()
            # the backend echoed the early bytes, then saw the EOF (its "bye")
            assert got == b"b1\nearly:bye\n"
            assert backs[0].received == len(b"early:")
            assert plane.stats.spliced == 1
    run(main(), loop)
