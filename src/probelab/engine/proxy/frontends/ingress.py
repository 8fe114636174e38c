"""The ingress-nginx profile: an HTTP reverse proxy in front of the NodePort listeners.

Like ingress-nginx, it routes to the Service's endpoints directly (pod addresses from its own
lagging view of the EndpointSlices: `view.LaggingView` with ingress-nginx's sync rate limit),
keeps a pool of keep-alive connections to the pods (aiohttp's connector; idle ones closed
after upstream-keepalive-timeout), and on a failed try applies nginx's proxy_next_upstream
rules (`retry`, pure): another endpoint for an idempotent request, else 502/504; no endpoint at
all is 503. Client connections are HTTP/1.1 keep-alive to the ingress itself: a pod's
`Connection: close` ends only the upstream connection, as hop-by-hop headers are not passed on.

The HTTP serving runs on an event loop of its own, in a thread (`_LoopThread`): ingress-nginx is a
pod of its own, so its load must not delay the kubelet's probes, which share the engine's loop.
On that loop a busy ingress (500 requests/s on a loaded machine) delayed every readiness probe
past its 1 s timeout; with failureThreshold 1 all pods left the endpoints at once and the
ingress answered 503 to everything for seconds (a fault of the model, not of ingress-nginx).
The thread still shares the GIL, but the interpreter switches threads every few milliseconds,
so a probe waits milliseconds, not behind thousands of queued proxy callbacks. The view (its
timer) stays on the engine's loop; the serving thread only reads it (`LaggingView.usable`).

Not modelled: upstream-keepalive-connections (aiohttp keeps every idle connection, nginx the
320 most recent per worker) and upstream-keepalive-requests (10000 per connection: the demo's
runs stay under it); responses are buffered whole (nginx's proxy_buffering, on by default).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from probelab.engine.proxy.frontends.profile import IngressDefaults
from probelab.engine.proxy.frontends.retry import (
    NO_ENDPOINTS,
    Failure,
    pick,
    retries,
    status_for,
)
from probelab.engine.proxy.frontends.view import LaggingView, ServiceKey
from probelab.engine.proxy.rules import Endpoint, Listen
from probelab.engine.proxy.syncrunner import SyncTiming

log = logging.getLogger("probelab.engine.proxy.ingress")
T = TypeVar("T")

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "trailers", "transfer-encoding", "upgrade", "content-length",
})


class _LoopThread:
    """An event loop running in a daemon thread; `call` runs a coroutine there."""

    def __init__(self) -> None:
        try:
            import uvloop
            self.loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
            self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="ingress-nginx",
                                        daemon=True)
        self._thread.start()

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    async def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        await asyncio.to_thread(self._thread.join)
        self.loop.close()


class _Listening:
    """What `Ingress.listen` returns: closes, from the engine's loop, a server of the thread
    (nothing left to do once `Ingress.close` ended the thread: it closed every server)."""

    def __init__(self, thread: _LoopThread, server: asyncio.Server) -> None:
        self._thread, self._server = thread, server

    def close(self) -> None:
        if not self._thread.loop.is_closed():
            self._thread.loop.call_soon_threadsafe(self._server.close)

    async def wait_closed(self) -> None:
        if not self._thread.loop.is_closed():
            await self._thread.call(self._server.wait_closed())


@dataclass
class Stats:
    requests: int = 0  # client requests answered
    retried: int = 0  # tries passed on to another endpoint
    answered_5xx: int = 0  # 502/503/504 the ingress itself answered


class Ingress:
    """Frontend for NodePort listeners; `listen` opens one, `forget` drops it, `close` ends."""

    def __init__(self, latency_s: float, defaults: IngressDefaults | None = None) -> None:
        self.defaults = defaults = defaults or IngressDefaults()
        # the controller's watch latency and sync rate, then up to a second until the workers
        # poll what it posted (modelled as its worst case, added to the latency)
        self.view = LaggingView(latency_s + defaults.worker_poll_s,
                                SyncTiming(defaults.sync_period_s), lambda _: None)
        self.stats = Stats()
        self._cursor: dict[tuple[str, int], int] = {}
        self._servers: dict[tuple[str, int], web.Server] = {}
        self._listening: list[asyncio.Server] = []  # closed with the thread at the latest
        self._session: aiohttp.ClientSession | None = None
        self._thread = _LoopThread()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            d = self.defaults
            connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=d.keepalive_timeout_s,
                                             force_close=False, enable_cleanup_closed=False)
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, skip_auto_headers=("User-Agent",),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=d.connect_timeout_s,
                                              sock_read=d.read_timeout_s))
            # aiohttp silently repeats an idempotent request once when a connection fails after
            # sending; nginx's tries are counted by `retry` alone, so that repeat is turned off
            # (a private switch; tests/test_proxy_frontends.py counts the tries a pod sees).
            self._session._retry_connection = False
        return self._session

    async def listen(self, service: ServiceKey, spec: Listen, name: str) -> _Listening:
        server = await self._thread.call(self._listen(service, spec))
        return _Listening(self._thread, server)

    async def _listen(self, service: ServiceKey, spec: Listen) -> asyncio.Server:
        async def handler(request: web.BaseRequest) -> web.StreamResponse:
            return await self._handle(service, spec, request)

        server = web.Server(handler, access_log=None)
        loop = asyncio.get_running_loop()
        listening = await loop.create_server(server, spec.host, spec.port, backlog=1024,
                                             reuse_address=True)
        self._servers[(spec.host, spec.port)] = server
        self._listening.append(listening)
        return listening

    def forget(self, host: str, port: int) -> None:
        self._servers.pop((host, port), None)

    async def close(self) -> None:
        """Stop serving and end the thread; safe to call twice."""
        self.view.close()
        if self._thread.loop.is_closed():
            return
        await self._thread.call(self._close())
        await self._thread.stop()

    async def _close(self) -> None:
        for listening in self._listening:
            listening.close()
        servers = list(self._servers.values())
        self._servers.clear()
        for server in servers:
            await server.shutdown(timeout=0.5)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _handle(self, service: ServiceKey, spec: Listen,
                      request: web.BaseRequest) -> web.StreamResponse:
        self.stats.requests += 1
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        tried: list[Endpoint] = []
        failure: Failure | None = None
        while True:
            usable = self.view.usable(service, spec.port_name, spec.single)
            cursor = self._cursor.get((spec.host, spec.port), 0)
            endpoint = pick(usable, tried, cursor)
            if endpoint is None:
                return self._answer(NO_ENDPOINTS if failure is None else status_for(failure))
            self._cursor[(spec.host, spec.port)] = cursor + 1
            tried.append(endpoint)
            try:
                return await self._try(endpoint, request, headers, body)
            except aiohttp.ConnectionTimeoutError:
                failure = Failure.CONNECT_TIMEOUT
            except aiohttp.ClientConnectorError:
                failure = Failure.CONNECT_ERROR
            except (aiohttp.SocketTimeoutError, TimeoutError):
                failure = Failure.TIMEOUT
            except (aiohttp.ClientError, OSError):
                failure = Failure.ERROR
            log.debug("ingress %s/%s: %s:%d: %s", *service, endpoint.address, endpoint.port,
                      failure.value)
            if not retries(request.method, failure, len(tried), self.defaults.next_upstream_tries):
                return self._answer(status_for(failure))
            self.stats.retried += 1

    async def _try(self, endpoint: Endpoint, request: web.BaseRequest, headers: dict[str, str],
                   body: bytes) -> web.Response:
        url = f"http://{endpoint.address}:{endpoint.port}{request.rel_url}"
        async with self._client().request(request.method, url, headers=headers, data=body,
                                          allow_redirects=False) as upstream:
            data = await upstream.read()
            out = [(k, v) for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP]
            response = web.Response(status=upstream.status, reason=upstream.reason, body=data)
            for k, v in out:
                response.headers.add(k, v)
            return response

    def _answer(self, status: int) -> web.Response:
        self.stats.answered_5xx += 1
        reason = {502: "Bad Gateway", 503: "Service Temporarily Unavailable",
                  504: "Gateway Time-out"}[status]
        page = f"<html><head><title>{status} {reason}</title></head><body>\n" \
               f"<center><h1>{status} {reason}</h1></center>\n<hr><center>nginx</center>\n" \
               f"</body></html>\n"
        return web.Response(status=status, reason=reason, text=page, content_type="text/html")
