"""What a Job's next sync does, as pure functions (`pkg/controller/job/job_controller.go`
syncJob, manageJob, pastBackoffLimitOnFailure, pastActiveDeadline;
`pkg/controller/ttlafterfinished` for `ttlSecondsAfterFinished`).

- **Accounting.** `active` = pods neither finished nor terminating; `succeeded` / `failed` =
  pods in phase Succeeded / Failed (never less than the status already says, so a finished pod
  deleted later still counts); `ready` = active and Ready; `terminating` = being deleted.
- **How many run.** With `completions`: min(parallelism, completions − succeeded); without:
  parallelism until one pod succeeds, then whatever still runs. Extra active pods are deleted,
  missing ones created (terminating pods are not waited for: `podReplacementPolicy`
  TerminatingOrFailed, the default without a podFailurePolicy).
- **Failure.** More failed pods than `backoffLimit`, or (restartPolicy OnFailure) as many
  container restarts in running pods as `backoffLimit`, gives `FailureTarget` with reason
  `BackoffLimitExceeded`; running longer than `activeDeadlineSeconds` gives `DeadlineExceeded`.
  Active pods are then deleted, and `Failed` is added once none is left.
- **Success.** `succeeded ≥ completions` (without completions: one success and nothing
  active) gives `SuccessCriteriaMet`, remaining pods are deleted, then `Complete` with
  `completionTime` once no pod is left running or terminating (Kubernetes ≥ 1.31 adds the
  terminal condition only after the pods are gone).
- **Indexed** (`completionMode: Indexed`): each index in [0, completions) needs one Succeeded
  pod; the lowest indexes with neither a success nor an active pod are started first, at most
  `parallelism` at a time; `succeeded` counts indexes and `completedIndexes` lists them
  (`1,3-5`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from probelab.engine.controllers import pods as podutil
from probelab.engine.core.clock import rfc3339
from probelab.k8s.objects import Obj, meta, spec, status

BACKOFF_LIMIT = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE = ("DeadlineExceeded", "Job was active longer than specified deadline")
COMPLETIONS_REACHED = ("CompletionsReached", "Reached expected number of succeeded pods")


@dataclass
class JobPlan:
    """One sync: how many pods to create, which to delete, the new status, Events
    (type, reason, message) to record."""

    create: int = 0
    delete: list[str] = field(default_factory=list)
    indexes: list[int] = field(default_factory=list)  # Indexed: the index of each new pod
    status: Obj = field(default_factory=dict)
    events: list[tuple[str, str, str]] = field(default_factory=list)


def condition(job: Obj, kind: str) -> Obj | None:
    for cond in status(job).get("conditions") or ():
        if isinstance(cond, dict) and cond.get("type") == kind and cond.get("status") == "True":
            return cond
    return None


def finished(job: Obj) -> bool:
    """Complete or Failed (`IsJobFinished`)."""
    return condition(job, "Complete") is not None or condition(job, "Failed") is not None


def _add_condition(st: Obj, kind: str, reason: str, message: str, now: float) -> None:
    conds = [c for c in st.get("conditions") or () if c.get("type") != kind]
    at = rfc3339(now)
    conds.append({"type": kind, "status": "True", "reason": reason, "message": message,
                  "lastProbeTime": at, "lastTransitionTime": at})
    st["conditions"] = conds


def _restarts_while_running(pods: Sequence[Obj]) -> int:
    total = 0
    for pod in pods:
        if status(pod).get("phase") in ("Running", "Pending"):
            for key in ("initContainerStatuses", "containerStatuses"):
                total += sum(int(c.get("restartCount") or 0)
                             for c in status(pod).get(key) or () if isinstance(c, dict))
    return total


def past_backoff_limit_on_failure(job: Obj, pods: Sequence[Obj]) -> bool:
    """restartPolicy OnFailure: container restarts of pending/running pods reach the limit."""
    template_spec = (spec(job).get("template") or {}).get("spec") or {}
    if template_spec.get("restartPolicy") != "OnFailure":
        return False
    limit = int(spec(job).get("backoffLimit", 6))
    restarts = _restarts_while_running(pods)
    return restarts > 0 if limit == 0 else restarts >= limit


def want_active(job: Obj, active: int, succeeded: int) -> int:
    parallelism = int(spec(job).get("parallelism", 1))
    completions = spec(job).get("completions")
    if completions is None:
        return active if succeeded > 0 else parallelism
    return max(0, min(parallelism, int(completions) - succeeded))


INDEX_KEY = "batch.kubernetes.io/job-completion-index"


def indexed(job: Obj) -> bool:
    return spec(job).get("completionMode") == "Indexed"


def completion_index(pod: Obj) -> int | None:
    """The pod's index (annotation, as `getCompletionIndex` reads it), None if absent/bad."""
    text = (meta(pod).get("annotations") or {}).get(INDEX_KEY)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def format_indexes(indexes: Sequence[int]) -> str:
    """`1,3-5`: sorted intervals, as `status.completedIndexes` writes them."""
    out: list[str] = []
    ordered = sorted(set(indexes))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(out)


