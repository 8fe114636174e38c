"""What a CronJob's sync does, as pure functions (`pkg/controller/cronjob/
cronjob_controllerv2.go` syncCronJob, cleanupFinishedJobs; `utils.go` getJobFromTemplate2,
mostRecentScheduleTime, nextScheduleTime).

- Finished Jobs leave `status.active` (`SawCompletedJob`), a completed one sets
  `lastSuccessfulTime`; beyond `successfulJobsHistoryLimit` / `failedJobsHistoryLimit` the
  oldest finished Jobs are deleted.
- Suspended: nothing is started. Otherwise the most recent scheduled time since
  `lastScheduleTime` (or the CronJob's creation) is due, unless `startingDeadlineSeconds` has
  passed since it (`MissSchedule`); more than 100 missed times gives a `TooManyMissedTimes`
  warning, only the last one runs.
- `concurrencyPolicy`: Allow starts it next to running Jobs, Forbid skips it while one runs
  (`JobAlreadyActive`), Replace deletes the running ones first.
- The Job is `<cronjob>-<scheduled time in minutes since the epoch>`, from `jobTemplate`, owned
  by the CronJob, annotated `batch.kubernetes.io/cronjob-scheduled-timestamp`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

from probelab.engine.controllers import pods as podutil
from probelab.engine.core.clock import rfc3339
from probelab.k8s import cron
from probelab.k8s.objects import Obj, meta, spec, status

SCHEDULED_AT = "batch.kubernetes.io/cronjob-scheduled-timestamp"
TOO_MANY_MISSED = 100


@dataclass
class CronPlan:
    """One sync: a Job to create (or None), Jobs to delete, the new status, Events
    (type, reason, message), and when to look again (seconds since the epoch, or None)."""

    create: Obj | None = None
    delete: list[str] = field(default_factory=list)
    status: Obj = field(default_factory=dict)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    next_at: float | None = None


def job_finished(job: Obj) -> str | None:
    """"Complete" or "Failed" when the Job has that condition True, else None."""
    for cond in status(job).get("conditions") or ():
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return str(cond["type"])
    return None


def job_name(cj: Obj, scheduled: float) -> str:
    return f"{meta(cj)['name']}-{int(scheduled // 60)}"


def job_from_template(cj: Obj, scheduled: float) -> Obj:
    template = (spec(cj).get("jobTemplate") or {})
    tmeta = template.get("metadata") or {}
    annotations = dict(tmeta.get("annotations") or {})
    annotations[SCHEDULED_AT] = rfc3339(scheduled)
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": job_name(cj, scheduled), "namespace": meta(cj).get("namespace"),
                         "labels": dict(tmeta.get("labels") or {}), "annotations": annotations,
                         "ownerReferences": [podutil.controller_ref(cj, "batch/v1",
                                                                    "CronJob")]},
            "spec": copy.deepcopy(template.get("spec") or {})}


def _reference(job: Obj) -> Obj:
    m = meta(job)
    return {"apiVersion": "batch/v1", "kind": "Job", "name": m.get("name"),
            "namespace": m.get("namespace"), "uid": m.get("uid"),
            "resourceVersion": m.get("resourceVersion")}


def plan_cron_job(cj: Obj, jobs: Sequence[Obj], now: float) -> CronPlan:
    """The Job to start, the Jobs to delete and the status of one sync; `jobs` are the Jobs
    the CronJob controls."""
    st = copy.deepcopy(status(cj))
    plan = CronPlan(status=st)
    if meta(cj).get("deletionTimestamp"):
        return plan
    running = [j for j in jobs if job_finished(j) is None and not meta(j).get("deletionTimestamp")]
    was_active = {a.get("uid") for a in st.get("active") or ()}
    for job in jobs:
        done = job_finished(job)
        if done and meta(job).get("uid") in was_active:
            plan.events.append(("Normal", "SawCompletedJob",
                                f"Saw completed job: {meta(job)['name']}, condition: {done}"))
            if done == "Complete" and status(job).get("completionTime"):
                st["lastSuccessfulTime"] = status(job)["completionTime"]
    st["active"] = [_reference(j) for j in running]
    plan.delete = _history_to_delete(cj, jobs)
    try:
        sched = cron.parse(str(spec(cj).get("schedule") or ""))
        tz = cron.zone(spec(cj).get("timeZone"))
    except cron.ScheduleError as exc:
        plan.events.append(("Warning", "UnparseableSchedule", f"unparseable schedule: {exc}"))
        return _tidy(plan)
    if spec(cj).get("suspend"):
        return _tidy(plan)
    since = podutil.parse_time(st.get("lastScheduleTime")) or podutil.parse_time(
        meta(cj).get("creationTimestamp")) or now
    due, missed = cron.most_recent(sched, since, now, tz)
    plan.next_at = cron.next_after(sched, now, tz)
    if due is None:
        return _tidy(plan)
    if missed > TOO_MANY_MISSED:
        plan.events.append(("Warning", "TooManyMissedTimes",
                            "too many missed start times. Set or decrease "
                            ".spec.startingDeadlineSeconds or check clock skew"))
    deadline = spec(cj).get("startingDeadlineSeconds")
    if deadline is not None and due + int(deadline) < now:
        plan.events.append(("Warning", "MissSchedule",
                            f"Missed scheduled time to start a job: {rfc3339(due)}"))
        return _tidy(plan)
    if any(meta(j).get("name") == job_name(cj, due) for j in jobs):
        return _tidy(plan)  # already made for this time
    policy = spec(cj).get("concurrencyPolicy", "Allow")
    if policy == "Forbid" and running:
        plan.events.append(("Normal", "JobAlreadyActive",
                            "Not starting job because prior execution is running and "
                            "concurrency policy is Forbid"))
        return _tidy(plan)
    if policy == "Replace":
        plan.delete += [meta(j)["name"] for j in running]
        st["active"] = []
    plan.create = job_from_template(cj, due)
    st["lastScheduleTime"] = rfc3339(due)
    return _tidy(plan)


def _history_to_delete(cj: Obj, jobs: Sequence[Obj]) -> list[str]:
    """Finished Jobs beyond the history limits, oldest first (`cleanupFinishedJobs`)."""
    out = []
    for kind, key, default in (("Complete", "successfulJobsHistoryLimit", 3),
                               ("Failed", "failedJobsHistoryLimit", 1)):
        limit = spec(cj).get(key)
        limit = default if limit is None else int(limit)
        done = sorted((j for j in jobs if job_finished(j) == kind
                       and not meta(j).get("deletionTimestamp")),
                      key=lambda j: (status(j).get("startTime") or "", meta(j)["name"]))
        out += [meta(j)["name"] for j in done[:max(0, len(done) - limit)]]
    return out


def _tidy(plan: CronPlan) -> CronPlan:
    if not plan.status.get("active"):
        plan.status.pop("active", None)
    return plan
