"""The kubelet with real processes: pods run, probe, restart and terminate as in Kubernetes.

Each test runs a real `Store` and `Kubelet` in its own event loop, with pods whose image maps to
the small test app of `support.kubelet_harness`; order is proven from the app's own marker file
and from the Events' `eventTime`. Waits are on conditions only.
"""

from __future__ import annotations

import ipaddress
import sys

from probelab.engine.core import podlogs
from support.kubelet_harness import NS, kubelet
from support.loops import run
from support.processes import pid_alive
from support.waiting import until


def test_a_pod_runs_and_becomes_ready(tmp_path) -> None:
    async def main() -> None:
        async with kubelet(tmp_path) as h:
            h.create("web", env={"GREETING": "hi-$(POD_NAME)"},
                     args=["--name", "$(POD_NAME)", "$$(POD_NAME)", "$(NOPE)"])
            await until(lambda: h.condition("web", "Ready") == "True", what="Ready")
            status = h.status("web")
            assert status["phase"] == "Running"
            ip = status["podIP"]
            assert ipaddress.ip_address(ip) in ipaddress.ip_network("127.244.0.0/16")
            assert status["podIPs"] == [{"ip": ip}]
            assert status["hostIP"] == "127.0.0.1"
            assert status["startTime"]
            c = h.container("web")
            assert c["ready"] is True and c["started"] is True and c["restartCount"] == 0
            assert "running" in c["state"]
            types = {cond["type"]: cond["status"] for cond in status["conditions"]}
            assert types["PodScheduled"] == types["Initialized"] == "True"
            assert types["ContainersReady"] == "True"
            assert h.pod("web")["spec"]["nodeName"] == "probelab"
            await until(lambda: "listening" in h.lines("web"))
            lines = h.lines("web")
            assert "argv --name web $(POD_NAME) $(NOPE)" in lines
            assert f"env POD_IP={ip} POD_NAME=web POD_NAMESPACE={NS} GREETING=hi-web" in lines
            reasons = [e["reason"] for e in h.events("web")]
            assert reasons[:4] == ["Scheduled", "Pulled", "Created", "Started"]
            log = podlogs.log_path(tmp_path / "state", h.pod("web")["metadata"]["uid"], "app")
            await until(lambda: log.exists() and "hello from web" in log.read_text())
            assert h.kubelet.pids(NS, "web")["app"] > 0

    run(main())


def _http_probe(path: str, period: int = 1, **more) -> dict:
    return {"httpGet": {"path": path, "port": 8080}, "periodSeconds": period, **more}


def test_a_failing_readiness_probe_keeps_the_pod_unready(tmp_path) -> None:
    async def main() -> None:
        async with kubelet(tmp_path) as h:
            h.create("sick", env={"HEALTH": "fail"}, readinessProbe=_http_probe("/healthz"))
            await until(lambda: h.events("sick", "Unhealthy"), what="Unhealthy event")
            event = h.events("sick", "Unhealthy")[0]
            assert event["type"] == "Warning"
            assert event["message"].startswith("Readiness probe failed: ")
            await until(lambda: "HTTP probe failed with statuscode: 503" in
                        " ".join(e["message"] for e in h.events("sick", "Unhealthy")))
            # the same failure again is counted on one Event, as kubectl describe shows "x3"
            await until(lambda: any(e["count"] >= 2 for e in h.events("sick", "Unhealthy")),
                        what="a repeated Unhealthy event")
            messages = [e["message"] for e in h.events("sick", "Unhealthy")]
            assert len(messages) == len(set(messages))
            assert h.status("sick")["phase"] == "Running"
            assert h.condition("sick", "Ready") == "False"
            assert h.condition("sick", "ContainersReady") == "False"
            assert h.container("sick")["ready"] is False
            assert h.container("sick")["started"] is True

    run(main())


def test_a_passing_readiness_probe_makes_the_pod_ready_only_after_it_succeeds(tmp_path) -> None:
    async def main() -> None:
        async with kubelet(tmp_path) as h:
            h.create("slow", readinessProbe=_http_probe("/healthz"))
            await until(lambda: h.condition("slow", "Ready") == "True", what="Ready")
            # ready was decided by a probe the app saw, not by the process merely running
            assert "healthz" in h.lines("slow")

    run(main())


