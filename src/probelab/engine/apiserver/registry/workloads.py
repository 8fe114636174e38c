"""Deployments and ReplicaSets (`pkg/registry/apps/deployment/strategy.go`,
`pkg/registry/apps/replicaset/strategy.go`): the selector is immutable in apps/v1, and the
ReplicaSet status starts at `replicas: 0` (the field is not omitempty)."""

from __future__ import annotations

from probelab.engine.apiserver.registry.strategy import Strategy
from probelab.k8s.objects import Obj


class DeploymentStrategy(Strategy):
    immutable_selector = True


class ReplicaSetStrategy(Strategy):
    immutable_selector = True

    def initial_status(self, obj: Obj) -> Obj:
        return {"replicas": 0}
