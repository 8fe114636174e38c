"""Nodes (`pkg/registry/core/node/strategy.go`): cluster-scoped; unlike most kinds, the status
given on create is kept, because the kubelet registers its node with capacity, conditions and
nodeInfo in one create (`pkg/kubelet/kubelet_node_status.go` registerWithAPIServer)."""

from __future__ import annotations

from probelab.engine.apiserver.registry.strategy import Strategy
from probelab.k8s.objects import Obj


class NodeStrategy(Strategy):
    def initial_status(self, obj: Obj) -> Obj:
        status = obj.get("status")
        return dict(status) if isinstance(status, dict) else {}
