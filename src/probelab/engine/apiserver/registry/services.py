"""Services (`pkg/registry/core/service/strategy.go` and `storage/alloc.go`): status starts
with an empty load balancer, and every create and update allocates what the spec leaves open
(ClusterIP, NodePorts) through `registry.allocation`."""

from __future__ import annotations

from probelab.engine.apiserver.registry import allocation
from probelab.engine.apiserver.registry.strategy import Env, Strategy
from probelab.k8s.objects import Obj


class ServiceStrategy(Strategy):
    returns_deleted_object = True

    def initial_status(self, obj: Obj) -> Obj:
        return {"loadBalancer": {}}

    def begin_write(self, env: Env, obj: Obj, old: Obj | None) -> Obj:
        return allocation.allocate(env.store, env.rng, obj, old,
                                   env.service_prefix)
