"""The service proxy's data plane, chosen by the engine's config: `userspace` (listeners and a
byte splice, `dataplane`, run in a child process on uvloop, `childplane`/`splicer`; or in this
process with `proxy_process="engine"`) or `kernel` (nftables DNAT, `kernel.plane`). All take
the routes `proxy.component` computes with the same rules (`rules.usable_endpoints`)."""

from __future__ import annotations

from typing import Any

from probelab.engine.core.context import EngineContext


def build(ctx: EngineContext) -> Any:
    if ctx.config.dataplane == "kernel":
        from probelab.engine.network.ranges import EngineNet
        from probelab.engine.proxy.kernel.plane import KernelPlane

        return KernelPlane(EngineNet(ctx.config.net_index))
    if ctx.config.proxy_process == "child":
        from probelab.engine.proxy.childplane import ChildPlane

        return ChildPlane()
    from probelab.engine.proxy.dataplane import DataPlane

    return DataPlane(ctx.rng)


def for_frontend(ctx: EngineContext, plane: Any) -> Any:
    """The plane a profile's frontend (cloud-lb) listens with: the proxy's own, except the
    child process, whose place the frontend's listeners take in this process (a frontend
    models a load balancer with lags of its own and reads its routes per connection)."""
    from probelab.engine.proxy.childplane import ChildPlane

    if isinstance(plane, ChildPlane) and ctx.config.profile != "kube-proxy":
        from probelab.engine.proxy.dataplane import DataPlane

        return DataPlane(ctx.rng)
    return plane
