"""Kinds whose only difference is the status they start with: the fields of their Go status
struct that are not omitempty (a nested struct always encodes), as a real server returns them
right after a create (`pkg/registry/autoscaling/horizontalpodautoscaler/strategy.go`,
`pkg/registry/networking/ingress/strategy.go`). Clients rely on them: the official Python client
refuses an HPA status without `desiredReplicas`."""

from __future__ import annotations

from probelab.engine.apiserver.registry.strategy import Strategy
from probelab.k8s.objects import Obj


class HorizontalPodAutoscalerStrategy(Strategy):
    def initial_status(self, obj: Obj) -> Obj:
        return {"desiredReplicas": 0}


class IngressStrategy(Strategy):
    def initial_status(self, obj: Obj) -> Obj:
        return {"loadBalancer": {}}
