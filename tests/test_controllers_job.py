"""Job controller rules (`controllers.job.plan`), as tables: how many pods run, when the Job
succeeds or fails (backoffLimit, OnFailure restarts, activeDeadlineSeconds), the delayed
terminal conditions, and ttlSecondsAfterFinished."""

from __future__ import annotations

import pytest

from probelab.engine.controllers.job.plan import (
    next_deadline_s,
    plan_job,
    ttl_expires_at,
    want_active,
)
from probelab.engine.core.clock import rfc3339

NOW = 1_700_000_000.0


def job(completions: int | None = 3, parallelism: int = 2, backoff: int = 6,
        restart: str = "Never", deadline: int | None = None, status: dict | None = None,
        ttl: int | None = None) -> dict:
    spec: dict = {"parallelism": parallelism, "backoffLimit": backoff,
                  "template": {"spec": {"restartPolicy": restart}}}
    if completions is not None:
        spec["completions"] = completions
    if deadline is not None:
        spec["activeDeadlineSeconds"] = deadline
    if ttl is not None:
        spec["ttlSecondsAfterFinished"] = ttl
    return {"metadata": {"name": "j", "namespace": "demo"}, "spec": spec,
            "status": dict(status or {})}


def pod(name: str, phase: str = "Running", terminating: bool = False,
        restarts: int = 0) -> dict:
    m = {"name": name, "creationTimestamp": rfc3339(NOW - int(name[1:] or 0))}
    if terminating:
        m["deletionTimestamp"] = rfc3339(NOW + 30)
    return {"metadata": m, "status": {"phase": phase, "containerStatuses": [
        {"name": "c", "restartCount": restarts}]}}


def conditions(st: dict) -> list[str]:
    return [c["type"] for c in st.get("conditions") or ()]


WANT = [
    ((3, 2, 0, 0), 2), ((3, 2, 2, 2), 1), ((3, 2, 3, 0), 0), ((3, 5, 0, 0), 3),
    ((None, 2, 0, 0), 2), ((None, 2, 1, 1), 1),
]


@pytest.mark.parametrize(("args", "expected"), WANT)
def test_want_active(args: tuple, expected: int) -> None:
    completions, parallelism, succeeded, active = args
    assert want_active(job(completions, parallelism), active, succeeded) == expected


PLANS = [
    # (why, job, pods, creates, deletes, conditions, status subset)
    ("start: parallelism pods", job(), [], 2, [], [], {"active": 2}),
    ("one succeeded: one more (3 - 1 = 2 wanted, 1 running)", job(),
     [pod("p1", "Succeeded"), pod("p2")], 1, [], [], {"succeeded": 1, "active": 2}),
    ("last one running: no more", job(), [pod("p1", "Succeeded"), pod("p2", "Succeeded"),
                                          pod("p3")], 0, [], [], {"succeeded": 2}),
    ("all succeeded: Complete at once (no pod left)", job(),
     [pod(f"p{i}", "Succeeded") for i in range(3)], 0, [],
     ["SuccessCriteriaMet", "Complete"], {"succeeded": 3}),
    ("a failed pod is replaced and counted", job(backoff=6),
     [pod("p1", "Failed"), pod("p2")], 1, [], [], {"failed": 1, "active": 2}),
    ("failures above backoffLimit: FailureTarget, active pods deleted", job(backoff=1),
     [pod("p1", "Failed"), pod("p2", "Failed"), pod("p3")], 0, ["p3"], ["FailureTarget"],
     {"failed": 2}),
    ("after FailureTarget, Failed once no pod is left", job(backoff=1, status={"conditions": [
        {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded",
         "message": "m"}]}), [pod("p1", "Failed"), pod("p2", "Failed")], 0, [],
     ["FailureTarget", "Failed"], {"failed": 2}),
    ("FailureTarget waits for terminating pods", job(backoff=1, status={"conditions": [
        {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded",
         "message": "m"}]}), [pod("p1", "Failed"), pod("p2", terminating=True)], 0, [],
     ["FailureTarget"], {"terminating": 1}),
    ("OnFailure: restarts reaching backoffLimit fail the Job", job(restart="OnFailure",
                                                                   backoff=2),
     [pod("p1", restarts=1), pod("p2", restarts=1)], 0, ["p1", "p2"], ["FailureTarget"], {}),
    ("deadline passed: DeadlineExceeded", job(deadline=10, status={
        "startTime": rfc3339(NOW - 11)}), [pod("p1")], 0, ["p1"], ["FailureTarget"], {}),
    ("no completions: one success, others still running -> wait", job(completions=None),
     [pod("p1", "Succeeded"), pod("p2")], 0, [], [], {"active": 1}),
    ("no completions: one success, nothing running -> complete", job(completions=None),
     [pod("p1", "Succeeded"), pod("p2", "Succeeded")], 0, [],
     ["SuccessCriteriaMet", "Complete"], {}),
    ("succeeded count never goes down when pods vanish", job(status={"succeeded": 2}),
     [pod("p3")], 0, [], [], {"succeeded": 2, "active": 1}),
]


