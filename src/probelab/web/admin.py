"""The admin application of simpleweb: what the kubelet and Prometheus talk to.

    /healthz  readiness: 200 while serving, 503 while starting or draining
    /livez    liveness: 200 whenever the event loop answers
    /prestop  the preStop hook: readiness 503 at once, answer after --prestop-delay seconds
    /metrics  Prometheus text format

This port is never part of a Service (deploy/kubernetes/*/20-service.yaml), so only the node's
kubelet can reach it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from probelab.web.app import identity_headers
from probelab.web.config import MAX_BODY_BYTES
from probelab.web.log import Stopwatch
from probelab.web.metrics import Metrics
from probelab.web.shutdown import is_ready
from probelab.web.state import ServiceState

LogFn = Callable[..., None]


def build_admin_app(
    state: ServiceState, metrics: Metrics, prestop_delay_s: float, log: LogFn
) -> web.Application:
    async def healthz(request: web.Request) -> web.Response:
        if is_ready(state.phase):
            return web.Response(text="ok\n")
        return web.Response(status=503, text=f"{state.phase.value}\n")

    async def livez(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def prestop(request: web.Request) -> web.Response:
        watch = Stopwatch()
        changed = state.start_prestop()
        what = "readiness 503, public responses close their connection" if changed else (
            f"already {state.phase.value}")
        log("prestop", f"{what}; holding the hook {prestop_delay_s:g} s")
        await asyncio.sleep(prestop_delay_s)
        log("prestop", "hook answered; waiting for the stop signal", watch.total())
        return web.Response(text=f"drained for {prestop_delay_s:g} s\n")

    async def metrics_page(request: web.Request) -> web.Response:
        response = web.Response(body=metrics.render())
        response.headers["Content-Type"] = metrics.content_type
        return response

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/livez", livez)
    app.router.add_get("/prestop", prestop)
    app.router.add_get("/metrics", metrics_page)
    app.on_response_prepare.append(identity_headers(state, public=False))
    return app
