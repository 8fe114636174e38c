"""Run one simpleweb process: bind, start in phases, wait for a signal, shut down in phases.

    run(config) -> exit code
      bind        both sockets at once, so a port in use is an error before anything starts
      startup     admin port listening (/healthz 503) -> startup delay -> public port listening
      serving     until SIGTERM/SIGINT (GET /prestop may already have started draining)
      shutdown    readiness 503 -> drain delay -> close listeners -> close idle connections,
                  busy ones after their response -> in-flight requests finish (or are cancelled
                  at --shutdown-timeout) -> exit 0

Every phase is one log line with its timing (log.py). The decisions are in shutdown.py; this
module only waits and does the I/O (the sockets themselves are protocol.py's), in the order
uvicorn's server.py made familiar. Signal
handlers only set an event, except a second SIGINT, which leaves at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
import time
from collections.abc import Callable

from probelab.errors import UsageError
from probelab.web.admin import build_admin_app
from probelab.web.app import PublicApp
from probelab.web.config import WebConfig
from probelab.web.http1 import identity_lines
from probelab.web.log import PhaseLog, Stopwatch
from probelab.web.metrics import Metrics
from probelab.web.protocol import HttpServer
from probelab.web.shutdown import (
    Phase,
    SignalAction,
    closes_connections,
    drain_wait_s,
    is_ready,
    on_signal,
)
from probelab.web.state import ServiceState

FORCED_EXIT_CODE = 130  # like a shell reports a process stopped by Ctrl-C
ADMIN_SHUTDOWN_S = 1.0  # admin requests are instant; only a held /prestop can be pending
CANCEL_WAIT_S = 0.05  # after --shutdown-timeout: how long a cancelled handler gets to unwind
BACKLOG = 1024  # pending connections the kernel queues before accept


def bind(host: str, port: int, flag: str) -> socket.socket:
    """A bound (not yet listening) TCP socket. Clients get `connection refused` until `listen`,
    which is exactly what the startup delay should look like; binding early reports a port in
    use at once instead of after the delay."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(f"--host {host!r} cannot be resolved: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"{flag} {port}: {host}:{port} is already in use") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise UsageError(f"--host {host}: not an address of this machine") from None
        raise UsageError(f"{flag} {port}: cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.setblocking(False)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _listen(server: HttpServer, sock: socket.socket, flag: str) -> asyncio.Server:
    """Start listening on a socket bound earlier (`bind`); from here clients are accepted."""
    loop = asyncio.get_running_loop()
    try:
        return await loop.create_server(server, sock=sock, backlog=BACKLOG)
    except OSError as exc:
        raise UsageError(f"{flag}: cannot listen on {_url(sock)}: {exc.strerror}") from None


class Service:
    """One process's life; `main()` runs it from bind to exit."""

    def __init__(self, config: WebConfig) -> None:
        self.config = config
        self.state = ServiceState(app_version=config.app_version, pod_name=config.pod_name)
        self.log = PhaseLog(config.pod_name, config.app_version)
        self.metrics = Metrics(
            config.app_version, config.pod_name,
            ready=lambda: is_ready(self.state.phase), in_flight=lambda: self.state.in_flight,
        )
        self.stop = asyncio.Event()

    # -- signals ---------------------------------------------------------------------------
    def _on_signal(self, signum: int) -> None:
        name = signal.Signals(signum).name
        action = on_signal(signum, self.stop.is_set())
        if action is SignalAction.START_SHUTDOWN:
            self.log("shutdown", f"{name} received")
            self.stop.set()
        elif action is SignalAction.FORCE_EXIT:
            self.log("shutdown", f"second {name}: exiting now, {self.state.in_flight} in flight")
            os._exit(FORCED_EXIT_CODE)
        else:
            self.log("shutdown", f"{name} again: already shutting down")

    # -- the whole life --------------------------------------------------------------------
    async def main(self, admin_sock: socket.socket, public_sock: socket.socket) -> int:
        config, state, log = self.config, self.state, self.log
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_signal, signum)
        watch = Stopwatch()
        identity = identity_lines(config.app_version, config.pod_name)
        admin = HttpServer(build_admin_app(state, self.metrics, config.prestop_delay_s, log),
                           identity, config.idle_timeout_s, draining=lambda: False)
        public = HttpServer(PublicApp(state, self.metrics), identity, config.idle_timeout_s,
                            draining=lambda: closes_connections(state.phase))
        admin_listener = public_listener = None
        try:
            admin_listener = await _listen(admin, admin_sock, "--admin-port")
            log("startup", f"admin port listening on {_url(admin_sock)} (/healthz 503 until "
                f"the public port listens)", watch.lap())
            if config.startup_delay_s > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), config.startup_delay_s)
                log("startup", f"startup delay of {config.startup_delay_s:g} s over"
                    + (" (interrupted)" if self.stop.is_set() else ""), watch.lap())
            if not self.stop.is_set():
                public_listener = await _listen(public, public_sock, "--port")
                if state.phase is Phase.STARTING:
                    state.phase = Phase.SERVING
                log("startup", f"public port listening on {_url(public_sock)}; "
                    f"{state.phase.value} (started in {watch.total():.3f} s)", watch.lap())
            await self.stop.wait()
            await self._shutdown(public, public_listener)
            await _stop(admin, admin_listener, ADMIN_SHUTDOWN_S)
        finally:
            for server, listener in ((public, public_listener), (admin, admin_listener)):
                if listener is not None:
                    listener.close()
                server.close_all()
            public_sock.close()
            admin_sock.close()
        log("exit", "stopped cleanly, exit 0", watch.total())
        return 0

    async def _shutdown(self, public: HttpServer, listener: asyncio.Server | None) -> None:
        config, state, log = self.config, self.state, self.log
        watch = Stopwatch()
        prestop_started = state.prestop_started
        state.phase = Phase.DRAINING
        log("shutdown", "readiness 503; public responses carry Connection: close")
        wait_s = drain_wait_s(config.drain_delay_s, prestop_started)
        if wait_s > 0:
            await asyncio.sleep(wait_s)
            log("shutdown", f"drain delay of {wait_s:g} s over, "
                f"{state.requests_served} requests served so far", watch.lap())
        else:
            why = "/prestop already drained" if prestop_started else "--drain-delay 0"
            log("shutdown", f"no drain delay ({why})")
        if listener is not None:
            listener.close()  # new connections are refused from here on
        state.phase = Phase.CLOSING
        connections = len(public.connections)
        in_flight = state.in_flight
        log("shutdown", f"listeners closed; closing {connections} connections, "
            f"{in_flight} requests in flight", watch.lap())
        await self._finish_in_flight(public, in_flight, watch)
        state.phase = Phase.STOPPED

    async def _finish_in_flight(self, public: HttpServer, in_flight: int,
                                watch: Stopwatch) -> None:
        """Idle connections close now (FIN); busy ones close after their response; whatever is
        still running at --shutdown-timeout is cancelled."""
        budget = self.config.shutdown_timeout_s
        public.close_idle()
        started = time.monotonic()
        left = await public.wait_tasks(budget)
        if left:
            await public.cancel_tasks(CANCEL_WAIT_S)  # each closes its connection
            self.log("shutdown", f"--shutdown-timeout {budget:g} s reached: {left} requests "
                     f"cancelled, {in_flight - left} finished", time.monotonic() - started)
            return
        self.log("shutdown", f"in-flight requests done: {in_flight} finished, 0 cancelled",
                 watch.lap())


async def _stop(server: HttpServer, listener: asyncio.Server | None, budget_s: float) -> None:
    """The admin port after the public one: only a held /prestop can still be running."""
    if listener is not None:
        listener.close()
    server.close_idle()
    if await server.wait_tasks(budget_s):
        await server.cancel_tasks(CANCEL_WAIT_S)


def run(config: WebConfig) -> int:
    """Bind, then run the service's loop until it stops; the exit code."""
    admin_sock = bind(config.host, config.admin_port, "--admin-port")
    try:
        public_sock = bind(config.host, config.port, "--port")
    except UsageError:
        admin_sock.close()
        raise
    service = Service(config)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(service.main(admin_sock, public_sock))


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed (a dependency on Linux), asyncio's own loop elsewhere. The
    issue's prototype went from 71.6k to 80.0k req/s with it; on the busy shared machine this
    service used a median 11 % less CPU per request with it (5 alternating rounds, per-round
    ratios 0.89-1.25: within the noise, but the same direction)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
