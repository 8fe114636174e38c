"""The ReplicaSet controller: keep `spec.replicas` active pods from the template, delete the best
victims first on scale-down, and report replicas / ready / available in the status.

Neighbours: the store (ReplicaSets written by the API server and by `controllers.deployment`,
pods run by the kubelet) and the API client it writes through (a pod delete is graceful: the
API marks the pod, the kubelet then runs preStop, SIGTERM, grace). Rules follow
`pkg/controller/replicaset/replica_set.go` (manageReplicas, calculateStatus) and
`pkg/controller/controller_utils.go` (ActivePodsWithRanks, GetPodFromTemplate); they are the pure
functions below, tested with tables in tests/test_controllers_replicaset.py.
"""

from __future__ import annotations

import copy
import functools
import math
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

from probelab.engine.controllers import pods as podutil
from probelab.engine.controllers.base import Controller
from probelab.engine.core.client import NAMESPACE_TERMINATING, Rejected
from probelab.engine.core.store import NotFound, WatchEvent
from probelab.k8s.labels import SelectorError, from_label_selector, from_map
from probelab.k8s.objects import Obj, meta, spec, status

COMPONENT = "replicaset-controller"
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
BURST_REPLICAS = 500  # at most this many creates or deletes per sync (`BurstReplicas`)
_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}  # others count as 0, as in Go


# ---- which pods go first on scale-down -------------------------------------------------------
def deletion_cost(pod: Obj) -> int:
    """`controller.kubernetes.io/pod-deletion-cost` as an int32; absent or invalid is 0
    (`GetDeletionCostFromPodAnnotations`)."""
    text = (meta(pod).get("annotations") or {}).get(DELETION_COST)
    try:
        value = int(str(text).strip()) if text is not None else 0
    except ValueError:
        return 0
    return value if -(2**31) <= value < 2**31 else 0


def _log_rank_diff(t1: float, t2: float, now: float) -> int:
    """Compare two ages in log2 buckets of nanoseconds (`logarithmicRankDiff`)."""
    d1, d2 = int((now - t1) * 1e9), int((now - t2) * 1e9)
    r1 = int(math.log2(d1)) if d1 > 0 else -1
    r2 = int(math.log2(d2)) if d2 > 0 else -1
    return r1 - r2


def _after_or_zero(t1: float | None, t2: float | None) -> bool:
    if t1 is None or t2 is None:
        return t1 is None
    return t1 > t2


def _newer_first(t1: float | None, t2: float | None, uid1: str, uid2: str,
                 now: float | None) -> bool:
    """Steps 6 and 8 of the ranking: more recent first, in log2 buckets when `now` is known
    (LogarithmicScaleDown, GA in 1.31); pods in the same bucket are ordered by UID."""
    if now is None or t1 is None or t2 is None:
        return _after_or_zero(t1, t2)
    diff = _log_rank_diff(t1, t2, now)
    return uid1 < uid2 if diff == 0 else diff < 0


def deletes_before(a: Obj, b: Obj, rank_a: int, rank_b: int, now: float | None) -> bool:
    """True when pod `a` should be deleted before pod `b` (`ActivePodsWithRanks.Less`).

    The first difference decides: unassigned < assigned; Pending < Unknown < Running;
    not ready < ready; lower pod-deletion-cost; more pods of the set on the same node
    (`rank`); ready for a shorter time; more container restarts; created more recently.
    """
    node_a, node_b = spec(a).get("nodeName") or "", spec(b).get("nodeName") or ""
    if node_a != node_b and (not node_a or not node_b):
        return not node_a
    phase_a = _PHASE_ORDINAL.get(status(a).get("phase") or "", 0)
    phase_b = _PHASE_ORDINAL.get(status(b).get("phase") or "", 0)
    if phase_a != phase_b:
        return phase_a < phase_b
    ready_a, ready_b = podutil.is_ready(a), podutil.is_ready(b)
    if ready_a != ready_b:
        return not ready_a
    cost_a, cost_b = deletion_cost(a), deletion_cost(b)
    if cost_a != cost_b:
        return cost_a < cost_b
    if rank_a != rank_b:
        return rank_a > rank_b
    uid_a, uid_b = meta(a).get("uid") or "", meta(b).get("uid") or ""
    if ready_a and ready_b:
        since_a, since_b = podutil.ready_since(a), podutil.ready_since(b)
        if since_a != since_b:
            return _newer_first(since_a, since_b, uid_a, uid_b, now)
    restarts_a, restarts_b = podutil.restarts(a), podutil.restarts(b)
    if restarts_a != restarts_b:
        return restarts_a > restarts_b
    created_a = podutil.parse_time(meta(a).get("creationTimestamp"))
    created_b = podutil.parse_time(meta(b).get("creationTimestamp"))
    if created_a != created_b:
        return _newer_first(created_a, created_b, uid_a, uid_b, now)
    return False


