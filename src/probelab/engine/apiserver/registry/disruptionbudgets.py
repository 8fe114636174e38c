"""PodDisruptionBudgets (`pkg/registry/policy/poddisruptionbudget/strategy.go`): the status
starts empty, with the four counters that are not omitempty in policy/v1
(`PodDisruptionBudgetStatus`: disruptionsAllowed, currentHealthy, desiredHealthy,
expectedPods); the disruption controller fills it in."""

from __future__ import annotations

from probelab.engine.apiserver.registry.strategy import Strategy
from probelab.k8s.objects import Obj


class PodDisruptionBudgetStrategy(Strategy):
    def initial_status(self, obj: Obj) -> Obj:
        return {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0,
                "expectedPods": 0}