def test_a_liveness_failure_restarts_the_container(tmp_path) -> None:
    async def main() -> None:
        async with kubelet(tmp_path) as h:
            h.create("zombie", env={"LIVE": "fail"}, grace=1,
                     livenessProbe=_http_probe("/livez", failureThreshold=2))
            await until(lambda: h.container("zombie").get("restartCount") == 1, what="restart")
            killing = h.events("zombie", "Killing")
            assert killing[0]["message"] == "Container app failed liveness probe, will be restarted"
            assert sum(e["count"] for e in h.events("zombie", "Unhealthy")) >= 2
            last = h.container("zombie")["lastState"]["terminated"]
            assert last["exitCode"] == 0  # the app exits 0 on SIGTERM
            assert h.lines("zombie").count("sigterm") >= 1
            await until(lambda: sum(1 for w in h.lines("zombie") if w.startswith("start")) >= 2,
                        what="a second start of the app")

    run(main())


def test_a_container_that_exits_is_restarted_then_backs_off(tmp_path) -> None:
    async def main() -> None:
        async with kubelet(tmp_path) as h:
            h.create("crash", env={"EXIT_CODE": "3"})
            await until(lambda: (h.container("crash").get("state") or {}).get("waiting", {})
                        .get("reason") == "CrashLoopBackOff", what="CrashLoopBackOff")
            c = h.container("crash")
            assert c["restartCount"] == 1  # the first restart is immediate, the second waits
            assert c["lastState"]["terminated"]["exitCode"] == 3
            assert c["lastState"]["terminated"]["reason"] == "Error"
            assert "back-off 10s" in c["state"]["waiting"]["message"]
            assert h.events("crash", "BackOff")
            assert h.status("crash")["phase"] == "Running"  # Always: still restarting

    run(main())


def test_a_failing_startup_probe_restarts_the_container(tmp_path) -> None:
    async def main() -> None:
        never = {"exec": {"command": [sys.executable, "-c", "raise SystemExit(1)"]},
                 "periodSeconds": 1, "failureThreshold": 1}
        async with kubelet(tmp_path) as h:
            h.create("nostart", grace=1, startupProbe=never)
            await until(lambda: h.container("nostart").get("restartCount") == 1, what="restart")
            killing = h.events("nostart", "Killing")
            assert killing[0]["message"] == "Container app failed startup probe, will be restarted"
            assert h.condition("nostart", "Ready") == "False"

    run(main())


def test_restart_policy_never_leaves_the_container_terminated(tmp_path) -> None:
    async def main() -> None:
        async with kubelet(tmp_path) as h:
            pod = h.create("once", env={"EXIT_CODE": "0"})
            pod["spec"]["restartPolicy"] = "Never"
            h.store.update("pods", {**pod, "metadata": {**pod["metadata"],
                                                        "resourceVersion": None}})
            await until(lambda: h.status("once").get("phase") == "Succeeded", what="Succeeded")
            c = h.container("once")
            assert c["state"]["terminated"]["reason"] == "Completed"
            assert c["restartCount"] == 0

    run(main())


def _marker_hook(word: str, then_sleep_s: float = 0.0, done: str = "", code: int = 0) -> dict:
    """An exec preStop hook that appends `word` to the app's marker file (same env)."""
    script = ("import os, sys, time\n"
              "def mark(w):\n"
              "    with open(os.environ['MARKERS'], 'a') as f:\n"
              "        f.write(f'{time.time():.6f} {w}\\n')\n"
              f"mark({word!r})\n"
              f"time.sleep({then_sleep_s})\n"
              f"mark({done!r}) if {done!r} else None\n"
              f"sys.exit({code})\n")
    return {"preStop": {"exec": {"command": [sys.executable, "-c", script]}}}


def _event_order(h, name: str, *reasons: str) -> list[str]:
    return [e["reason"] for e in h.events(name) if e["reason"] in reasons]


async def _running(h, name: str) -> int:
    await until(lambda: h.container(name).get("state", {}).get("running") and
                "listening" in h.lines(name), what=f"{name} listening")
    return h.kubelet.pids(NS, name)["app"]


def test_graceful_delete_runs_prestop_then_sigterm_then_removes_the_pod(tmp_path) -> None:
    async def main() -> None:
        async with kubelet(tmp_path) as h:
            h.create("bye", grace=10, lifecycle=_marker_hook("prestop", 0.3, "prestop-done"))
            pid = await _running(h, "bye")
            ip = h.status("bye")["podIP"]
            h.delete("bye")
            await until(lambda: h.pod("bye") is None, what="pod object removed")
            assert not pid_alive(pid)
            words = [w for w in h.lines("bye") if w in ("prestop", "prestop-done", "sigterm",
                                                        "exit")]
            assert words == ["prestop", "prestop-done", "sigterm", "exit"]
            assert _event_order(h, "bye", "Killing", "PreStopHookStarted", "StopSignalSent",
                                "ContainerExited") == ["Killing", "PreStopHookStarted",
                                                       "StopSignalSent", "ContainerExited"]
            assert h.events("bye", "Killing")[0]["message"] == "Stopping container app"
            assert not h.events("bye", "FailedPreStopHook")
            assert ip not in h.kubelet.node.ips.held()

    run(main())


