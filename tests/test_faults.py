"""Faults with the real engine (`probelab cluster up`) and the real sample service (issue 8).

- A pod's process killed with SIGKILL under load: the only failed requests are those on
  connections that pod held, plus new connections the proxy sent to it before it left the
  endpoints (each one logged by the proxy); the container restarts once and the Deployment is
  fully ready again, with the restarted pod serving.
- preStop hooks that fail (exec `false`, httpGet to a closed port), hang past the grace period,
  and a process that ignores SIGTERM: Warning events, SIGKILL after SIGTERM (order read from the
  events' eventTime), and no process left (checked by PID).
- The engine killed with SIGKILL while 10 pods serve load: no process it started is left, and
  the next `cluster up` takes the same port and kubeconfig (the variant without load lives in
  test_cluster_cli.py).
"""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from collections import Counter

from probelab.engine.host import kubeconfig as kc
from probelab.load.outcome import Outcome
from support.load_thread import LoadThread
from support.processes import cmdline, gone, pid_alive, pod_pid
from support.real_engine import NAMESPACE, RealEngine
from support.sockets import established, free_port, listens, port_open
from support.waiting import wait_until

CONNECTION_FAILURES = {Outcome.RESET, Outcome.CLOSED, Outcome.REFUSED}


def test_sigkill_of_one_pod_under_load_fails_only_its_connections(tmp_path) -> None:
    """Steps: 3 withprobes pods behind the NodePort, load with 6 keep-alive connections ->
    count the connections the victim pod holds (its sockets in /proc) -> SIGKILL its process
    -> the container restarts (restartCount 1), the Deployment is 3/3 ready -> stop the load
    -> the victim's new process answers. Bound: a request in flight on a held connection may fail
    (at most one per connection; idle ones are retried by the client, not failed), and so may
    a new connection the proxy routed to the dead address before the endpoint left (the proxy
    logs each one). Nothing else may fail, and only at the connection level (no 5xx)."""
    with RealEngine(tmp_path, "--endpoint-delay", "0", "--log-level", "debug") as engine:
        node_port = engine.deploy_withprobes(replicas=3)
        ips = {p.metadata.name: p.status.pod_ip for p in engine.pods()}
        with LoadThread(f"http://127.0.0.1:{node_port}/", concurrency=6) as load:
            load.wait_for(lambda rs: sum(r.outcome is Outcome.OK for r in rs) >= 200,
                          what="some load")
            # the pod that served most holds connections (keep-alive sticks to a backend)
            name = Counter(r.pod for r in list(load.records)).most_common(1)[0][0]
            ip = ips[name]
            pid = pod_pid(engine.pid, ip)
            assert pid is not None
            held = established(pid, 8080)
            killed_wall = time.time()
            os.kill(pid, signal.SIGKILL)

            def restarted() -> bool:
                pod = engine.core.read_namespaced_pod(name, NAMESPACE)
                statuses = pod.status.container_statuses or []
                return bool(statuses) and statuses[0].restart_count == 1 and statuses[0].ready
            wait_until(restarted, timeout_s=60, interval_s=0.1, what="the restart")
            engine.wait_rolled_out(3)
            result = load.stop()
        # the restarted pod serves (asked directly: the load's kept connections stay where
        # they reconnected while it was out of the endpoints)
        with urllib.request.urlopen(f"http://{ip}:8080/", timeout=10) as answer:
            assert answer.status == 200 and answer.headers["X-Pod-Name"] == name
        new_pid = pod_pid(engine.pid, ip)
        log = engine.log()
    assert not pid_alive(pid) and new_pid not in (None, pid)
    # Split the failures at the kill (a request's end on the run's clock): before it the
    # Deployment was steady and nothing may fail; after it, the bound above applies.
    ended = [(result.started_at + r.start_s + r.latency_s, r) for r in result.records]
    failures = [r for end, r in ended if r.outcome is not Outcome.OK and end >= killed_wall]
    earlier = [r for end, r in ended if r.outcome is not Outcome.OK and end < killed_wall]
    assert earlier == [], Counter(r.error for r in earlier)
    routed_to_dead = log.count(f"backend {ip}:8080 failed")
    assert {r.outcome for r in failures} <= CONNECTION_FAILURES, Counter(
        r.error for r in failures)
    assert len(failures) <= held + routed_to_dead, (held, routed_to_dead, Counter(
        r.error for r in failures))
    assert result.interrupted  # the load ran until the test stopped it


# ---- preStop faults and a process that ignores SIGTERM ---------------------------------------

STUBBORN = "stubborn:1=sh -c 'trap \"\" TERM; sleep 911; true'"
HANG_S = 912  # the hanging hook's sleep, unique so its process can be found


def _pod(name: str, image: str, grace: int, lifecycle: dict | None = None) -> dict:
    container = {"name": "main", "image": image,
                 "env": [{"name": "PROBELAB_WEB_PRESTOP_DELAY", "value": "0"},
                         {"name": "PROBELAB_WEB_SHUTDOWN_TIMEOUT", "value": "1"}]}
    if lifecycle:
        container["lifecycle"] = {"preStop": lifecycle}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"fault": name}},
            "spec": {"terminationGracePeriodSeconds": grace, "containers": [container]}}


FAULTY = {
    "exec-false": _pod("exec-false", "probelab/simpleweb:1.0", 10,
                       {"exec": {"command": ["false"]}}),
    "http-closed": _pod("http-closed", "probelab/simpleweb:1.0", 10,
                        {"httpGet": {"path": "/prestop", "port": 9}}),
    "hang": _pod("hang", "probelab/simpleweb:1.0", 2,
                 {"exec": {"command": ["sleep", str(HANG_S)]}}),
    "stubborn": _pod("stubborn", "stubborn:1", 2),
}


