"""The admin application of simpleweb: what the kubelet and Prometheus talk to.

    /healthz  readiness: 200 while serving, 503 while starting or draining
    /livez    liveness: 200 whenever the event loop answers
    /prestop  the preStop hook: readiness 503 at once, answer after --prestop-delay seconds
    /metrics  Prometheus text format

This port is never part of a Service (deploy/kubernetes/*/20-service.yaml), so only the node's
kubelet can reach it. Its responses never carry the drain's `Connection: close`: probes keep
working through the whole shutdown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from probelab.web.http1 import Handler, Request, Response, route, text
from probelab.web.log import Stopwatch
from probelab.web.metrics import Metrics
from probelab.web.shutdown import is_ready
from probelab.web.state import ServiceState

LogFn = Callable[..., None]


def build_admin_app(state: ServiceState, metrics: Metrics, prestop_delay_s: float,
                    log: LogFn) -> Handler:
    def healthz(request: Request) -> Response:
        if is_ready(state.phase):
            return text("ok\n")
        return text(f"{state.phase.value}\n", 503)

    def livez(request: Request) -> Response:
        return text("ok\n")

    async def prestop(request: Request) -> Response:
        watch = Stopwatch()
        changed = state.start_prestop()
        what = "readiness 503, public responses close their connection" if changed else (
            f"already {state.phase.value}")
        log("prestop", f"{what}; holding the hook {prestop_delay_s:g} s")
        await asyncio.sleep(prestop_delay_s)
        log("prestop", "hook answered; waiting for the stop signal", watch.total())
        return text(f"drained for {prestop_delay_s:g} s\n")

    def metrics_page(request: Request) -> Response:
        return Response(200, metrics.render(), metrics.content_type)

    routes: dict[str, Handler] = {
        "/healthz": healthz, "/livez": livez, "/prestop": prestop, "/metrics": metrics_page,
    }
    return lambda request: route(routes, request)
