"""The service proxy's data plane, chosen by the engine's config: `userspace` (listeners and a
byte splice in this process, `dataplane`) or `kernel` (nftables DNAT, `kernel.plane`). Both take
the routes `proxy.component` computes with the same rules (`rules.usable_endpoints`)."""

from __future__ import annotations

from typing import Any

from probelab.engine.core.context import EngineContext


def build(ctx: EngineContext) -> Any:
    if ctx.config.dataplane == "kernel":
        from probelab.engine.network.ranges import EngineNet
        from probelab.engine.proxy.kernel.plane import KernelPlane

        return KernelPlane(EngineNet(ctx.config.net_index))
    from probelab.engine.proxy.dataplane import DataPlane

    return DataPlane(ctx.rng)