def _reasons(engine: RealEngine, name: str) -> list[str]:
    wanted = {"Killing", "PreStopHookStarted", "FailedPreStopHook", "StopSignalSent", "Killed",
              "ContainerExited"}
    return [e.reason for e in engine.events("default", name) if e.reason in wanted]


def test_failing_hanging_hooks_and_a_stubborn_process(tmp_path) -> None:
    """Steps: four pods (failing exec hook, httpGet hook to a closed port, a hook that sleeps
    past a 2 s grace, a shell that ignores SIGTERM) -> note every process of the engine's
    pods -> delete all four at once -> pods gone; events say what happened, in eventTime
    order; SIGKILL came only where SIGTERM was not enough; no noted process is left."""
    with RealEngine(tmp_path, "--image", STUBBORN) as engine:
        for pod in FAULTY.values():
            engine.core.create_namespaced_pod("default", pod)

        def all_running() -> bool:
            pods = engine.pods("default")
            return len(pods) == 4 and all(p.status.phase == "Running" for p in pods)
        wait_until(all_running, timeout_s=60, interval_s=0.1, what="4 running pods")
        for pod in engine.pods("default"):
            if pod.metadata.name != "stubborn":  # simpleweb has its signal handlers once it listens
                wait_until(lambda ip=pod.status.pod_ip: listens(pod_pid(engine.pid, ip), 8080),
                           timeout_s=30, what=f"{pod.metadata.name} to listen")
        wait_until(lambda: any(cmdline(p).startswith("sleep 911") for p in engine.processes()),
                   what="the stubborn sleep")
        before = engine.processes()
        pods = [p for p in before  # the engine's own helpers stay while it runs
                if not any(helper in cmdline(p) for helper in
                           ("probelab.engine.host.watchdog", "probelab.engine.proxy.splicer"))]
        for name in FAULTY:
            engine.core.delete_namespaced_pod(name, "default")
        wait_until(lambda: any(cmdline(p).startswith(f"sleep {HANG_S}")
                               for p in engine.processes()), what="the hanging hook")
        hook = {p for p in engine.processes() if cmdline(p).startswith(f"sleep {HANG_S}")}
        wait_until(lambda: not engine.pods("default"), timeout_s=60, interval_s=0.1,
                   what="the pods to be removed")
        reasons = {name: _reasons(engine, name) for name in FAULTY}
        exits = {name: [e.message for e in engine.events("default", name)
                        if e.reason == "ContainerExited"] for name in FAULTY}
        failed = {name: [e for e in engine.events("default", name)
                         if e.reason == "FailedPreStopHook"] for name in FAULTY}
        wait_until(lambda: gone(set(pods) | hook), timeout_s=10, what="every pod process gone")
        assert engine.proc.poll() is None
    graceful = ["Killing", "PreStopHookStarted", "FailedPreStopHook", "StopSignalSent",
                "ContainerExited"]
    assert reasons["exec-false"] == graceful, reasons
    assert reasons["http-closed"] == graceful, reasons
    for name in ("exec-false", "http-closed"):
        [event] = failed[name]
        assert event.type == "Warning" and event.message
    # the hook was cut off by the grace period; SIGTERM then stopped simpleweb by itself
    assert reasons["hang"] == ["Killing", "PreStopHookStarted", "StopSignalSent",
                               "ContainerExited"], reasons
    assert reasons["stubborn"] == ["Killing", "StopSignalSent", "Killed", "ContainerExited"], \
        reasons
    # simpleweb stops by itself on SIGTERM; only the stubborn shell needed SIGKILL
    for name in ("exec-false", "http-closed", "hang"):
        assert exits[name] == ["Container main exited with code 0"], (name, exits[name])
    assert exits["stubborn"] == ["Container main exited with code 137 (signal SIGKILL)"]


# ---- the engine itself killed under load -----------------------------------------------------

def test_sigkill_of_the_engine_with_10_pods_under_load(tmp_path) -> None:
    """Steps: up on port P, 10 withprobes pods, load on the NodePort -> kill -9 the engine ->
    every process it started is gone by PID (the load keeps going, failing, in this process)
    -> up again on P with the same kubeconfig: it replaces the stale context and serves."""
    port = free_port()
    engine = RealEngine(tmp_path, port=port)
    with engine:
        node_port = engine.deploy_withprobes(replicas=10)
        with LoadThread(f"http://127.0.0.1:{node_port}/", concurrency=4) as load:
            load.wait_for(lambda rs: sum(r.outcome is Outcome.OK for r in rs) >= 50,
                          what="load served by the pods")
            procs = engine.processes()
            assert sum("--host" in cmdline(p) for p in procs) == 10
            stale = kc.load(engine.kubeconfig)
            engine.sigkill()
            wait_until(lambda: gone(procs), timeout_s=20, what="the engine's processes to go")
            wait_until(lambda: not port_open("127.0.0.1", node_port), what="the NodePort")
            load.stop()
        again = RealEngine(tmp_path, port=port)
        with again:
            wait_until(lambda: kc.load(again.kubeconfig) != stale, what="the new context")
            assert kc.server_of(kc.load(again.kubeconfig)).endswith(f":{port}")
            assert "default" in {n.metadata.name for n in again.core.list_namespace().items}
        assert "replaced stale context" in again.log()