def deletion_order(pods: Sequence[Obj], related: Sequence[Obj], now: float | None) -> list[Obj]:
    """`pods` sorted best victim first. Each pod's rank is the number of active `related` pods
    (the pods of every ReplicaSet of the same owner) on its node
    (`getPodsRankedByRelatedPodsOnSameNode`)."""
    on_node = Counter(spec(p).get("nodeName") or "" for p in related if podutil.is_active(p))
    ranked = [(p, on_node[spec(p).get("nodeName") or ""]) for p in pods]

    def compare(x: tuple[Obj, int], y: tuple[Obj, int]) -> int:
        if deletes_before(x[0], y[0], x[1], y[1], now):
            return -1
        return 1 if deletes_before(y[0], x[0], y[1], x[1], now) else 0

    return [p for p, _ in sorted(ranked, key=functools.cmp_to_key(compare))]


def pods_to_delete(pods: Sequence[Obj], related: Sequence[Obj], count: int,
                   now: float | None) -> list[Obj]:
    """The `count` pods a scale-down deletes (`getPodsToDelete`)."""
    if count <= 0:
        return []
    return deletion_order(pods, related, now)[:count]


# ---- how many to create or delete ------------------------------------------------------------
@dataclass(frozen=True)
class ReplicaPlan:
    """One round of `manageReplicas`: pods to create from the template, pods to delete."""

    create: int
    delete: tuple[str, ...]  # pod names, best victim first


def plan_replicas(rs: Obj, active: Sequence[Obj], related: Sequence[Obj],
                  now: float | None) -> ReplicaPlan:
    """Create or delete the difference between `spec.replicas` and the active pods, at most
    `BURST_REPLICAS` per round; a ReplicaSet being deleted does nothing."""
    if meta(rs).get("deletionTimestamp"):
        return ReplicaPlan(0, ())
    diff = len(active) - podutil.replicas(rs)
    if diff < 0:
        return ReplicaPlan(min(-diff, BURST_REPLICAS), ())
    victims = pods_to_delete(active, related, min(diff, BURST_REPLICAS), now)
    return ReplicaPlan(0, tuple(meta(p)["name"] for p in victims))


