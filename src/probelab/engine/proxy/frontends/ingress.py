"""The ingress-nginx profile: an HTTP reverse proxy in front of the NodePort listeners.

Like ingress-nginx, it routes to the Service's endpoints directly (pod addresses from its own
lagging view of the EndpointSlices: `view.LaggingView` with ingress-nginx's sync rate limit),
keeps a pool of keep-alive connections to the pods (aiohttp's connector; idle ones closed
after upstream-keepalive-timeout), and on a failed try applies nginx's proxy_next_upstream
rules (`retry`, pure): another endpoint for an idempotent request, else 502/504; no endpoint at
all is 503. Client connections are HTTP/1.1 keep-alive to the ingress itself: a pod's
`Connection: close` ends only the upstream connection, as hop-by-hop headers are not passed on.

Not modelled: upstream-keepalive-connections (aiohttp keeps every idle connection, nginx the
320 most recent per worker) and upstream-keepalive-requests (10000 per connection: the demo's
runs stay under it); responses are buffered whole (nginx's proxy_buffering, on by default).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

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

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "trailers", "transfer-encoding", "upgrade", "content-length",
})


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
        self._session: aiohttp.ClientSession | None = None

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

    async def listen(self, service: ServiceKey, spec: Listen, name: str) -> asyncio.Server:
        async def handler(request: web.BaseRequest) -> web.StreamResponse:
            return await self._handle(service, spec, request)

        server = web.Server(handler, access_log=None)
        loop = asyncio.get_running_loop()
        listening = await loop.create_server(server, spec.host, spec.port, backlog=1024,
                                             reuse_address=True)
        self._servers[(spec.host, spec.port)] = server
        return listening

    def forget(self, host: str, port: int) -> None:
        self._servers.pop((host, port), None)

    async def close(self) -> None:
        self.view.close()
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
