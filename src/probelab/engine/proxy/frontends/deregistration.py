"""Which pods a cloud load balancer still sends new connections to (pure, no clock).

A load balancer with IP targets (AWS target groups via aws-load-balancer-controller, GCP
network endpoint groups) learns that an endpoint left the Service, deregisters it, and stops
opening new connections to it only once that has propagated: `lag_s` after the removal. A
target that becomes usable again before then is simply registered again. Targets added are
used at once (registration health checks are not modelled: they delay new pods, they do not
fail requests).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from probelab.engine.proxy.rules import Endpoint

Key = tuple[str, int]  # (address, port)


@dataclass(frozen=True, slots=True)
class Target:
    endpoint: Endpoint
    removed_s: float | None = None  # when it left the Service's usable endpoints


def update_targets(previous: Mapping[Key, Target], usable: Sequence[Endpoint],
                   now_s: float, lag_s: float) -> dict[Key, Target]:
    """The targets after the usable endpoints became `usable` at `now_s`: usable ones are
    registered; one that left keeps its removal time (the first one) until `lag_s` has passed."""
    out: dict[Key, Target] = {(e.address, e.port): Target(e) for e in usable}
    for key, target in previous.items():
        if key in out:
            continue
        removed = now_s if target.removed_s is None else target.removed_s
        if now_s < removed + lag_s:
            out[key] = Target(target.endpoint, removed)
    return out


def routable(targets: Mapping[Key, Target]) -> tuple[Endpoint, ...]:
    """Every target the LB still opens new connections to, sorted (registered or within lag)."""
    return tuple(targets[k].endpoint for k in sorted(targets))


def next_expiry(targets: Mapping[Key, Target], lag_s: float) -> float | None:
    """When the next removed target stops receiving new connections (None: none pending)."""
    times = [t.removed_s + lag_s for t in targets.values() if t.removed_s is not None]
    return min(times) if times else None