def plan_job(job: Obj, pods: Sequence[Obj], now: float) -> JobPlan:
    """The creates, deletes, status and Events of one sync of `job` given its pods."""
    plan = JobPlan(status=dict(status(job)))
    st = plan.status
    if finished(job):
        return plan
    terminating = [p for p in pods if podutil.is_terminating(p) and not podutil.is_terminal(p)]
    active = [p for p in pods if podutil.is_active(p)]
    if indexed(job):
        done = {i for p in pods if status(p).get("phase") == "Succeeded"
                and (i := completion_index(p)) is not None}
        done |= _parse_indexes(st.get("completedIndexes"))
        done = {i for i in done if 0 <= i < int(spec(job).get("completions") or 0)}
        if done:
            st["completedIndexes"] = format_indexes(sorted(done))
        succeeded = len(done)
    else:
        succeeded = max(int(st.get("succeeded") or 0),
                        sum(1 for p in pods if status(p).get("phase") == "Succeeded"))
    failed = max(int(st.get("failed") or 0),
                 sum(1 for p in pods if status(p).get("phase") == "Failed"))
    if not st.get("startTime"):
        st["startTime"] = rfc3339(now)
    start = podutil.parse_time(st.get("startTime")) or now
    deadline = spec(job).get("activeDeadlineSeconds")

    target = None
    if condition(job, "FailureTarget") is not None:
        target = "failed"
    elif condition(job, "SuccessCriteriaMet") is not None:
        target = "succeeded"
    elif failed > int(spec(job).get("backoffLimit", 6)) \
            or past_backoff_limit_on_failure(job, active):
        _add_condition(st, "FailureTarget", *BACKOFF_LIMIT, now)
        plan.events.append(("Warning", *BACKOFF_LIMIT))
        target = "failed"
    elif deadline is not None and now - start >= int(deadline):
        _add_condition(st, "FailureTarget", *DEADLINE, now)
        plan.events.append(("Warning", *DEADLINE))
        target = "failed"
    else:
        completions = spec(job).get("completions")
        met = (succeeded >= int(completions) if completions is not None
               else succeeded > 0 and not active)
        if met:
            _add_condition(st, "SuccessCriteriaMet", *COMPLETIONS_REACHED, now)
            target = "succeeded"

    if target is not None:
        plan.delete = [meta(p)["name"] for p in active]
        still = len(active) + len(terminating)
        if still == 0:
            if target == "failed":
                reason = condition(job, "FailureTarget") or next(
                    c for c in st["conditions"] if c["type"] == "FailureTarget")
                _add_condition(st, "Failed", reason["reason"], reason["message"], now)
            else:
                _add_condition(st, "Complete", *COMPLETIONS_REACHED, now)
                st["completionTime"] = rfc3339(now)
                plan.events.append(("Normal", "Completed", "Job completed"))
        new_active = 0
    elif spec(job).get("suspend"):
        plan.delete = [meta(p)["name"] for p in active]
        new_active = 0
    else:
        wanted = want_active(job, len(active), succeeded)
        if len(active) > wanted:
            newest = sorted(active, key=lambda p: meta(p).get("creationTimestamp") or "",
                            reverse=True)
            plan.delete = [meta(p)["name"] for p in newest[:len(active) - wanted]]
        plan.create = max(0, wanted - len(active))
        if indexed(job):
            busy = {completion_index(p) for p in active} | done
            free = [i for i in range(int(spec(job).get("completions") or 0)) if i not in busy]
            plan.indexes = free[:plan.create]
            plan.create = len(plan.indexes)
        new_active = len(active) - len(plan.delete) + plan.create
    st["active"] = new_active
    st["succeeded"] = succeeded
    st["failed"] = failed
    st["ready"] = sum(1 for p in active if podutil.is_ready(p)
                      and meta(p)["name"] not in plan.delete)
    st["terminating"] = len(terminating) + len(plan.delete)
    for key in ("active", "succeeded", "failed"):
        if not st[key]:
            del st[key]  # omitempty
    return plan


def _parse_indexes(text: object) -> set[int]:
    out: set[int] = set()
    for part in str(text or "").split(","):
        low, _, high = part.partition("-")
        if low.strip().isdigit():
            out.update(range(int(low), int(high if high.strip().isdigit() else low) + 1))
    return out


def ttl_expires_at(job: Obj) -> float | None:
    """When a finished Job with `ttlSecondsAfterFinished` is to be deleted, else None
    (`pkg/controller/ttlafterfinished`: from the Complete/Failed transition time)."""
    ttl = spec(job).get("ttlSecondsAfterFinished")
    if ttl is None or not finished(job):
        return None
    cond = condition(job, "Complete") or condition(job, "Failed") or {}
    done = podutil.parse_time(status(job).get("completionTime")
                              or cond.get("lastTransitionTime"))
    return None if done is None else done + int(ttl)


def next_deadline_s(job: Obj, now: float) -> float | None:
    """Seconds until `activeDeadlineSeconds` runs out for an unfinished Job, else None."""
    deadline = spec(job).get("activeDeadlineSeconds")
    start = podutil.parse_time(status(job).get("startTime"))
    if deadline is None or start is None or finished(job):
        return None
    return max(0.0, start + int(deadline) - now) + 0.01
