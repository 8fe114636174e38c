"""The Deployment controller's arithmetic and bookkeeping, as pure functions.

Mirrors `pkg/controller/deployment/util/deployment_util.go` (ResolveFenceposts, MaxSurge,
MaxUnavailable, NewRSNewReplicas, GetProportion, annotations, conditions, DeploymentComplete /
Progressing / TimedOut), `pkg/controller/controller_utils.go` (ComputeHash); the IntOrString scaling
is `probelab.k8s.intstr`'s, shared with validation. `deployment.rollout` sequences them into a
rollout plan. Objects are plain dicts from the store; a missing default
is read as the value the API server would have defaulted (apps/v1).
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from probelab.engine.controllers import pods as podutil
from probelab.engine.core.clock import rfc3339
from probelab.k8s.intstr import resolve_fenceposts
from probelab.k8s.objects import Obj, meta, spec, status

HASH_LABEL = "pod-template-hash"  # apps.DefaultDeploymentUniqueLabelKey
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Deployment annotations never copied onto its ReplicaSets (`annotationsToSkip`).
SKIPPED_ANNOTATIONS = frozenset({LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS,
                                 MAX_REPLICAS, "deprecated.deployment.rollback.to"})

ROLLING_UPDATE, RECREATE = "RollingUpdate", "Recreate"
DEFAULT_SURGE = DEFAULT_UNAVAILABLE = "25%"  # apps/v1 defaults
DEFAULT_PROGRESS_DEADLINE_S = 600
DEFAULT_REVISION_HISTORY = 10
MAX_INT32 = 2**31 - 1

# Condition reasons (`deployment_util.go`), what `kubectl rollout status` and describe show.
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"

_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # `rand.SafeEncodeString`


# ---- fenceposts ------------------------------------------------------------------------------
def strategy_type(d: Obj) -> str:
    return (spec(d).get("strategy") or {}).get("type") or ROLLING_UPDATE


def _fenceposts(d: Obj) -> tuple[int, int]:
    rolling = (spec(d).get("strategy") or {}).get("rollingUpdate") or {}
    surge = rolling.get("maxSurge", DEFAULT_SURGE)
    unavailable = rolling.get("maxUnavailable", DEFAULT_UNAVAILABLE)
    try:
        return resolve_fenceposts(surge, unavailable, podutil.replicas(d))
    except ValueError:  # validation rejects these; never stall on one
        return 0, 1


def max_surge(d: Obj) -> int:
    """Pods allowed above `spec.replicas` (0 unless RollingUpdate) (`MaxSurge`)."""
    return _fenceposts(d)[0] if strategy_type(d) == ROLLING_UPDATE else 0


def max_unavailable(d: Obj) -> int:
    """Pods allowed to be unavailable, never more than `spec.replicas` (`MaxUnavailable`)."""
    desired = podutil.replicas(d)
    if strategy_type(d) != ROLLING_UPDATE or desired == 0:
        return 0
    return min(_fenceposts(d)[1], desired)


# ---- replica arithmetic ----------------------------------------------------------------------
def total_replicas(sets: Iterable[Obj | None]) -> int:
    """Sum of `spec.replicas` (`GetReplicaCountForReplicaSets`)."""
    return sum(podutil.replicas(rs) for rs in sets if rs is not None)


def _status_sum(sets: Iterable[Obj | None], field: str) -> int:
    return sum(int(status(rs).get(field) or 0) for rs in sets if rs is not None)


def actual_replicas(sets: Iterable[Obj | None]) -> int:
    return _status_sum(sets, "replicas")


def available_replicas(sets: Iterable[Obj | None]) -> int:
    return _status_sum(sets, "availableReplicas")


def new_rs_new_replicas(d: Obj, all_sets: Sequence[Obj], new_rs: Obj) -> int:
    """The size the new ReplicaSet may grow to now (`NewRSNewReplicas`): RollingUpdate keeps
    the pods of all sets within replicas + maxSurge; Recreate jumps to `spec.replicas`."""
    desired = podutil.replicas(d)
    if strategy_type(d) != ROLLING_UPDATE:
        return desired
    max_total = desired + max_surge(d)
    current = total_replicas(all_sets)
    if current >= max_total:
        return podutil.replicas(new_rs)
    scale_up = min(max_total - current, desired - podutil.replicas(new_rs))
    return podutil.replicas(new_rs) + scale_up


def is_saturated(d: Obj, rs: Obj | None) -> bool:
    """The new set has all replicas, wants exactly them, and all are available."""
    if rs is None:
        return False
    desired = podutil.replicas(d)
    annotated = desired_annotation(rs)
    return (podutil.replicas(rs) == desired and annotated == desired
            and int(status(rs).get("availableReplicas") or 0) == desired)


def _round_half_away(value: float) -> int:
    """Go's math.Round (half away from zero), not Python's banker's rounding."""
    return math.floor(abs(value) + 0.5) * (1 if value >= 0 else -1)