@pytest.mark.parametrize(("why", "the_job", "pods", "creates", "deletes", "conds", "subset"),
                         PLANS, ids=[p[0] for p in PLANS])
def test_plan(why: str, the_job: dict, pods: list, creates: int, deletes: list, conds: list,
              subset: dict) -> None:
    plan = plan_job(the_job, pods, NOW)
    assert plan.create == creates
    assert sorted(plan.delete) == sorted(deletes)
    assert conditions(plan.status) == conds
    assert {k: plan.status.get(k) for k in subset} == subset
    assert plan.status["startTime"]


def test_complete_sets_completion_time_and_event() -> None:
    plan = plan_job(job(completions=1, parallelism=1), [pod("p1", "Succeeded")], NOW)
    assert plan.status["completionTime"] == rfc3339(NOW)
    assert ("Normal", "Completed", "Job completed") in plan.events
    done = job(status=plan.status)
    assert plan_job(done, [pod("p1", "Succeeded")], NOW + 5).status == done["status"]


def test_backoff_limit_event_and_reason() -> None:
    plan = plan_job(job(backoff=0), [pod("p1", "Failed")], NOW)
    cond = plan.status["conditions"][0]
    assert (cond["reason"], cond["message"]) == ("BackoffLimitExceeded",
                                                 "Job has reached the specified backoff limit")
    assert plan.events[0][0] == "Warning"


def test_ttl_and_deadline() -> None:
    finished = job(ttl=30, status={"completionTime": rfc3339(NOW), "conditions": [
        {"type": "Complete", "status": "True", "lastTransitionTime": rfc3339(NOW)}]})
    assert ttl_expires_at(finished) == NOW + 30
    assert ttl_expires_at(job(ttl=30)) is None
    running = job(deadline=100, status={"startTime": rfc3339(NOW - 40)})
    assert next_deadline_s(running, NOW) == pytest.approx(60.01)


def indexed_pod(name: str, index: int, phase: str = "Running") -> dict:
    made = pod(name, phase)
    made["metadata"]["annotations"] = {"batch.kubernetes.io/job-completion-index": str(index)}
    return made


def test_indexed_job_starts_the_lowest_free_indexes_and_counts_indexes() -> None:
    the_job = job(completions=5, parallelism=2)
    the_job["spec"]["completionMode"] = "Indexed"
    plan = plan_job(the_job, [], NOW)
    assert plan.indexes == [0, 1] and plan.create == 2
    pods = [indexed_pod("p1", 0, "Succeeded"), indexed_pod("p2", 1),
            indexed_pod("p3", 0, "Succeeded")]  # a second success of index 0 counts once
    plan = plan_job(the_job, pods, NOW)
    assert plan.indexes == [2]
    assert (plan.status["succeeded"], plan.status["completedIndexes"]) == (1, "0")
    done = [indexed_pod(f"p{i}", i, "Succeeded") for i in (0, 1, 2, 4)]
    plan = plan_job(the_job, done, NOW)
    assert plan.indexes == [3] and plan.status["completedIndexes"] == "0-2,4"
    plan = plan_job(the_job, [*done, indexed_pod("p9", 3, "Succeeded")], NOW)
    assert conditions(plan.status) == ["SuccessCriteriaMet", "Complete"]


def test_indexed_job_pod() -> None:
    from probelab.engine.controllers.job.controller import job_pod

    the_job = job()
    the_job["spec"]["template"]["spec"]["containers"] = [{"name": "c", "image": "i"}]
    made = job_pod(the_job, 3)
    assert made["metadata"]["generateName"] == "j-3-"
    assert made["metadata"]["annotations"] == {"batch.kubernetes.io/job-completion-index": "3"}
    assert made["spec"]["hostname"] == "j-3"
    path = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    assert made["spec"]["containers"][0]["env"] == [
        {"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {"fieldPath": path}}}]
    assert "annotations" not in job_pod(the_job)["metadata"]
