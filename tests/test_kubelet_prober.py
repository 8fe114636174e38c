"""Probe and hook handlers against real sockets and processes, and the runtime's promise that
containers die with the engine (parent-death signal), checked by PID."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import textwrap
from pathlib import Path

import pytest

from probelab.engine.kubelet import lifecycle, prober, runtime
from probelab.engine.kubelet.probe_rules import ProbeSpec, ProbeType, Result
from probelab.engine.kubelet.prober import Target, resolve_port
from support.loops import run
from support.paths import PYTHON, REPO
from support.processes import pid_alive, started
from support.waiting import wait_until


class Web:
    """A tiny HTTP/1.1 server on 127.0.0.1: path → (status, extra headers); records requests."""

    def __init__(self, routes: dict[str, tuple[int, dict[str, str]]], host: str = "127.0.0.1"):
        self.routes = routes
        self.host = host
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> Web:
        self.server = await asyncio.start_server(self._serve, self.host, 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = (await reader.readline()).decode()
            headers = {}
            while (h := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = h.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            path = line.split(" ")[1]
            self.requests.append((path, headers))
            status, extra = self.routes.get(path, (404, {}))
            if status == 0:  # never answer (until the client gives up)
                await reader.read()
                return
            head = f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n"
            head += "".join(f"{k}: {v}\r\n" for k, v in extra.items())
            writer.write((head + "\r\n").encode())
            await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


def _spec(kind: str, handler: dict, timeout_s: int = 1) -> ProbeSpec:
    return ProbeSpec(ProbeType.READINESS, kind, handler, timeout_s=timeout_s)


def test_http_probe_statuses_headers_and_redirects() -> None:
    async def main() -> None:
        routes = {
            "/ok": (200, {}), "/bad": (503, {}), "/moved": (302, {"Location": "/ok"}),
            "/away": (301, {"Location": "http://127.0.0.2:1/elsewhere"}),
            "/loop": (302, {"Location": "/loop"}), "/hang": (0, {}), "/r399": (399, {}),
        }
        async with Web(routes) as web:
            target = Target("127.0.0.1", {"http": web.port})

            async def probe(path: str, **more) -> prober.Outcome:
                handler = {"path": path, "port": "http", **more}
                return await prober.run_probe(_spec("httpGet", handler), target)

            assert (await probe("/ok")).result is Result.SUCCESS
            assert (await probe("/r399")).result is Result.SUCCESS  # below 400 succeeds
            bad = await probe("/bad")
            assert bad.result is Result.FAILURE
            assert bad.message == "HTTP probe failed with statuscode: 503"
            assert (await probe("/moved")).result is Result.SUCCESS
            assert web.requests[-1][0] == "/ok"  # the same-host redirect was followed
            away = await probe("/away")
            assert away.result is Result.SUCCESS and away.warning  # not followed
            assert (await probe("/loop")).result is Result.FAILURE
            hang = await probe("/hang")
            assert hang.result is Result.FAILURE and "deadline exceeded" in hang.message
            await probe("/ok", httpHeaders=[{"name": "X-Probe", "value": "yes"}])
            _path, headers = web.requests[-1]
            assert headers["user-agent"].startswith("kube-probe/")
            assert headers["x-probe"] == "yes" and headers["connection"] == "close"
            await probe("/ok", httpHeaders=[{"name": "User-Agent", "value": "mine"}])
            assert web.requests[-1][1]["user-agent"] == "mine"
        refused = await prober.run_probe(_spec("httpGet", {"path": "/", "port": web.port}),
                                         target)
        assert refused.result is Result.FAILURE
        assert "connect: connection refused" in refused.message

    run(main())


def test_tcp_probe() -> None:
    async def main() -> None:
        async with Web({}) as web:
            ok = await prober.run_probe(_spec("tcpSocket", {"port": web.port}),
                                        Target("127.0.0.1"))
            assert ok.result is Result.SUCCESS
        closed = await prober.run_probe(_spec("tcpSocket", {"port": web.port}),
                                        Target("127.0.0.1"))
        assert closed.result is Result.FAILURE and "refused" in closed.message

    run(main())


def test_exec_probe_exit_codes_output_and_timeout(tmp_path: Path) -> None:
    async def main() -> None:
        env = {"PATH": os.environ["PATH"], "WHO": "probe"}
        target = Target("127.0.0.1", env=env)

        async def probe(script: str, timeout_s: int = 1) -> prober.Outcome:
            handler = {"command": [sys.executable, "-c", script]}
            return await prober.run_probe(_spec("exec", handler, timeout_s), target)

        assert (await probe("import os; assert os.environ['WHO'] == 'probe'")).result \
            is Result.SUCCESS
        failed = await probe("print('not yet'); raise SystemExit(1)")
        assert failed.result is Result.FAILURE and failed.message == "not yet"
        pid_file = tmp_path / "pid"
        slow = await probe(f"import os, time; open({str(pid_file)!r}, 'w')"
                           f".write(str(os.getpid())); time.sleep(60)")
        assert slow.result is Result.FAILURE and "timed out" in slow.message
        assert not pid_alive(int(pid_file.read_text()))  # killed, not left behind
        missing = await prober.run_probe(
            _spec("exec", {"command": ["/nonexistent/probe"]}), target)
        assert missing.result is Result.FAILURE

    run(main())


@pytest.mark.parametrize(("value", "port"), [(8080, 8080), ("8081", 8081), ("admin", 9000)])
def test_resolve_port(value, port) -> None:
    assert resolve_port(value, {"admin": 9000}) == port


@pytest.mark.parametrize("value", ["nope", 0, 70000, None, True])
def test_resolve_port_errors(value) -> None:
    with pytest.raises(ValueError):
        resolve_port(value, {"admin": 9000})


def test_prestop_handlers() -> None:
    async def main() -> None:
        env = {"PATH": os.environ["PATH"]}
        async with Web({"/prestop": (500, {})}) as web:
            target = Target("127.0.0.1", {"admin": web.port}, env)
            http = {"httpGet": {"path": "/prestop", "port": "admin"}}
            assert await lifecycle.run_prestop(http, target, "c", "p", 5) is None  # 500 is fine
            assert web.requests[-1][0] == "/prestop"
        refused = await lifecycle.run_prestop(http, target, "c", "p", 5)
        assert refused is not None and refused.startswith("HTTP lifecycle hook")
        failing = {"exec": {"command": [sys.executable, "-c", "raise SystemExit(4)"]}}
        message = await lifecycle.run_prestop(failing, target, "c", "p", 5)
        assert message is not None and "exited with 4" in message
        assert await lifecycle.run_prestop({"sleep": {"seconds": 0}}, target, "c", "p", 5) is None
        assert await lifecycle.run_prestop({}, target, "c", "p", 5) is not None

    run(main())


@pytest.mark.parametrize("via", ["setpriv", "prctl"])
def test_containers_die_with_the_engine_even_on_sigkill(via: str) -> None:
    """A process that spawned a container through the runtime is SIGKILLed; the container goes
    too (PR_SET_PDEATHSIG, set by setpriv or by prctl in a preexec function), although it is in
    its own session and ignores SIGTERM."""
    if via == "setpriv" and runtime.SETPRIV is None:
        pytest.skip("util-linux setpriv is not installed")
    script = textwrap.dedent(f"""
        import asyncio, sys
        sys.path.insert(0, {str(REPO / "src")!r})
        from probelab.engine.kubelet import runtime
        if {via!r} == "prctl":
            runtime.SETPRIV = None
        async def main():
            argv = [sys.executable, "-c",
                    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                    "time.sleep(120)"]
            proc = await runtime.spawn(argv, {{}}, None)
            print(proc.pid, flush=True)
            await asyncio.sleep(120)
        asyncio.run(main())
    """)
    with started([PYTHON, "-c", script]) as engine:
        assert engine.stdout is not None
        child = int(engine.stdout.readline())
        assert pid_alive(child)
        assert os.getpgid(child) == child  # its own process group
        engine.kill()
        engine.wait(10)
        wait_until(lambda: not pid_alive(child), timeout_s=10, what="container gone")


def test_signal_helpers_ignore_missing_processes() -> None:
    assert runtime.signal_group(2**22 + 12345, 0) is False
    assert runtime.signal_pid(2**22 + 12345, 0) is False