def proportion(rs: Obj, d: Obj, to_add: int, added: int) -> int:
    """How many replicas `rs` gains or loses when the Deployment is resized mid-rollout
    (`GetProportion` / `getReplicaSetFraction`): its share of the new size, read from its
    max-replicas annotation, bounded by what is still left to add or remove."""
    size = podutil.replicas(rs)
    if size == 0 or to_add == 0 or to_add == added:
        return 0
    desired = podutil.replicas(d)
    if desired == 0:
        fraction = -size
    else:
        annotated = max_replicas_annotation(rs)
        if annotated is None:
            annotated = int(status(d).get("replicas") or 0)
        if annotated == 0:
            fraction = 0
        else:
            fraction = _round_half_away(size * (desired + max_surge(d)) / annotated) - size
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


# ---- templates and hashes ----------------------------------------------------------------------
def _fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def template_hash(template: Obj, collision_count: int | None = None) -> str:
    """The `pod-template-hash` of a pod template (`ComputeHash`): FNV-32a of the template (here
    its canonical JSON, where Kubernetes hashes a spew dump) plus the collision count, written in
    decimal through the vowel-free alphabet of `rand.SafeEncodeString`. Stable across runs."""
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count is not None:
        data += int(collision_count).to_bytes(4, "little") + bytes(4)
    return "".join(_SAFE_ALPHABET[b % len(_SAFE_ALPHABET)] for b in str(_fnv32a(data)).encode())


def _without_hash(template: Obj | None) -> Obj:
    t = copy.deepcopy(template or {})
    labels = (t.get("metadata") or {}).get("labels")
    if labels is not None:
        labels.pop(HASH_LABEL, None)
        if not labels:
            t["metadata"].pop("labels")
    if "metadata" in t and not t["metadata"]:
        t.pop("metadata")
    return t


def equal_ignore_hash(a: Obj | None, b: Obj | None) -> bool:
    """Two pod templates equal once the pod-template-hash label is ignored (`EqualIgnoreHash`)."""
    return _without_hash(a) == _without_hash(b)


def by_creation(sets: Iterable[Obj]) -> list[Obj]:
    """Oldest first, name as tie breaker (`ReplicaSetsByCreationTimestamp`)."""
    return sorted(sets, key=lambda rs: (podutil.parse_time(meta(rs).get("creationTimestamp"))
                                        or 0.0, meta(rs).get("name") or ""))


def find_new_rs(d: Obj, sets: Iterable[Obj]) -> Obj | None:
    """The oldest set whose template is the Deployment's (`FindNewReplicaSet`)."""
    template = spec(d).get("template")
    return next((rs for rs in by_creation(sets)
                 if equal_ignore_hash(spec(rs).get("template"), template)), None)


# ---- annotations -------------------------------------------------------------------------------
def _int_annotation(obj: Obj, key: str) -> int | None:
    try:
        return int((meta(obj).get("annotations") or {})[key])
    except (KeyError, TypeError, ValueError):
        return None


def revision(rs: Obj) -> int:
    return _int_annotation(rs, REVISION) or 0


def max_revision(sets: Iterable[Obj]) -> int:
    return max((revision(rs) for rs in sets), default=0)


def desired_annotation(rs: Obj) -> int | None:
    return _int_annotation(rs, DESIRED_REPLICAS)


def max_replicas_annotation(rs: Obj) -> int | None:
    return _int_annotation(rs, MAX_REPLICAS)


def replicas_annotations_need_update(rs: Obj, desired: int, max_replicas: int) -> bool:
    ann = meta(rs).get("annotations") or {}
    return ann.get(DESIRED_REPLICAS) != str(desired) or ann.get(MAX_REPLICAS) != str(max_replicas)


def set_replicas_annotations(rs: Obj, desired: int, max_replicas: int) -> bool:
    """Record the Deployment size the set was scaled for (read back by proportional scaling)."""
    if not replicas_annotations_need_update(rs, desired, max_replicas):
        return False
    ann = rs.setdefault("metadata", {}).setdefault("annotations", {})
    ann[DESIRED_REPLICAS], ann[MAX_REPLICAS] = str(desired), str(max_replicas)
    return True


def set_new_rs_annotations(d: Obj, rs: Obj, new_revision: int, exists: bool) -> bool:
    """Copy the Deployment's annotations, raise the revision (keeping the old one in
    revision-history, as after a rollback) and, for a set being created, the replicas
    annotations (`SetNewReplicaSetAnnotations`). Returns whether anything changed."""
    ann = rs.setdefault("metadata", {}).setdefault("annotations", {})
    changed = False
    for key, value in (meta(d).get("annotations") or {}).items():
        if key not in SKIPPED_ANNOTATIONS and ann.get(key) != value:
            ann[key], changed = value, True
    old_text = ann.get(REVISION)
    try:
        old = int(old_text) if old_text is not None else 0
    except ValueError:
        return changed
    if old < new_revision:
        ann[REVISION], changed = str(new_revision), True
        if old_text is not None:
            history = ann.get(REVISION_HISTORY)
            ann[REVISION_HISTORY] = f"{history},{old_text}" if history else old_text
    if not exists:
        desired = podutil.replicas(d)
        changed = set_replicas_annotations(rs, desired, desired + max_surge(d)) or changed
    return changed


