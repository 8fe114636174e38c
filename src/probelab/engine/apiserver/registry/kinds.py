"""Which strategy each served resource uses; a resource not listed gets the defaults."""

from __future__ import annotations

from probelab.engine.apiserver.registry.namespaces import NamespaceStrategy
from probelab.engine.apiserver.registry.pods import PodStrategy
from probelab.engine.apiserver.registry.services import ServiceStrategy
from probelab.engine.apiserver.registry.strategy import Strategy
from probelab.engine.apiserver.registry.workloads import DeploymentStrategy, ReplicaSetStrategy

STRATEGIES: dict[str, Strategy] = {
    "pods": PodStrategy(),
    "services": ServiceStrategy(),
    "namespaces": NamespaceStrategy(),
    "deployments": DeploymentStrategy(),
    "replicasets": ReplicaSetStrategy(),
}
DEFAULT = Strategy()


def strategy_for(resource: str) -> Strategy:
    return STRATEGIES.get(resource, DEFAULT)
