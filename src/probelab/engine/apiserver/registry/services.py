"""Services (`pkg/registry/core/service/strategy.go` and `storage/alloc.go`): status starts
with an empty load balancer, and every create and update allocates what the spec leaves open
(ClusterIP, NodePorts) through `registry.allocation`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from probelab.engine.apiserver.registry import allocation
from probelab.engine.apiserver.registry.strategy import Strategy
from probelab.k8s.objects import Obj

if TYPE_CHECKING:
    from probelab.engine.apiserver.registry.generic import Registry


class ServiceStrategy(Strategy):
    returns_deleted_object = True

    def initial_status(self, obj: Obj) -> Obj:
        return {"loadBalancer": {}}

    def begin_write(self, registry: Registry, obj: Obj, old: Obj | None) -> Obj:
        return allocation.allocate(registry.store, registry.rng, obj, old,
                                   registry.service_prefix)
