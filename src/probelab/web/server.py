"""Run one simpleweb process: bind, start in phases, wait for a signal, shut down in phases.

    run(config) -> exit code
      bind        both sockets at once, so a port in use is an error before anything starts
      startup     admin port listening (/healthz 503) -> startup delay -> public port listening
      serving     until SIGTERM/SIGINT (GET /prestop may already have started draining)
      shutdown    readiness 503 -> drain delay -> close listeners -> close idle connections,
                  busy ones after their response -> in-flight requests finish (or are cancelled
                  at --shutdown-timeout) -> exit 0

Every phase is one log line with its timing (log.py). The decisions are in shutdown.py; this
module only waits and does the I/O, in the order uvicorn's server.py made familiar. Signal
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

from aiohttp import web

from probelab.errors import UsageError
from probelab.web.admin import build_admin_app
from probelab.web.app import build_public_app
from probelab.web.config import MAX_HEADERS, MAX_LINE_BYTES, WebConfig
from probelab.web.log import PhaseLog, Stopwatch
from probelab.web.metrics import Metrics
from probelab.web.shutdown import Phase, SignalAction, drain_wait_s, is_ready, on_signal
from probelab.web.state import ServiceState

FORCED_EXIT_CODE = 130  # like a shell reports a process stopped by Ctrl-C
ADMIN_SHUTDOWN_S = 1.0  # admin requests are instant; only a held /prestop can be pending
CANCEL_WAIT_S = 0.05  # after --shutdown-timeout: how long a cancelled handler gets to unwind


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


def _runner(app: web.Application, config: WebConfig, shutdown_s: float) -> web.AppRunner:
    return web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,  # one line per phase, not per request: the load is the point
        shutdown_timeout=shutdown_s,
        keepalive_timeout=config.idle_timeout_s,  # also bounds a request's unfinished headers
        max_headers=MAX_HEADERS,
        max_line_size=MAX_LINE_BYTES,
        max_field_size=MAX_LINE_BYTES,
    )


async def _listen(runner: web.AppRunner, sock: socket.socket, flag: str) -> web.SockSite:
    site = web.SockSite(runner, sock)
    try:
        await site.start()
    except OSError as exc:
        raise UsageError(f"{flag}: cannot listen on {_url(sock)}: {exc.strerror}") from None
    return site


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
        admin = _runner(
            build_admin_app(state, self.metrics, config.prestop_delay_s, log), config,
            ADMIN_SHUTDOWN_S,
        )
        public = _runner(build_public_app(state, self.metrics), config, config.shutdown_timeout_s)
        await admin.setup()
        await public.setup()
        public_site: web.SockSite | None = None
        try:
            await _listen(admin, admin_sock, "--admin-port")
            log("startup", f"admin port listening on {_url(admin_sock)} (/healthz 503 until "
                f"the public port listens)", watch.lap())
            if config.startup_delay_s > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), config.startup_delay_s)
                log("startup", f"startup delay of {config.startup_delay_s:g} s over"
                    + (" (interrupted)" if self.stop.is_set() else ""), watch.lap())
            if not self.stop.is_set():
                public_site = await _listen(public, public_sock, "--port")
                if state.phase is Phase.STARTING:
                    state.phase = Phase.SERVING
                log("startup", f"public port listening on {_url(public_sock)}; "
                    f"{state.phase.value} (started in {watch.total():.3f} s)", watch.lap())
            await self.stop.wait()
            await self._shutdown(public, public_site)
        finally:
            await public.cleanup()
            await admin.cleanup()
            public_sock.close()
            admin_sock.close()
        log("exit", "stopped cleanly, exit 0", watch.total())
        return 0

    async def _shutdown(self, public: web.AppRunner, site: web.SockSite | None) -> None:
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
        if site is not None:
            await site.stop()
        state.phase = Phase.CLOSING
        server = public.server
        connections = len(server.connections) if server is not None else 0
        in_flight = state.in_flight
        log("shutdown", f"listeners closed; closing {connections} connections, "
            f"{in_flight} requests in flight", watch.lap())
        if server is not None:
            await self._finish_in_flight(server, in_flight, watch)
        state.phase = Phase.STOPPED

    async def _finish_in_flight(self, server: web.Server, in_flight: int, watch: Stopwatch) -> None:
        """Idle connections close now (FIN); busy ones close after their response; whatever is
        still running at --shutdown-timeout is cancelled."""
        budget = self.config.shutdown_timeout_s
        server.pre_shutdown()
        started = time.monotonic()
        try:
            await asyncio.wait_for(server.shutdown(budget), timeout=budget)
        except TimeoutError:
            left = self.state.in_flight
            await server.shutdown(CANCEL_WAIT_S)  # cancels the handlers, closes their sockets
            self.log("shutdown", f"--shutdown-timeout {budget:g} s reached: {left} requests "
                     f"cancelled, {in_flight - left} finished", time.monotonic() - started)
            return
        self.log("shutdown", f"in-flight requests done: {in_flight} finished, 0 cancelled",
                 watch.lap())


def run(config: WebConfig) -> int:
    """Bind, then run the service's loop until it stops; the exit code."""
    admin_sock = bind(config.host, config.admin_port, "--admin-port")
    try:
        public_sock = bind(config.host, config.port, "--port")
    except UsageError:
        admin_sock.close()
        raise
    service = Service(config)
    return asyncio.run(service.main(admin_sock, public_sock))