def test_an_http_prestop_hook_reaches_the_app_before_sigterm(tmp_path) -> None:
    async def main() -> None:
        async with kubelet(tmp_path) as h:
            h.create("hook", lifecycle={"preStop": {"httpGet": {"path": "/prestop",
                                                               "port": 8080}}})
            await _running(h, "hook")
            h.delete("hook")
            await until(lambda: h.pod("hook") is None, what="pod object removed")
            words = [w for w in h.lines("hook") if w in ("prestop", "sigterm")]
            assert words == ["prestop", "sigterm"]

    run(main())


def test_a_process_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path) -> None:
    async def main() -> None:
        async with kubelet(tmp_path) as h:
            h.create("stubborn", grace=1, env={"IGNORE_TERM": "1"})
            pid = await _running(h, "stubborn")
            h.delete("stubborn")
            await until(lambda: h.pod("stubborn") is None, what="pod object removed")
            assert not pid_alive(pid)
            assert "sigterm" in h.lines("stubborn") and "exit" not in h.lines("stubborn")
            assert _event_order(h, "stubborn", "StopSignalSent", "Killed",
                                "ContainerExited") == ["StopSignalSent", "Killed",
                                                       "ContainerExited"]
            sent = h.events("stubborn", "StopSignalSent")[0]["message"]
            assert "SIGKILL in 2s" in sent  # grace 1 s is floored at 2 s
            exited = h.events("stubborn", "ContainerExited")[0]["message"]
            assert "code 137" in exited

    run(main())


def test_a_prestop_hook_that_overruns_the_grace_is_cut_off(tmp_path) -> None:
    async def main() -> None:
        async with kubelet(tmp_path) as h:
            h.create("late", grace=1, lifecycle=_marker_hook("prestop", 60, "prestop-done"))
            await _running(h, "late")
            h.delete("late")
            await until(lambda: h.pod("late") is None, what="pod object removed")
            words = [w for w in h.lines("late") if w in ("prestop", "prestop-done", "sigterm")]
            assert words == ["prestop", "sigterm"]
            sent = h.events("late", "StopSignalSent")[0]["message"]
            assert "SIGKILL in 2s" in sent

    run(main())


def test_a_failing_prestop_hook_is_a_warning_and_termination_goes_on(tmp_path) -> None:
    async def main() -> None:
        async with kubelet(tmp_path) as h:
            h.create("broken", lifecycle=_marker_hook("prestop", 0, "", code=7))
            await _running(h, "broken")
            h.delete("broken")
            await until(lambda: h.pod("broken") is None, what="pod object removed")
            failed = h.events("broken", "FailedPreStopHook")
            assert len(failed) == 1 and failed[0]["type"] == "Warning"
            assert "exited with 7" in failed[0]["message"]
            words = [w for w in h.lines("broken") if w in ("prestop", "sigterm", "exit")]
            assert words == ["prestop", "sigterm", "exit"]

    run(main())


def test_a_second_delete_with_a_shorter_grace_cuts_the_wait(tmp_path) -> None:
    async def main() -> None:
        async with kubelet(tmp_path) as h:
            h.create("hurry", grace=60, env={"IGNORE_TERM": "1"},
                     lifecycle=_marker_hook("prestop", 120, "prestop-done"))
            pid = await _running(h, "hurry")
            h.delete("hurry")
            await until(lambda: "prestop" in h.lines("hurry"), what="hook running")
            h.delete("hurry", grace=1)  # kubectl delete --grace-period=1 while terminating
            await until(lambda: h.pod("hurry") is None, what="pod removed")
            assert not pid_alive(pid)
            assert "SIGKILL in 2s" in h.events("hurry", "StopSignalSent")[0]["message"]
            assert _event_order(h, "hurry", "PreStopHookStarted", "StopSignalSent", "Killed",
                                "ContainerExited") == ["PreStopHookStarted", "StopSignalSent",
                                                       "Killed", "ContainerExited"]
            assert "prestop-done" not in h.lines("hurry")

    run(main())


def test_a_force_delete_kills_the_processes_at_once(tmp_path) -> None:
    async def main() -> None:
        async with kubelet(tmp_path) as h:
            h.create("gone", grace=30, env={"IGNORE_TERM": "1"},
                     lifecycle=_marker_hook("prestop", 60))
            pid = await _running(h, "gone")
            h.delete("gone", grace=0)
            assert h.pod("gone") is None
            await until(lambda: not pid_alive(pid), timeout_s=5, what="process gone")
            assert "prestop" not in h.lines("gone") and "sigterm" not in h.lines("gone")
            assert h.events("gone", "Killed")
            await until(lambda: not h.kubelet.node.ips.held(), what="IP released")

    run(main())


