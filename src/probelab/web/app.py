"""The public application of simpleweb: the stats page `/` and `/slow?ms=N`.

Only what users should reach lives here; `/healthz`, `/prestop` and friends are on the admin port
(admin.py) so that nobody behind the Service can take a pod out of rotation. Every response carries
`X-App-Version` and `X-Pod-Name` (the load generator counts versions and pods from them) and, once
the pod drains, `Connection: close`, so keep-alive clients move to pods that stay.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from probelab import __version__
from probelab.web.config import MAX_BODY_BYTES, MAX_SLOW_MS
from probelab.web.metrics import Metrics
from probelab.web.shutdown import closes_connections
from probelab.web.state import ServiceState
from probelab.web.stats import StatsView, render_html, render_text, wants_html

STATE_KEY = web.AppKey("state", ServiceState)
METRICS_KEY = web.AppKey("metrics", Metrics)
BUILD = f"probelab {__version__}, Python {sys.version_info.major}.{sys.version_info.minor}"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def identity_headers(state: ServiceState, public: bool):
    """on_response_prepare hook: who answered, and whether the connection ends here."""

    async def hook(request: web.Request, response: web.StreamResponse) -> None:
        response.headers["X-App-Version"] = state.app_version
        response.headers["X-Pod-Name"] = state.pod_name
        if public and closes_connections(state.phase):
            # aiohttp computed its own Connection header before this hook: set ours, and tell
            # the protocol to close the connection once this body is written.
            response.force_close()
            response.headers["Connection"] = "close"

    return hook


def counting(state: ServiceState, metrics: Metrics):
    """Middleware: requests in flight and served, for the stats page and /metrics."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        state.in_flight += 1
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            state.in_flight -= 1
            state.requests_served += 1
            metrics.observe(request.path, status, time.perf_counter() - started)

    return middleware


async def stats_page(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    view = StatsView(
        pod_name=state.pod_name,
        app_version=state.app_version,
        build=BUILD,
        uptime_s=state.uptime_s(),
        requests_served=state.requests_served,
        in_flight=state.in_flight,
        phase=state.phase.value,
    )
    if wants_html(request.headers.get("Accept", "")):
        return web.Response(text=render_html(view), content_type="text/html")
    return web.Response(text=render_text(view))


def parse_ms(raw: str | None) -> int:
    """`/slow?ms=N`: whole milliseconds, 0 to MAX_SLOW_MS; anything else is the client's error."""
    if raw is None:
        raise web.HTTPBadRequest(text="missing query parameter ms (e.g. /slow?ms=3000)\n")
    try:
        value = int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"ms must be a whole number, got {raw!r}\n") from None
    if not 0 <= value <= MAX_SLOW_MS:
        raise web.HTTPBadRequest(text=f"ms must be between 0 and {MAX_SLOW_MS}\n")
    return value


async def slow(request: web.Request) -> web.Response:
    ms = parse_ms(request.query.get("ms"))
    await asyncio.sleep(ms / 1000)
    return web.Response(text=f"slept {ms} ms\n")


def build_public_app(state: ServiceState, metrics: Metrics) -> web.Application:
    app = web.Application(middlewares=[counting(state, metrics)], client_max_size=MAX_BODY_BYTES)
    app[STATE_KEY] = state
    app[METRICS_KEY] = metrics
    app.router.add_get("/", stats_page)
    app.router.add_get("/slow", slow)
    app.on_response_prepare.append(identity_headers(state, public=True))
    return app