def set_deployment_revision(d: Obj, value: str) -> bool:
    ann = d.setdefault("metadata", {}).setdefault("annotations", {})
    if ann.get(REVISION) == value:
        return False
    ann[REVISION] = value
    return True


# ---- conditions and status ---------------------------------------------------------------------
def progress_deadline_s(d: Obj) -> int | None:
    value = spec(d).get("progressDeadlineSeconds", DEFAULT_PROGRESS_DEADLINE_S)
    return None if value is None or int(value) == MAX_INT32 else int(value)


def revision_history_limit(d: Obj) -> int | None:
    value = spec(d).get("revisionHistoryLimit", DEFAULT_REVISION_HISTORY)
    return None if value is None or int(value) == MAX_INT32 else int(value)


def get_condition(st: Obj, kind: str) -> Obj | None:
    return next((c for c in st.get("conditions") or () if c.get("type") == kind), None)


def new_condition(kind: str, value: str, reason: str, message: str, now: float) -> Obj:
    stamp = rfc3339(now)
    return {"type": kind, "status": value, "lastUpdateTime": stamp,
            "lastTransitionTime": stamp, "reason": reason, "message": message}


def set_condition(st: Obj, cond: Obj) -> None:
    """Replace the condition of that type unless status and reason are the same; keep
    lastTransitionTime when only the reason changes (`SetDeploymentCondition`)."""
    current = get_condition(st, cond["type"])
    if current is not None and current.get("status") == cond["status"] \
            and current.get("reason") == cond["reason"]:
        return
    if current is not None and current.get("status") == cond["status"]:
        cond = {**cond, "lastTransitionTime": current.get("lastTransitionTime")}
    st["conditions"] = [c for c in st.get("conditions") or () if c.get("type") != cond["type"]]
    st["conditions"].append(cond)


def remove_condition(st: Obj, kind: str) -> None:
    if st.get("conditions"):
        st["conditions"] = [c for c in st["conditions"] if c.get("type") != kind]


def calculate_status(all_sets: Sequence[Obj], new_rs: Obj | None, d: Obj, now: float) -> Obj:
    """The Deployment status from its sets (`calculateStatus`), with the Available condition:
    True once available pods reach replicas − maxUnavailable."""
    available = available_replicas(all_sets)
    st: Obj = {
        "observedGeneration": meta(d).get("generation", 1),
        "replicas": actual_replicas(all_sets),
        "updatedReplicas": actual_replicas([new_rs]),
        "readyReplicas": _status_sum(all_sets, "readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": max(0, total_replicas(all_sets) - available),
    }
    if status(d).get("collisionCount") is not None:
        st["collisionCount"] = status(d)["collisionCount"]
    st["conditions"] = copy.deepcopy(status(d).get("conditions") or [])
    if available >= podutil.replicas(d) - max_unavailable(d):
        set_condition(st, new_condition("Available", "True", MIN_AVAILABLE,
                                        "Deployment has minimum availability.", now))
    else:
        set_condition(st, new_condition("Available", "False", MIN_UNAVAILABLE,
                                        "Deployment does not have minimum availability.", now))
    return st


def deployment_complete(d: Obj, st: Obj) -> bool:
    """Every replica updated and available, and the latest spec observed."""
    desired = podutil.replicas(d)
    return (int(st.get("updatedReplicas") or 0) == desired
            and int(st.get("replicas") or 0) == desired
            and int(st.get("availableReplicas") or 0) == desired
            and int(st.get("observedGeneration") or 0) >= int(meta(d).get("generation", 1)))


def deployment_progressing(d: Obj, st: Any) -> bool:
    """More updated, ready or available pods, or fewer old ones, than last recorded."""
    old = status(d)

    def get(s: Obj, key: str) -> int:
        return int(s.get(key) or 0)

    return (get(st, "updatedReplicas") > get(old, "updatedReplicas")
            or get(st, "replicas") - get(st, "updatedReplicas")
            < get(old, "replicas") - get(old, "updatedReplicas")
            or get(st, "readyReplicas") > get(old, "readyReplicas")
            or get(st, "availableReplicas") > get(old, "availableReplicas"))


def deployment_timed_out(d: Obj, st: Obj, now: float) -> bool:
    """No progress recorded for progressDeadlineSeconds (`DeploymentTimedOut`)."""
    deadline = progress_deadline_s(d)
    cond = get_condition(st, "Progressing")
    if deadline is None or cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    since = podutil.parse_time(cond.get("lastUpdateTime"))
    return since is not None and since + deadline < now
