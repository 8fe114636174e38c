"""What one sync of a Deployment decides, as a pure function of the objects: a ReplicaSet per
pod template, rolled out by RollingUpdate (maxSurge / maxUnavailable) or Recreate, with
revisions, scaling, status and conditions.

`plan_deployment` replays the steps of `pkg/controller/deployment/` (sync.go getNewReplicaSet /
scale / cleanupDeployment, rolling.go, recreate.go, progress.go syncRolloutStatus) on copies of
the objects and returns what to write; it reads no clock and touches no store, so the rules
are tested with tables (`tests/test_controllers_deployment.py`). The arithmetic lives in
`deployment.util`; `deployment.controller` runs the plan against the store and the API.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

from probelab.engine.controllers import pods as podutil
from probelab.engine.controllers.deployment import util as du
from probelab.engine.core.events import EventKind
from probelab.k8s.objects import Obj, meta, spec, status


@dataclass
class Plan:
    """What one sync of a Deployment writes, in this order."""

    create: Obj | None = None  # the new ReplicaSet
    updates: list[Obj] = field(default_factory=list)  # ReplicaSets resized or re-annotated
    deletes: list[str] = field(default_factory=list)  # old ReplicaSets past the history limit
    annotations: dict[str, str] | None = None  # the Deployment's annotations, when changed
    status: Obj | None = None  # the Deployment's status, when changed
    events: list[tuple[str, str, EventKind]] = field(default_factory=list)
    requeue_s: float | None = None  # look again then (progress deadline)


class _Rollout:
    """One sync, step by step, on copies: each method mirrors the Kubernetes function named in
    its docstring and records the writes it would make."""

    def __init__(self, d: Obj, sets: Sequence[Obj], pods: Sequence[Obj], now: float) -> None:
        self.d = copy.deepcopy(d)
        self.d.setdefault("status", {})
        self.orig = copy.deepcopy(d)
        self.sets = {meta(rs)["name"]: copy.deepcopy(rs) for rs in du.by_creation(sets)}
        self.pods = pods
        self.now = now
        self.created: str | None = None
        self.touched: list[str] = []
        self.plan = Plan()

    # ---- bookkeeping ---------------------------------------------------------------------------
    def _olds(self, new: str | None) -> list[Obj]:
        return [rs for name, rs in self.sets.items() if name != new]

    def _all(self, new: str | None) -> list[Obj]:
        return self._olds(new) + ([self.sets[new]] if new else [])

    def _touch(self, name: str) -> None:
        if name not in self.touched:
            self.touched.append(name)

    def _event(self, message: str) -> None:
        self.plan.events.append(("ScalingReplicaSet", message, EventKind.NORMAL))

    def result(self) -> Plan:
        plan = self.plan
        if self.created is not None:
            plan.create = self.sets[self.created]
        plan.updates = [self.sets[n] for n in self.touched if n != self.created]
        new_ann = meta(self.d).get("annotations") or {}
        if new_ann != (meta(self.orig).get("annotations") or {}):
            plan.annotations = dict(new_ann)
        if self.d["status"] != status(self.orig):
            plan.status = self.d["status"]
        return plan

    # ---- scaling a set (`scaleReplicaSetAndRecordEvent`, `scaleReplicaSet`) -------------------
    def scale_and_record(self, name: str, new_scale: int) -> bool:
        current = podutil.replicas(self.sets[name])
        if current == new_scale:
            return False
        return self.scale(name, new_scale, "up" if current < new_scale else "down")

    def scale(self, name: str, new_scale: int, operation: str) -> bool:
        rs = self.sets[name]
        current = podutil.replicas(rs)
        desired = podutil.replicas(self.d)
        max_total = desired + du.max_surge(self.d)
        if current == new_scale and not du.replicas_annotations_need_update(rs, desired,
                                                                              max_total):
            return False
        rs.setdefault("spec", {})["replicas"] = new_scale
        du.set_replicas_annotations(rs, desired, max_total)
        self._touch(name)
        if current == new_scale:
            return False
        self._event(f"Scaled {operation} replica set {name} to {new_scale} from {current}")
        return True

    # ---- the new set (`getNewReplicaSet`) --------------------------------------------------------
    def new_replica_set(self, create: bool) -> str | None:
        found = du.find_new_rs(self.d, self.sets.values())
        olds = self._olds(meta(found)["name"] if found else None)
        new_revision = du.max_revision(olds) + 1
        if found is not None:
            name = meta(found)["name"]
            rs = self.sets[name]
            changed = du.set_new_rs_annotations(self.d, rs, new_revision, exists=True)
            min_ready = spec(self.d).get("minReadySeconds", 0)
            if spec(rs).get("minReadySeconds", 0) != min_ready:
                rs["spec"]["minReadySeconds"] = min_ready
                changed = True
            if changed:
                self._touch(name)
                return name
            du.set_deployment_revision(self.d, str(du.revision(rs)))
            if du.progress_deadline_s(self.d) is not None and \
                    du.get_condition(self.d["status"], "Progressing") is None:
                du.set_condition(self.d["status"], du.new_condition(
                    "Progressing", "True", du.FOUND_NEW_RS, f'Found new replica set "{name}"',
                    self.now))
            return name
        if not create:
            return None
        return self._create_new(olds, new_revision)

    def _create_new(self, olds: list[Obj], new_revision: int) -> str:
        d = self.d
        template = copy.deepcopy(spec(d).get("template") or {})
        pod_hash = du.template_hash(template, status(d).get("collisionCount"))
        labels = {**((template.get("metadata") or {}).get("labels") or {}),
                  du.HASH_LABEL: pod_hash}
        template.setdefault("metadata", {})["labels"] = labels
        selector = copy.deepcopy(spec(d).get("selector") or {})
        selector.setdefault("matchLabels", {})[du.HASH_LABEL] = pod_hash
        name = f"{meta(d)['name']}-{pod_hash}"
        rs: Obj = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": meta(d).get("namespace"),
                         "labels": dict(labels),
                         "ownerReferences": [podutil.controller_ref(d, "apps/v1", "Deployment")]},
            "spec": {"replicas": 0, "minReadySeconds": spec(d).get("minReadySeconds", 0),
                     "selector": selector, "template": template},
        }
        count = du.new_rs_new_replicas(d, [*olds, rs], rs)
        rs["spec"]["replicas"] = count
        du.set_new_rs_annotations(d, rs, new_revision, exists=False)
        self.sets[name] = rs
        self.created = name
        if count > 0:
            self._event(f"Scaled up replica set {name} to {count}")
        du.set_deployment_revision(d, str(new_revision))
        if du.progress_deadline_s(d) is not None:
            du.set_condition(d["status"], du.new_condition(
                "Progressing", "True", du.NEW_RS_CREATED, f'Created new replica set "{name}"',
                self.now))
        return name

    # ---- strategies ------------------------------------------------------------------------------
    def rolling(self) -> None:
        """`rolloutRolling`: grow the new set, else shrink old ones, else clean up."""
        new = self.new_replica_set(create=True)
        if new is None:
            return
        if self.reconcile_new(new) or self.reconcile_old(new):
            self.sync_rollout_status(new)
            return
        if du.deployment_complete(self.d, self.d["status"]):
            self.cleanup(new)
        self.sync_rollout_status(new)

    def reconcile_new(self, new: str) -> bool:
        """`reconcileNewReplicaSet`."""
        rs, desired = self.sets[new], podutil.replicas(self.d)
        if podutil.replicas(rs) == desired:
            return False
        if podutil.replicas(rs) > desired:
            return self.scale_and_record(new, desired)
        return self.scale_and_record(new, du.new_rs_new_replicas(self.d, self._all(new), rs))

    def reconcile_old(self, new: str) -> bool:
        """`reconcileOldReplicaSets`: never below replicas − maxUnavailable available pods;
        unhealthy old pods go first."""
        olds = [rs for rs in self._olds(new) if podutil.replicas(rs) > 0]
        if not olds:
            return False
        new_rs = self.sets[new]
        min_available = podutil.replicas(self.d) - du.max_unavailable(self.d)
        new_unavailable = podutil.replicas(new_rs) - int(
            status(new_rs).get("availableReplicas") or 0)
        max_scaled_down = du.total_replicas(self._all(new)) - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        cleaned = self.cleanup_unhealthy(olds, max_scaled_down)
        return cleaned + self.scale_down_old(olds, new, min_available) > 0

    def cleanup_unhealthy(self, olds: list[Obj], max_cleanup: int) -> int:
        """`cleanupUnhealthyReplicas`: drop old pods that are not available, oldest set first."""
        total = 0
        for rs in du.by_creation(olds):
            if total >= max_cleanup:
                break
            size, available = podutil.replicas(rs), int(status(rs).get("availableReplicas") or 0)
            if size == 0 or size <= available:
                continue
            count = min(max_cleanup - total, size - available)
            self.scale_and_record(meta(rs)["name"], size - count)
            total += count
        return total

    def scale_down_old(self, olds: list[Obj], new: str, min_available: int) -> int:
        """`scaleDownOldReplicaSetsForRollingUpdate`: remove available old pods beyond the
        minimum, oldest set first."""
        available = du.available_replicas([*olds, self.sets[new]])
        if available <= min_available:
            return 0
        to_remove, total = available - min_available, 0
        for rs in du.by_creation(olds):
            if total >= to_remove:
                break
            size = podutil.replicas(rs)
            if size == 0:
                continue
            count = min(size, to_remove - total)
            self.scale_and_record(meta(rs)["name"], size - count)
            total += count
        return total

    def recreate(self) -> None:
        """`rolloutRecreate`: old sets to 0, wait until their pods are gone, then the new set."""
        new = self.new_replica_set(create=False)
        scaled = False
        for rs in self._olds(new):
            if podutil.replicas(rs) > 0:
                scaled = self.scale_and_record(meta(rs)["name"], 0) or scaled
        if scaled or self.old_pods_running(new):
            self.sync_rollout_status(new)
            return
        if new is None:
            new = self.new_replica_set(create=True)
            if new is None:
                return
        self.scale_and_record(new, podutil.replicas(self.d))
        if du.deployment_complete(self.d, self.d["status"]):
            self.cleanup(new)
        self.sync_rollout_status(new)

    def old_pods_running(self, new: str | None) -> bool:
        """`oldPodsRunning`: an old set still reports pods, or a pod of an old set (terminating
        ones included) has not reached Succeeded or Failed."""
        if du.actual_replicas(self._olds(new)) > 0:
            return True
        new_uid = meta(self.sets[new]).get("uid") if new else None
        old_uids = {meta(rs).get("uid") for rs in self._olds(new)}
        return any((podutil.controller_of(p) or {}).get("uid") in old_uids - {new_uid}
                   and not podutil.is_terminal(p) for p in self.pods)

    # ---- scaling events and pauses (`sync`, `scale`, `isScalingEvent`) ---------------------------
    def is_scaling_event(self) -> bool:
        new = self.new_replica_set(create=False)
        desired = podutil.replicas(self.d)
        return any(podutil.replicas(rs) > 0 and du.desired_annotation(rs) not in (None, desired)
                   for rs in self._all(new))

    def sync_scale(self) -> None:
        new = self.new_replica_set(create=False)
        self.resize(new)
        if spec(self.d).get("paused"):
            self.cleanup(new)
        self.d["status"] = du.calculate_status(self._all(new), self.sets.get(new or ""),
                                               self.d, self.now)

    def resize(self, new: str | None) -> None:
        """`scale`: one active set takes it all; a saturated new set retires the old ones;
        otherwise RollingUpdate spreads the change over the sets in proportion."""
        desired = podutil.replicas(self.d)
        active = [rs for rs in self._all(new) if podutil.replicas(rs) > 0]
        if len(active) <= 1:
            target = active[0] if active else (self.sets.get(new or "") or self._latest_old(new))
            if target is not None and podutil.replicas(target) != desired:
                self.scale_and_record(meta(target)["name"], desired)
            return
        if du.is_saturated(self.d, self.sets.get(new or "")):
            for rs in self._olds(new):
                if podutil.replicas(rs) > 0:
                    self.scale_and_record(meta(rs)["name"], 0)
            return
        if du.strategy_type(self.d) != du.ROLLING_UPDATE:
            return
        allowed = desired + du.max_surge(self.d) if desired > 0 else 0
        to_add = allowed - du.total_replicas(active)
        newest_first = to_add > 0
        active.sort(key=lambda rs: (podutil.parse_time(meta(rs).get("creationTimestamp")) or 0.0,
                                    meta(rs)["name"]), reverse=newest_first)
        active.sort(key=lambda rs: -podutil.replicas(rs))  # stable: biggest first
        operation = "up" if to_add > 0 else "down"
        sizes, added = {}, 0
        for rs in active:
            share = du.proportion(rs, self.d, to_add, added)
            sizes[meta(rs)["name"]] = podutil.replicas(rs) + share
            added += share
        for i, rs in enumerate(active):
            name = meta(rs)["name"]
            if i == 0 and to_add != 0:
                sizes[name] = max(0, sizes[name] + to_add - added)
            self.scale(name, sizes[name], operation)

    def _latest_old(self, new: str | None) -> Obj | None:
        olds = du.by_creation(self._olds(new))
        return olds[-1] if olds else None

    # ---- housekeeping and status -----------------------------------------------------------------
    def cleanup(self, new: str | None) -> None:
        """`cleanupDeployment`: delete the oldest empty sets beyond revisionHistoryLimit."""
        limit = du.revision_history_limit(self.d)
        if limit is None:
            return
        alive = [rs for rs in self._olds(new) if not meta(rs).get("deletionTimestamp")]
        if len(alive) <= limit:
            return
        alive = sorted(du.by_creation(alive), key=du.revision)
        for rs in alive[:len(alive) - limit]:
            st = status(rs)
            if int(st.get("replicas") or 0) or podutil.replicas(rs) or \
                    meta(rs).get("generation", 1) > st.get("observedGeneration", 0):
                continue
            self.plan.deletes.append(meta(rs)["name"])

    def check_paused(self) -> None:
        """`checkPausedConditions`: Progressing Unknown while paused, and once resumed."""
        if du.progress_deadline_s(self.d) is None:
            return
        cond = du.get_condition(self.d["status"], "Progressing")
        if cond is not None and cond.get("reason") == du.TIMED_OUT:
            return
        paused_cond = cond is not None and cond.get("reason") == du.PAUSED
        if spec(self.d).get("paused") and not paused_cond:
            du.set_condition(self.d["status"], du.new_condition(
                "Progressing", "Unknown", du.PAUSED, "Deployment is paused", self.now))
        elif not spec(self.d).get("paused") and paused_cond:
            du.set_condition(self.d["status"], du.new_condition(
                "Progressing", "Unknown", du.RESUMED, "Deployment is resumed", self.now))

    def sync_rollout_status(self, new: str | None) -> None:
        """`syncRolloutStatus`: the status plus the Progressing condition."""
        d, now = self.d, self.now
        new_rs = self.sets.get(new or "")
        st = du.calculate_status(self._all(new), new_rs, d, now)
        deadline = du.progress_deadline_s(d)
        if deadline is None:
            du.remove_condition(st, "Progressing")
        current = du.get_condition(d["status"], "Progressing")
        complete_before = (st["replicas"] == st["updatedReplicas"] and current is not None
                           and current.get("reason") == du.NEW_RS_AVAILABLE)
        what = f'ReplicaSet "{new}"' if new else f'Deployment "{meta(d)["name"]}"'
        if deadline is not None and not complete_before:
            if du.deployment_complete(d, st):
                du.set_condition(st, du.new_condition(
                    "Progressing", "True", du.NEW_RS_AVAILABLE,
                    f"{what} has successfully progressed.", now))
            elif du.deployment_progressing(d, st):
                cond = du.new_condition("Progressing", "True", du.RS_UPDATED,
                                        f"{what} is progressing.", now)
                if current is not None:
                    if current.get("status") == "True":
                        cond["lastTransitionTime"] = current.get("lastTransitionTime")
                    du.remove_condition(st, "Progressing")
                du.set_condition(st, cond)
            elif du.deployment_timed_out(d, st, now):
                du.set_condition(st, du.new_condition(
                    "Progressing", "False", du.TIMED_OUT,
                    f"{what} has timed out progressing.", now))
        self.plan.requeue_s = self._stuck_after(st)
        d["status"] = st

    def _stuck_after(self, st: Obj) -> float | None:
        """`requeueStuckDeployment`: when the progress deadline would pass."""
        deadline = du.progress_deadline_s(self.d)
        cond = du.get_condition(st, "Progressing")
        if deadline is None or cond is None or du.deployment_complete(self.d, st) \
                or cond.get("reason") in (du.TIMED_OUT, du.NEW_RS_AVAILABLE):
            return None
        since = podutil.parse_time(cond.get("lastUpdateTime"))
        return None if since is None else max(0.0, since + deadline - self.now) + 1.0


def plan_deployment(d: Obj, sets: Sequence[Obj], pods: Sequence[Obj], now: float) -> Plan:
    """Everything one sync of Deployment `d` writes (`syncDeployment`). `sets` are the
    ReplicaSets it controls, `pods` the pods of those sets (terminating ones included)."""
    r = _Rollout(d, sets, pods, now)
    selector = spec(d).get("selector") or {}
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        r.d["status"]["observedGeneration"] = meta(d).get("generation", 1)
        r.plan.events.append(("SelectingAll", "This deployment is selecting all pods. A "
                              "non-empty selector is required.", EventKind.WARNING))
        return r.result()
    if meta(d).get("deletionTimestamp"):
        new = r.new_replica_set(create=False)
        r.d["status"] = du.calculate_status(r._all(new), r.sets.get(new or ""), r.d, now)
        return r.result()
    r.check_paused()
    if spec(d).get("paused") or r.is_scaling_event():
        r.sync_scale()
    elif du.strategy_type(d) == du.RECREATE:
        r.recreate()
    else:
        r.rolling()
    return r.result()
