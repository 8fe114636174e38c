"""StatefulSets and DaemonSets (`pkg/registry/apps/statefulset/strategy.go`,
`pkg/registry/apps/daemonset/strategy.go`): their status starts with the counters that are not
omitempty in apps/v1; which spec fields an update may change is validation's
(`k8s.validation`: a StatefulSet's spec is frozen but for replicas, template, updateStrategy,
minReadySeconds, ordinals and the PVC retention policy; a DaemonSet's selector is immutable)."""

from __future__ import annotations

from probelab.engine.apiserver.registry.strategy import Strategy
from probelab.k8s.objects import Obj


class StatefulSetStrategy(Strategy):
    immutable_selector = True

    def initial_status(self, obj: Obj) -> Obj:
        return {"replicas": 0, "availableReplicas": 0}


class DaemonSetStrategy(Strategy):
    immutable_selector = True

    def initial_status(self, obj: Obj) -> Obj:
        return {"currentNumberScheduled": 0, "numberMisscheduled": 0,
                "desiredNumberScheduled": 0, "numberReady": 0}