def test_stop_terminates_every_pod_and_leaves_no_process(tmp_path) -> None:
    async def main() -> None:
        pids: list[int] = []
        async with kubelet(tmp_path) as h:
            h.create("a", grace=5)
            h.create("b", grace=1, env={"IGNORE_TERM": "1"})
            h.create("c", grace=5, lifecycle=_marker_hook("prestop", 0.1))
            for name in ("a", "b", "c"):
                pids.append(await _running(h, name))
        assert not any(pid_alive(p) for p in pids)
        assert not h.kubelet.all_pids()
        assert "prestop" in h.lines("c") and "sigterm" in h.lines("a")
        await h.kubelet.stop()  # safe twice

    run(main())


def test_an_unmapped_image_waits_with_err_image_pull(tmp_path) -> None:
    async def main() -> None:
        async with kubelet(tmp_path) as h:
            h.create("nope", image="example.org/team/unknown:3")
            await until(lambda: h.container("nope").get("state", {}).get("waiting", {})
                        .get("reason") == "ErrImagePull", what="ErrImagePull")
            failed = h.events("nope", "Failed")
            assert failed and "--image example.org/team/unknown:3=COMMAND" in failed[0]["message"]
            assert h.status("nope")["phase"] == "Pending"
            h.delete("nope")
            await until(lambda: h.pod("nope") is None, what="pod removed without processes")

    run(main())


def test_a_command_that_cannot_start_crash_loops(tmp_path) -> None:
    async def main() -> None:
        async with kubelet(tmp_path) as h:
            h.create("badcmd", command=["/nonexistent/server", "--port", "1"])
            await until(lambda: (h.container("badcmd").get("state") or {}).get("waiting", {})
                        .get("reason") == "CrashLoopBackOff", what="CrashLoopBackOff")
            last = h.container("badcmd")["lastState"]["terminated"]
            assert last["reason"] == "StartError" and last["exitCode"] == 128
            failed = h.events("badcmd", "Failed")
            assert failed and "/nonexistent/server" in failed[0]["message"]

    run(main())


def test_a_startup_probe_holds_back_readiness_until_it_succeeds(tmp_path) -> None:
    async def main() -> None:
        flag = tmp_path / "started.flag"
        startup = {"exec": {"command": [sys.executable, "-c",
                                        f"import os, sys; sys.exit(0 if os.path.exists("
                                        f"{str(flag)!r}) else 1)"]},
                   "periodSeconds": 1, "failureThreshold": 100}
        async with kubelet(tmp_path) as h:
            h.create("gated", startupProbe=startup, readinessProbe=_http_probe("/healthz"))
            await _running(h, "gated")
            await until(lambda: h.events("gated", "Unhealthy"), what="startup probe failing")
            assert h.events("gated", "Unhealthy")[0]["message"].startswith("Startup probe failed")
            c = h.container("gated")
            assert c["started"] is False and c["ready"] is False
            assert "healthz" not in h.lines("gated")  # readiness not probed before startup
            flag.write_text("")
            await until(lambda: h.condition("gated", "Ready") == "True", what="Ready")
            assert h.container("gated")["started"] is True

    run(main())


def test_readiness_is_still_probed_while_the_pod_terminates(tmp_path) -> None:
    async def main() -> None:
        async with kubelet(tmp_path) as h:
            h.create("drain", grace=10, readinessProbe=_http_probe("/healthz"),
                     livenessProbe=_http_probe("/livez"),
                     lifecycle={"preStop": {"sleep": {"seconds": 3}}})
            await until(lambda: h.condition("drain", "Ready") == "True", what="Ready")
            h.delete("drain")
            await until(lambda: "sigterm" in h.lines("drain"), what="SIGTERM")
            words = h.lines("drain")
            during = words[:words.index("sigterm")]
            hook_at = h.events("drain", "PreStopHookStarted")[0]["eventTime"]
            assert hook_at
            # at least one readiness probe landed during the 3 s preStop sleep
            marks = (tmp_path / "drain.markers").read_text().splitlines()
            hook_s = _seconds(hook_at)
            assert any(m.endswith(" healthz") and float(m.split()[0]) > hook_s for m in marks)
            assert "healthz" in during

    run(main())


def _seconds(rfc: str) -> float:
    from probelab.engine.core.clock import parse_rfc3339

    return parse_rfc3339(rfc)
