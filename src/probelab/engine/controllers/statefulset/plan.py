"""What a StatefulSet's next sync does, as pure functions (`pkg/controller/statefulset/
stateful_set_control.go` updateStatefulSet, processReplica, processCondemned,
updateStatefulSetAfterInvariantEstablished, computeReplicaStatus, completeRollingUpdate).

Pods are identified by ordinal: slots `[start, start + replicas)` must hold one pod each; pods
with other ordinals are condemned. With `podManagementPolicy: OrderedReady` (the default, called
"monotonic" upstream) a sync does one thing and stops at the first pod that blocks:

1. slots in increasing ordinal: a missing pod is created (then stop); a Succeeded/Failed pod is
   deleted so it is made again (then stop); a terminating pod, or one not Running and Ready, or
   not yet available for `minReadySeconds`, stops the sync;
2. condemned pods from the highest ordinal down: one is deleted per sync, only once the one
   before it is gone, and only when it is healthy or is the first unhealthy pod of the set;
3. with `updateStrategy: RollingUpdate`, from the highest slot down to `partition`: the first pod
   not at the update revision is deleted (it comes back at the new revision in step 1); an
   unhealthy pod on the way stops the sync. With `maxUnavailable` set, up to that many pods
   (minus those already unavailable) go at once. `OnDelete` never deletes for an update.

`Parallel` does steps 1 and 2 for every pod at once without waiting; step 3 is the same.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from probelab.engine.controllers import pods as podutil
from probelab.engine.controllers.statefulset.revisions import (
    ordinal_of,
    pod_revision,
    start_ordinal,
)
from probelab.k8s.objects import Obj, meta, spec, status


@dataclass
class SetPlan:
    """One sync: pods to create (ordinal, revision name), pods to delete (names, in order)."""

    create: list[tuple[int, str]] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)


def running_and_ready(pod: Obj) -> bool:
    """`isRunningAndReady`: phase Running and the Ready condition True."""
    return status(pod).get("phase") == "Running" and podutil.is_ready(pod)


def running_and_available(pod: Obj, min_ready_s: int, now: float) -> bool:
    return status(pod).get("phase") == "Running" and podutil.is_available(pod, min_ready_s,
                                                                           now)


def healthy(pod: Obj | None) -> bool:
    """`isHealthy`: Running, Ready and not terminating (a missing pod is not healthy)."""
    return pod is not None and running_and_ready(pod) and not podutil.is_terminating(pod)


def monotonic(sts: Obj) -> bool:
    return spec(sts).get("podManagementPolicy") != "Parallel"


def _rolling(sts: Obj) -> Obj | None:
    strategy = spec(sts).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return None
    return strategy.get("rollingUpdate") or {}


def partition(sts: Obj) -> int:
    rolling = _rolling(sts)
    return int((rolling or {}).get("partition") or 0)


def max_unavailable(sts: Obj) -> int | None:
    """`rollingUpdate.maxUnavailable` as a count (a percentage of replicas rounds down, at
    least 1); None when not set (the classic one-at-a-time update)."""
    value = (_rolling(sts) or {}).get("maxUnavailable")
    if value is None:
        return None
    if isinstance(value, str) and value.endswith("%"):
        count = math.floor(int(value[:-1]) * podutil.replicas(sts) / 100)
    else:
        count = int(value)
    return max(1, count)


def revision_for(sts: Obj, ordinal: int, current: str, update: str) -> str:
    """Which revision a pod made now gets (`newVersionedStatefulSetPod`): below the partition
    a RollingUpdate keeps the current revision, everything else is made at the update one."""
    if _rolling(sts) is not None and ordinal < start_ordinal(sts) + partition(sts):
        return current
    return update


def by_ordinal(sts: Obj, pods: Iterable[Obj]) -> dict[int, Obj]:
    out: dict[int, Obj] = {}
    for pod in pods:
        ordinal = ordinal_of(sts, pod)
        if ordinal is not None:
            out[ordinal] = pod
    return out


def plan_stateful_set(sts: Obj, pods: Sequence[Obj], current: str, update: str,
                      now: float) -> SetPlan:
    """The creates and deletes of one sync (see the module docstring for the rules)."""
    plan = SetPlan()
    if meta(sts).get("deletionTimestamp"):
        return plan
    ordered = monotonic(sts)
    min_ready = int(spec(sts).get("minReadySeconds") or 0)
    start = start_ordinal(sts)
    slots = list(range(start, start + podutil.replicas(sts)))
    pods_at = by_ordinal(sts, pods)
    condemned = sorted((o for o in pods_at if o not in slots), reverse=True)
    first_unhealthy = next((o for o in (*slots, *condemned) if not healthy(pods_at.get(o))),
                           None)
    made: dict[int, str] = {}  # ordinal -> revision of a pod created in this sync

    for ordinal in slots:
        pod = pods_at.get(ordinal)
        if pod is None:
            made[ordinal] = revision_for(sts, ordinal, current, update)
            plan.create.append((ordinal, made[ordinal]))
            if ordered:
                return plan
            continue
        if podutil.is_terminal(pod):
            if not podutil.is_terminating(pod):
                plan.delete.append(meta(pod)["name"])
            if ordered:
                return plan
            continue
        if ordered and (podutil.is_terminating(pod) or not running_and_ready(pod)
                        or not running_and_available(pod, min_ready, now)):
            return plan

    for ordinal in condemned:
        pod = pods_at[ordinal]
        if podutil.is_terminating(pod):
            if ordered:
                return plan
            continue
        if ordered and ordinal != first_unhealthy and (
                not running_and_ready(pod) or not running_and_available(pod, min_ready, now)):
            return plan
        plan.delete.append(meta(pod)["name"])
        if ordered:
            return plan

    if _rolling(sts) is None:
        return plan
    lowest = start + partition(sts)
    limit = max_unavailable(sts)

    def revision(ordinal: int) -> str:
        return made.get(ordinal) or pod_revision(pods_at[ordinal])

    def is_healthy(ordinal: int) -> bool:
        return ordinal not in made and healthy(pods_at.get(ordinal))

    if limit is None:
        for ordinal in reversed(slots):
            if ordinal < lowest:
                break
            pod = pods_at.get(ordinal)
            if revision(ordinal) != update and pod is not None \
                    and not podutil.is_terminating(pod):
                plan.delete.append(meta(pod)["name"])
                return plan
            if not is_healthy(ordinal):
                return plan
        return plan
    unavailable = sum(1 for o in slots if not is_healthy(o) or not running_and_available(
        pods_at[o], min_ready, now))
    if unavailable >= limit:
        return plan
    for ordinal in reversed(slots):
        if ordinal < lowest or len(plan.delete) >= limit - unavailable:
            break
        pod = pods_at.get(ordinal)
        if pod is not None and revision(ordinal) != update \
                and not podutil.is_terminating(pod):
            plan.delete.append(meta(pod)["name"])
    return plan


def stateful_set_status(sts: Obj, pods: Iterable[Obj], current: str, update: str,
                        now: float) -> Obj:
    """The status after a sync (`computeReplicaStatus`, `completeRollingUpdate`): pods that
    exist, ready, available, at the current and at the update revision; once every pod is
    updated and ready, the update revision becomes the current one."""
    min_ready = int(spec(sts).get("minReadySeconds") or 0)
    counts = {"replicas": 0, "readyReplicas": 0, "availableReplicas": 0,
              "currentReplicas": 0, "updatedReplicas": 0}
    for pod in pods:
        created = bool(status(pod).get("phase"))
        if created:
            counts["replicas"] += 1
        if running_and_ready(pod):
            counts["readyReplicas"] += 1
            if running_and_available(pod, min_ready, now):
                counts["availableReplicas"] += 1
        if created and not podutil.is_terminating(pod):
            counts["currentReplicas"] += pod_revision(pod) == current
            counts["updatedReplicas"] += pod_revision(pod) == update
    new = dict(status(sts))
    new.update(counts)
    new.update({"observedGeneration": meta(sts).get("generation", 1),
                "currentRevision": current, "updateRevision": update,
                "collisionCount": int(status(sts).get("collisionCount") or 0)})
    if (_rolling(sts) is not None and counts["updatedReplicas"] == counts["replicas"]
            and counts["readyReplicas"] == counts["replicas"]):
        new["currentReplicas"] = counts["updatedReplicas"]
        new["currentRevision"] = update
    return new
