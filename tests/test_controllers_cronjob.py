"""CronJob controller rules: cron lines (`controllers.cronjob.schedule`) and what a sync does
(`controllers.cronjob.plan`): the due time, missed deadlines, concurrency policies, active
Jobs and history limits."""

from __future__ import annotations

import datetime as dt

import pytest

from probelab.engine.controllers.cronjob.plan import SCHEDULED_AT, plan_cron_job
from probelab.k8s import cron

UTC = dt.UTC


def at(text: str, tz: dt.tzinfo = UTC) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


NEXT = [
    ("*/15 * * * *", "2026-03-01T10:07:30", "2026-03-01T10:15:00"),
    ("0 3 * * *", "2026-03-01T03:00:00", "2026-03-02T03:00:00"),
    ("30 9 * * MON-FRI", "2026-03-06T10:00:00", "2026-03-09T09:30:00"),  # Fri -> Mon
    ("0 0 1 JAN *", "2026-03-01T00:00:00", "2027-01-01T00:00:00"),
    ("0 0 29 2 *", "2026-03-01T00:00:00", "2028-02-29T00:00:00"),
    ("0 12 13 * 5", "2026-03-01T00:00:00", "2026-03-06T12:00:00"),  # day 13 OR Friday
    ("0 12 13 * *", "2026-03-01T00:00:00", "2026-03-13T12:00:00"),
    ("5,10-12 1 * * 7", "2026-03-01T01:05:00", "2026-03-01T01:10:00"),  # 7 is Sunday
    ("@hourly", "2026-03-01T10:59:59", "2026-03-01T11:00:00"),
    ("@weekly", "2026-03-01T00:00:00", "2026-03-08T00:00:00"),
]


@pytest.mark.parametrize(("line", "after", "expected"), NEXT, ids=[n[0] for n in NEXT])
def test_next_after(line: str, after: str, expected: str) -> None:
    assert cron.next_after(cron.parse(line), at(after), UTC) == at(expected)


def test_time_zone_and_impossible_dates() -> None:
    paris = cron.zone("Europe/Paris")
    got = cron.next_after(cron.parse("0 9 * * *"), at("2026-07-01T00:00:00"), paris)
    assert got == at("2026-07-01T07:00:00")  # 09:00 CEST
    assert cron.next_after(cron.parse("0 0 30 2 *"), at("2026-01-01T00:00:00"), UTC) is None
    assert cron.next_after(cron.parse("@every 1h30m"), 1000.0, UTC) == 1000.0 + 5400


@pytest.mark.parametrize("line", ["* * * *", "61 * * * *", "*/0 * * * *", "a * * * *",
                                  "@sometimes", "5-1 * * * *"])
def test_bad_lines(line: str) -> None:
    with pytest.raises(cron.ScheduleError):
        cron.parse(line)


NOW = at("2026-03-01T10:07:30")


def cronjob(schedule: str = "*/5 * * * *", policy: str = "Allow", last: str | None = None,
            deadline: int | None = None, suspend: bool = False, active: list | None = None,
            ok_limit: int = 3, failed_limit: int = 1) -> dict:
    spec = {"schedule": schedule, "concurrencyPolicy": policy, "suspend": suspend,
            "successfulJobsHistoryLimit": ok_limit, "failedJobsHistoryLimit": failed_limit,
            "jobTemplate": {"metadata": {"labels": {"team": "a"}}, "spec": {
                "template": {"spec": {"restartPolicy": "Never",
                                      "containers": [{"name": "c", "image": "i"}]}}}}}
    if deadline is not None:
        spec["startingDeadlineSeconds"] = deadline
    st: dict = {}
    if last:
        st["lastScheduleTime"] = last
    if active:
        st["active"] = active
    return {"metadata": {"name": "tick", "namespace": "demo", "uid": "cj",
                         "creationTimestamp": "2026-03-01T09:00:00Z"},
            "spec": spec, "status": st}


def job(name: str, done: str | None = None, start: str = "2026-03-01T09:00:00Z") -> dict:
    st: dict = {"startTime": start}
    if done:
        st["conditions"] = [{"type": done, "status": "True"}]
        if done == "Complete":
            st["completionTime"] = start
    return {"metadata": {"name": name, "namespace": "demo", "uid": f"u-{name}"}, "status": st}


def test_due_time_creates_the_job() -> None:
    plan = plan_cron_job(cronjob(last="2026-03-01T10:00:00Z"), [], NOW)
    assert plan.create is not None
    assert plan.create["metadata"]["name"] == f"tick-{int(at('2026-03-01T10:05:00') // 60)}"
    assert plan.create["metadata"]["annotations"][SCHEDULED_AT] == "2026-03-01T10:05:00Z"
    assert plan.create["metadata"]["labels"] == {"team": "a"}
    assert plan.create["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    assert plan.status["lastScheduleTime"] == "2026-03-01T10:05:00Z"
    assert plan.next_at == at("2026-03-01T10:10:00")


def test_nothing_due() -> None:
    plan = plan_cron_job(cronjob(last="2026-03-01T10:05:00Z"), [], NOW)
    assert plan.create is None and plan.next_at == at("2026-03-01T10:10:00")


def test_missed_deadline_and_too_many_missed() -> None:
    plan = plan_cron_job(cronjob(last="2026-03-01T10:00:00Z", deadline=60), [], NOW)
    assert plan.create is None and plan.events[0][1] == "MissSchedule"
    plan = plan_cron_job(cronjob(schedule="* * * * *", last="2026-02-28T00:00:00Z"), [], NOW)
    assert plan.create is not None and plan.events[0][1] == "TooManyMissedTimes"
    assert plan.create["metadata"]["name"] == f"tick-{int(at('2026-03-01T10:07:00') // 60)}"


def test_suspended_and_unparseable() -> None:
    assert plan_cron_job(cronjob(suspend=True), [], NOW).create is None
    plan = plan_cron_job(cronjob(schedule="nope"), [], NOW)
    assert plan.create is None and plan.events[0][1] == "UnparseableSchedule"


def test_concurrency_policies() -> None:
    running = job("tick-1")
    ref = [{"name": "tick-1", "uid": "u-tick-1"}]
    last = "2026-03-01T10:00:00Z"
    allow = plan_cron_job(cronjob(last=last, active=ref), [running], NOW)
    assert allow.create is not None and not allow.delete
    forbid = plan_cron_job(cronjob(policy="Forbid", last=last, active=ref), [running], NOW)
    assert forbid.create is None and forbid.events[0][1] == "JobAlreadyActive"
    replace = plan_cron_job(cronjob(policy="Replace", last=last, active=ref), [running], NOW)
    assert replace.create is not None and replace.delete == ["tick-1"]


def test_finished_jobs_leave_active_and_history_is_trimmed() -> None:
    jobs = [job(f"ok{i}", "Complete", f"2026-03-01T0{i}:00:00Z") for i in range(5)]
    jobs += [job("bad1", "Failed", "2026-03-01T01:00:00Z"),
             job("bad2", "Failed", "2026-03-01T02:00:00Z")]
    the_cj = cronjob(last="2026-03-01T10:05:00Z", active=[{"name": "ok4", "uid": "u-ok4"}])
    plan = plan_cron_job(the_cj, jobs, NOW)
    assert plan.delete == ["ok0", "ok1", "bad1"]
    assert "active" not in plan.status
    assert plan.status["lastSuccessfulTime"] == "2026-03-01T04:00:00Z"
    assert plan.events == [("Normal", "SawCompletedJob",
                            "Saw completed job: ok4, condition: Complete")]
