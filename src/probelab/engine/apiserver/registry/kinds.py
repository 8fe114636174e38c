"""Which strategy each served resource uses; a resource not listed gets the defaults."""

from __future__ import annotations

from probelab.engine.apiserver.registry.configdata import ConfigMapStrategy, SecretStrategy
from probelab.engine.apiserver.registry.disruptionbudgets import PodDisruptionBudgetStrategy
from probelab.engine.apiserver.registry.jobs import JobStrategy
from probelab.engine.apiserver.registry.namespaces import NamespaceStrategy
from probelab.engine.apiserver.registry.nodes import NodeStrategy
from probelab.engine.apiserver.registry.pods import PodStrategy
from probelab.engine.apiserver.registry.services import ServiceStrategy
from probelab.engine.apiserver.registry.sets import DaemonSetStrategy, StatefulSetStrategy
from probelab.engine.apiserver.registry.statuses import (
    HorizontalPodAutoscalerStrategy,
    IngressStrategy,
)
from probelab.engine.apiserver.registry.strategy import Strategy
from probelab.engine.apiserver.registry.workloads import DeploymentStrategy, ReplicaSetStrategy

PODS = PodStrategy()  # also serves pods/binding
NAMESPACES = NamespaceStrategy()  # also serves namespaces/finalize
STRATEGIES: dict[str, Strategy] = {
    "pods": PODS,
    "services": ServiceStrategy(),
    "namespaces": NAMESPACES,
    "deployments": DeploymentStrategy(),
    "replicasets": ReplicaSetStrategy(),
    "nodes": NodeStrategy(),
    "poddisruptionbudgets": PodDisruptionBudgetStrategy(),
    "statefulsets": StatefulSetStrategy(),
    "daemonsets": DaemonSetStrategy(),
    "jobs": JobStrategy(),
    "horizontalpodautoscalers": HorizontalPodAutoscalerStrategy(),
    "ingresses": IngressStrategy(),
    "configmaps": ConfigMapStrategy(),
    "secrets": SecretStrategy(),
}
DEFAULT = Strategy()


def strategy_for(resource: str) -> Strategy:
    return STRATEGIES.get(resource, DEFAULT)
