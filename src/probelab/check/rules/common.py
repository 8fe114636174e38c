"""Small shared pieces of the rules: which containers a Service sends traffic to, numbers."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from probelab.check.model import TimingModel
from probelab.check.workloads import Container, Inventory, Service, Workload


def target_ports(service: Service) -> list[Any]:
    """Each port's `targetPort`, which defaults to `port` (pkg/apis/core/v1/defaults.go)."""
    return [p.get("targetPort", p.get("port")) for p in service.ports]


def serving_containers(inv: Inventory, workload: Workload) -> tuple[list[Service],
                                                                     list[Container]]:
    """(Services selecting the pods, containers those Services send traffic to).

    A container serves when it declares one of the target ports; when none does (a numeric
    targetPort needs no declaration), every container is assumed to serve.
    """
    services = inv.services_for(workload)
    if not services:
        return [], []
    wanted = [port for s in services for port in target_ports(s)]
    serving = [c for c in workload.containers if any(c.declares(p) for p in wanted)]
    return services, serving or list(workload.containers)


def secs(value: float) -> str:
    """`5 s`, `0.5 s`: the way every message writes a duration."""
    return f"{value:g} s"


def names(services: list[Service]) -> str:
    return ", ".join(s.ref.name for s in services)


def safe_delay(model: TimingModel) -> int:
    """The preStop delay a fix proposes: the lag plus the margin, in whole seconds."""
    return math.ceil(model.lag_s + model.margin_s)


def lag_text(model: TimingModel) -> str:
    return f"{secs(model.lag_s)} ({model.profile})"


T = TypeVar("T", bound=Any)


def unmatched(inv: Inventory, items: list[T], matches: Callable[[T, Workload], bool]
              ) -> Iterator[tuple[T, int]]:
    """(item, pod templates in its namespace) for each Service, budget or autoscaler that
    matches none of them. Namespaces without pod templates in the input are not judged: the
    workload may simply live in another file."""
    for item in items:
        same_ns = inv.in_namespace("workloads", item.ref.namespace)
        if same_ns and not any(matches(item, w) for w in same_ns):
            yield item, len(same_ns)