def pod_from_template(rs: Obj) -> Obj:
    """A new pod for the ReplicaSet: generateName `<rs>-`, the template's labels, annotations and
    spec, and a controller ownerReference (`GetPodFromTemplate`)."""
    template = spec(rs).get("template") or {}
    tmeta = template.get("metadata") or {}
    m: Obj = {"generateName": f"{meta(rs)['name']}-", "namespace": meta(rs).get("namespace"),
              "labels": dict(tmeta.get("labels") or {}),
              "ownerReferences": [podutil.controller_ref(rs, "apps/v1", "ReplicaSet")]}
    if tmeta.get("annotations"):
        m["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        m["finalizers"] = list(tmeta["finalizers"])
    # Defaulting, validation and the initial status are the API server's, on create.
    return {"apiVersion": "v1", "kind": "Pod", "metadata": m,
            "spec": copy.deepcopy(template.get("spec") or {})}


# ---- status ----------------------------------------------------------------------------------
def replica_set_status(rs: Obj, active: Sequence[Obj], now: float) -> Obj:
    """The status the controller reports (`calculateStatus`): active pods, those carrying every
    template label, the ready ones, and those ready for `minReadySeconds`."""
    min_ready = int(spec(rs).get("minReadySeconds") or 0)
    template_labels = from_map(((spec(rs).get("template") or {}).get("metadata") or {})
                               .get("labels"))
    new = copy.deepcopy(status(rs))
    new.update({
        "replicas": len(active),
        "fullyLabeledReplicas": sum(1 for p in active
                                    if template_labels.matches(meta(p).get("labels"))),
        "readyReplicas": sum(1 for p in active if podutil.is_ready(p)),
        "availableReplicas": sum(1 for p in active if podutil.is_available(p, min_ready, now)),
        "observedGeneration": meta(rs).get("generation", 1),
    })
    return new


def next_availability_s(rs: Obj, active: Iterable[Obj], now: float) -> float | None:
    """Seconds until the next ready pod becomes available (so the status is written then), or
    None when no pod is waiting out `minReadySeconds`."""
    min_ready = int(spec(rs).get("minReadySeconds") or 0)
    times = [t for p in active
             if not podutil.is_available(p, min_ready, now)
             and (t := podutil.available_at(p, min_ready)) is not None]
    return max(0.0, min(times) - now) + 0.01 if times else None


def claim(rs: Obj, pods: Iterable[Obj]) -> tuple[list[Obj], list[str], list[str]]:
    """(owned pods, orphans to adopt, owned pods to release): pods controlled by the set, plus
    active orphans its selector matches; owned pods the selector no longer matches are released
    (`PodControllerRefManager.ClaimPods`)."""
    try:
        selector = from_label_selector(spec(rs).get("selector"))
    except SelectorError:
        return [], [], []
    deleting = bool(meta(rs).get("deletionTimestamp"))
    owned, adopt, release = [], [], []
    for pod in pods:
        ref = podutil.controller_of(pod)
        matches = not selector.empty and selector.matches(meta(pod).get("labels"))
        if ref is not None and ref.get("uid") == meta(rs).get("uid"):
            if matches or deleting:
                owned.append(pod)
            else:
                release.append(meta(pod)["name"])
        elif ref is None and matches and not deleting and podutil.is_active(pod):
            owned.append(pod)
            adopt.append(meta(pod)["name"])
    return owned, adopt, release


# ---- the component ---------------------------------------------------------------------------
class ReplicaSetController(Controller):
    """Engine component "replicaset"."""

    name = "replicaset"
    watched = ("replicasets", "pods")
    primary = "replicasets"

    def keys_for(self, event: WatchEvent) -> Iterable[Hashable]:
        m = event.obj.get("metadata") or {}
        if event.resource == "replicasets":
            return [(m.get("namespace") or "", m.get("name"))]
        ref = podutil.controller_of(event.obj)
        if ref is not None and ref.get("kind") == "ReplicaSet":
            return [(m.get("namespace") or "", ref.get("name"))]
        if ref is None:  # an orphan may be adopted by any set of its namespace
            sets, _ = self.store.list("replicasets", m.get("namespace"))
            return [(m.get("namespace") or "", s["metadata"]["name"]) for s in sets]
        return []

    def sync(self, key: Hashable) -> float | None:
        namespace, name = key  # type: ignore[misc]
        rs = self.store.find("replicasets", namespace, name)
        if rs is None:
            return None
        all_pods, _ = self.store.list("pods", namespace)
        owned, adopt, release = claim(rs, all_pods)
        self._adopt_and_release(rs, adopt, release)
        active = [p for p in owned if podutil.is_active(p)]
        now = self.ctx.clock.now()
        plan = plan_replicas(rs, active, self._related(rs, all_pods, active), now)
        events = self.ctx.recorder(COMPONENT)
        for _ in range(plan.create):
            try:
                pod = self.client.create("pods", pod_from_template(rs))
            except Rejected as exc:
                # A namespace being deleted refuses new pods; the set cannot replace what it
                # loses, and retrying is pointless (replica_set.go checks this cause too).
                if exc.has_cause(NAMESPACE_TERMINATING):
                    break
                raise
            events.record(rs, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")
        for victim in plan.delete:
            try:
                self.client.delete("pods", namespace, victim)
            except NotFound:
                continue
            events.record(rs, "SuccessfulDelete", f"Deleted pod: {victim}")
        if plan.create or plan.delete:
            all_pods, _ = self.store.list("pods", namespace)
            active = [p for p in claim(rs, all_pods)[0] if podutil.is_active(p)]
        new_status = replica_set_status(rs, active, now)
        if new_status != status(rs):
            rs["status"] = new_status
            self.client.update("replicasets", rs, subresource="status")
        return next_availability_s(rs, active, now)

    def _related(self, rs: Obj, all_pods: list[Obj], active: list[Obj]) -> list[Obj]:
        """Active pods of every ReplicaSet with the same controller (a Deployment's sets)."""
        owner = podutil.controller_of(rs)
        if owner is None:
            return active
        sets, _ = self.store.list("replicasets", meta(rs).get("namespace"))
        uids = {meta(s).get("uid") for s in sets
                if (podutil.controller_of(s) or {}).get("uid") == owner.get("uid")}
        return [p for p in all_pods if podutil.is_active(p)
                and (podutil.controller_of(p) or {}).get("uid") in uids]

    def _adopt_and_release(self, rs: Obj, adopt: list[str], release: list[str]) -> None:
        namespace, uid = meta(rs).get("namespace"), meta(rs).get("uid")
        ref = podutil.controller_ref(rs, "apps/v1", "ReplicaSet")

        def add(pod: Obj) -> None:
            if podutil.controller_of(pod) is None:
                pod["metadata"].setdefault("ownerReferences", []).append(ref)

        def drop(pod: Obj) -> None:
            refs = [r for r in pod["metadata"].get("ownerReferences") or []
                    if r.get("uid") != uid]
            pod["metadata"]["ownerReferences"] = refs
            if not refs:
                del pod["metadata"]["ownerReferences"]

        for name in adopt:
            self.client.mutate("pods", namespace, name, add)
        for name in release:
            self.client.mutate("pods", namespace, name, drop)
