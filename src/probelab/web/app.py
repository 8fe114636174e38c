"""The public application of simpleweb: the stats page `/` and `/slow?ms=N`.

Only what users should reach lives here; `/healthz`, `/prestop` and friends are on the admin port
(admin.py) so that nobody behind the Service can take a pod out of rotation. The connection
(protocol.py) adds `X-App-Version` and `X-Pod-Name` to every response (the load generator counts
versions and pods from them) and, once the pod drains, `Connection: close`, so keep-alive clients
move to pods that stay.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from time import monotonic, perf_counter
from urllib.parse import parse_qsl

from probelab import __version__
from probelab.web.config import MAX_SLOW_MS
from probelab.web.http1 import HTML, Handler, Request, Response, route, text
from probelab.web.metrics import Metrics
from probelab.web.state import ServiceState
from probelab.web.stats import StatsView, TextPage, render_html, wants_html

BUILD = f"probelab {__version__}, Python {sys.version_info.major}.{sys.version_info.minor}"


def parse_ms(query: str) -> int:
    """`/slow?ms=N`: whole milliseconds, 0 to MAX_SLOW_MS (the first `ms` if there are several,
    as before); anything else is the client's error, raised as ValueError with the 400's text."""
    raw = next((value for key, value in parse_qsl(query, keep_blank_values=True)
                if key == "ms"), None)
    if raw is None:
        raise ValueError("missing query parameter ms (e.g. /slow?ms=3000)\n")
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"ms must be a whole number, got {raw!r}\n") from None
    if not 0 <= value <= MAX_SLOW_MS:
        raise ValueError(f"ms must be between 0 and {MAX_SLOW_MS}\n")
    return value


class PublicApp:
    """Routes the public port and counts every answer: in flight and served for the stats page,
    route and status and duration for /metrics. Plain integer updates: no middleware chain."""

    def __init__(self, state: ServiceState, metrics: Metrics) -> None:
        self.state = state
        self.metrics = metrics
        self.routes: dict[str, Handler] = {"/": self.stats_page, "/slow": self.slow}
        self.page = TextPage(state.pod_name, state.app_version, BUILD)

    def __call__(self, request: Request) -> Response | Awaitable[Response]:
        state = self.state
        state.in_flight += 1
        started = perf_counter()
        try:
            # A GET of a known path goes straight to its handler; `route` decides the rest
            # (HEAD, 404, 405) the same way.
            handler = self.routes.get(request.path) if request.method == "GET" else None
            result = route(self.routes, request) if handler is None else handler(request)
        except BaseException:
            self._done(request, 500, started)
            raise
        if isinstance(result, Response):  # `_done`, inlined: this is every `GET /`
            state.in_flight -= 1
            state.requests_served += 1
            self.metrics.observe(request.path, result.status, perf_counter() - started)
            return result
        return self._counted(request, result, started)

    async def _counted(self, request: Request, result: Awaitable[Response],
                       started: float) -> Response:
        status = 500  # what a cancelled or failed handler counts as
        try:
            response = await result
            status = response.status
            return response
        finally:
            self._done(request, status, started)

    def _done(self, request: Request, status: int, started: float) -> None:
        state = self.state
        state.in_flight -= 1
        state.requests_served += 1
        self.metrics.observe(request.path, status, perf_counter() - started)

    def stats_page(self, request: Request) -> Response:
        state = self.state
        if wants_html(request.accept):
            view = StatsView(state.pod_name, state.app_version, BUILD, state.uptime_s(),
                             state.requests_served, state.in_flight, state.phase.value)
            return Response(200, render_html(view).encode(), HTML)
        return Response(200, self.page.render(monotonic() - state.started_monotonic,
                                              state.requests_served, state.in_flight,
                                              state.phase))

    def slow(self, request: Request) -> Response | Awaitable[Response]:
        try:
            ms = parse_ms(request.query)
        except ValueError as exc:
            return text(str(exc), 400)
        return _sleep_then_answer(ms)


async def _sleep_then_answer(ms: int) -> Response:
    await asyncio.sleep(ms / 1000)
    return text(f"slept {ms} ms\n")
