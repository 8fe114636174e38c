"""The proof of issue 5, end to end: a real `probelab cluster up`, the real sample service, real
load over the Service's NodePort, actions through the official client.

Each test's docstring lists its steps. The manifests are copies of deploy/kubernetes with shorter
waits (preStop delay 2 s, readiness initial delay 1 s, endpoint delay 0.5 s), the same shape
otherwise; the slow test runs the shipped manifests unchanged.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from probelab.engine.network import choice
from support import kubelet_harness
from support.load_thread import proof_load
from support.paths import MANIFESTS
from support.processes import pod_name_of, still_alive
from support.real_engine import NAMESPACES, RealEngine, e2e_engine, quick_manifests
from support.sockets import port_open
from support.waiting import wait_until

# The kernel data plane (pods in network namespaces behind nftables) runs where this process may
# make network namespaces and load nftables rules (root with nftables), and skips elsewhere.
_KERNEL = choice.decide(choice.KERNEL, choice.facts())
PLANES = [
    pytest.param("userspace", id="userspace"),
    pytest.param("kernel", id="kernel", marks=pytest.mark.skipif(
        bool(_KERNEL.error), reason=f"kernel data plane not available here: {_KERNEL.reason}")),
]
# How a request to a vanished backend fails, per data plane. Kernel: after the pod's process
# exits its namespace answers SYNs with RST (refused); once the kubelet has removed the pod's
# network (right after its containers, as upstream's StopPodSandbox does) a SYN still DNATed
# there finds no neighbour on the bridge: EHOSTUNREACH once ARP gives up (unreachable), or the
# client's connect timeout first when a stale neighbour entry delays that (timeout).
VANISHED = {"userspace": {"refused", "reset", "closed"},
            "kernel": {"refused", "reset", "closed", "unreachable", "timeout"}}

RATE = 200  # requests/s, open model: the rate does not drop when pods fail
IMAGE_1, IMAGE_2 = "probelab/simpleweb:1.0", "probelab/simpleweb:2.0"


def create(eng: RealEngine, folder: Path) -> None:
    eng.kubectl("create", "-f", str(folder))


def scale(eng: RealEngine, namespace: str, replicas: int) -> None:
    eng.apps.patch_namespaced_deployment_scale("simpleprobe", namespace,
                                               {"spec": {"replicas": replicas}})


def set_image(eng: RealEngine, namespace: str, image: str) -> None:
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "simpleweb", "image": image}]}}}}
    eng.apps.patch_namespaced_deployment("simpleprobe", namespace, patch)


def rollout_complete(eng: RealEngine, namespace: str, replicas: int) -> bool:
    """What `kubectl rollout status` waits for: the new generation observed and every replica
    updated, available, and no old one left."""
    d = eng.apps.read_namespaced_deployment("simpleprobe", namespace)
    s = d.status
    return bool(s.observed_generation == d.metadata.generation
                and s.updated_replicas == replicas and s.replicas == replicas
                and s.available_replicas == replicas)


def stop_events(eng: RealEngine, namespace: str) -> dict[str, dict[str, object]]:
    """Pod name → {reason: earliest eventTime} for the kubelet's termination steps."""
    out: dict[str, dict[str, object]] = {}
    for ev in eng.core.list_namespaced_event(namespace).items:
        if ev.reason in ("PreStopHookStarted", "StopSignalSent", "Killing"):
            at = ev.event_time
            steps = out.setdefault(ev.involved_object.name, {})
            if ev.reason not in steps or at < steps[ev.reason]:
                steps[ev.reason] = at
    return out


def pod_names(eng: RealEngine, namespace: str) -> set[str]:
    return {p.metadata.name for p in eng.pods(namespace)}


def prove_withprobes(tmp_path: Path, folder: Path, keepalive: bool,
                     endpoint_delay_s: float, dataplane: str = "userspace") -> None:
    """Engine -> create the withprobes manifests -> 10 ready -> load at 200 rps -> scale
    10→3 -> the 7 removed pods are gone, each saw PreStopHookStarted before StopSignalSent ->
    zero failed requests -> new load -> set image 2.0 -> rollout complete, the old pods gone
    -> requests after that answer 2.0 only -> zero failed requests."""
    ns = NAMESPACES["withprobes"]
    with e2e_engine(tmp_path, "--dataplane", dataplane,
                    endpoint_delay_s=endpoint_delay_s) as eng:
        create(eng, folder)
        eng.wait_ready(ns, 10)
        url = eng.node_url(ns)

        before = pod_names(eng, ns)
        with proof_load(url, RATE, keepalive=keepalive) as load:
            scale(eng, ns, 3)
            wait_until(lambda: rollout_complete(eng, ns, 3) and len(eng.pods(ns)) == 3,
                       timeout_s=60, interval_s=0.1, what="scale to 3")
            mark = len(load.records)
            wait_until(lambda: load.ok_count(mark) >= 50, what="answers after the scale-down")
        result = load.stop()
        print(f"withprobes keepalive={keepalive} scale 10->3:", load.describe(),
              f"{result.elapsed_s:.1f} s")
        assert load.failures() == {}, load.describe() + eng.others()
        removed = before - pod_names(eng, ns)
        assert len(removed) == 7
        steps = stop_events(eng, ns)
        for name in removed:
            assert "PreStopHookStarted" in steps.get(name, {}), (name, steps.get(name))
            assert steps[name]["PreStopHookStarted"] < steps[name]["StopSignalSent"], steps[name]
        assert {p.pod for p in load.records[mark:]} <= pod_names(eng, ns)

        old = pod_names(eng, ns)
        with proof_load(url, RATE, keepalive=keepalive) as load:
            set_image(eng, ns, IMAGE_2)
            wait_until(lambda: rollout_complete(eng, ns, 3), timeout_s=90, interval_s=0.1,
                       what="the rollout to 2.0")
            wait_until(lambda: not (old & pod_names(eng, ns)), timeout_s=30, interval_s=0.1,
                       what="the 1.0 pods to be gone")
            mark = len(load.records)
            wait_until(lambda: load.ok_count(mark) >= 50, what="answers after the rollout")
        result = load.stop()
        print(f"withprobes keepalive={keepalive} image 1.0->2.0:", load.describe(),
              f"{result.elapsed_s:.1f} s")
        assert load.failures() == {}, load.describe() + eng.others()
        assert load.versions()["1.0"] > 0 and load.versions()["2.0"] > 0, load.versions()
        assert set(load.versions(mark)) == {"2.0"}, load.versions(mark)
        steps = stop_events(eng, ns)
        for name in old:
            assert steps[name]["PreStopHookStarted"] < steps[name]["StopSignalSent"], steps[name]
        assert {p.spec.containers[0].image for p in eng.pods(ns)} == {IMAGE_2}




@pytest.mark.parametrize("keepalive", [True, False], ids=["keepalive", "new-connections"])
def test_withprobes_scale_down_and_update_under_load_lose_nothing(tmp_path, keepalive) -> None:
    """Steps: see prove_withprobes; preStop delay 2 s, endpoint delay 0.5 s."""
    prove_withprobes(tmp_path, quick_manifests(tmp_path, "withprobes"), keepalive, 0.5)


def test_withprobes_kernel_plane_loses_nothing(tmp_path) -> None:
    """Steps: see prove_withprobes, on the kernel data plane (nftables DNAT to pods in their
    own network namespaces), keep-alive connections."""
    if _KERNEL.error:
        pytest.skip(f"kernel data plane not available here: {_KERNEL.reason}")
    prove_withprobes(tmp_path, quick_manifests(tmp_path, "withprobes"), True, 0.5, "kernel")


@pytest.mark.slow
def test_withprobes_real_manifests_unchanged(tmp_path) -> None:
    """Steps: see prove_withprobes, with deploy/kubernetes/withprobes as shipped (preStop delay
    5 s, readiness initial delay 2 s) and the engine's default endpoint delay of 1 s."""
    prove_withprobes(tmp_path, MANIFESTS / "withprobes", True, 1.0)


@pytest.mark.parametrize("dataplane", PLANES)
def test_noprobes_same_actions_fail_requests(tmp_path, dataplane) -> None:
    """Steps: engine -> create the noprobes manifests -> 10 ready -> load at 200 rps -> scale
    10→3 -> rollout complete -> set image 2.0 -> rollout complete, old pods gone -> stop the
    load -> requests failed in both actions, and only the ways a vanished backend fails
    (VANISHED: refused, reset, closed; on the kernel plane also unreachable and timeout, once
    the pod's network is gone while the proxy still routes to it): the demo's point.

    A new connection per request: at 200 rps an open-model client keeps only a few pooled
    connections, and whether one of them lands on a removed pod is luck; a fresh connection
    per request makes every request take the proxy's pick, as a browser's many connections
    do. The withprobes test runs the same load and loses nothing."""
    ns = NAMESPACES["noprobes"]
    with e2e_engine(tmp_path, "--dataplane", dataplane) as eng:
        create(eng, quick_manifests(tmp_path, "noprobes"))
        eng.wait_ready(ns, 10)
        wait_until(lambda: all(port_open(p.status.pod_ip, 8080) for p in eng.pods(ns)),
                   what="every pod to listen (noprobes pods are Ready before that)")
        with proof_load(eng.node_url(ns), RATE, keepalive=False) as load:
            before_scale = len(load.records)
            scale(eng, ns, 3)
            wait_until(lambda: rollout_complete(eng, ns, 3) and len(eng.pods(ns)) == 3,
                       timeout_s=60, interval_s=0.1, what="scale to 3")
            # The scale-down's failures last until the proxy has learned of the removals.
            wait_until(lambda: eng.proxy_routes_to(ns, 3), interval_s=0.1,
                       what="the proxy to route to the 3 pods left")
            after_scale = len(load.records)
            old = pod_names(eng, ns)
            set_image(eng, ns, IMAGE_2)
            wait_until(lambda: rollout_complete(eng, ns, 3)
                       and not (old & pod_names(eng, ns)), timeout_s=60, interval_s=0.1,
                       what="the rollout to 2.0")
            mark, mark_at = len(load.records), time.time()
            wait_until(lambda: load.ok_count(mark) >= 50, what="answers after the rollout")
        load.stop()
    assert load.failures(0) == load.failures(before_scale), "failures before any action"
    scale_fail, update_fail = load.failures(before_scale), load.failures(after_scale)
    scale_fail.subtract(update_fail)
    print(f"noprobes ({dataplane}) scale 10->3:", +scale_fail, "image 1.0->2.0:", update_fail,
          "all:", load.describe())
    failures = load.failures()
    assert sum(scale_fail.values()) > 0 and sum(update_fail.values()) > 0, load.describe()
    assert set(failures) <= VANISHED[dataplane], load.describe()
    late = [(r.pod, round(r.start_s, 3), round(r.latency_s, 3)) for r in load.records[mark:]
            if r.version == "1.0"]
    assert not late, (late, mark_at - load.result.started_at, old)


# ---- restarts ---------------------------------------------------------------------------------

def bare_pod(name: str, env: dict[str, str], **container: object) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": 2, "containers": [{
                "name": "app", "image": "e2e/app:1",
                "env": [{"name": k, "value": v} for k, v in env.items()], **container}]}}


def test_failing_liveness_restarts_and_exiting_command_backs_off(tmp_path) -> None:
    """Steps: engine with `--image e2e/app:1=python app.py` (a tiny server that records each
    start) -> pod A answers /livez 503 under a liveness probe, pod B's command exits 3 ->
    A: a liveness Unhealthy event, restartCount ≥ 1, a second start by a new process;
    B: waiting in CrashLoopBackOff with restartCount ≥ 1, last exit code 3, a BackOff event."""
    app = tmp_path / "app.py"
    app.write_text(kubelet_harness.APP)
    image = f"e2e/app:1={sys.executable} {app}"
    with e2e_engine(tmp_path, "--image", image) as eng:
        live_marks, crash_marks = tmp_path / "live.marks", tmp_path / "crash.marks"
        probe = {"httpGet": {"path": "/livez", "port": 8080}, "initialDelaySeconds": 1,
                 "periodSeconds": 1, "failureThreshold": 1}
        eng.core.create_namespaced_pod("default", bare_pod(
            "live", {"MARKERS": str(live_marks), "LIVE": "fail"}, livenessProbe=probe))
        eng.core.create_namespaced_pod("default", bare_pod(
            "crash", {"MARKERS": str(crash_marks), "EXIT_CODE": "3"}))

        def status(name: str):
            pod = eng.core.read_namespaced_pod(name, "default")
            return (pod.status.container_statuses or [None])[0]

        live = wait_until(lambda: (s := status("live")) and s.restart_count >= 1 and s,
                          timeout_s=30, interval_s=0.1, what="the liveness restart")
        assert live.last_state.terminated is not None

        def starts() -> list[str]:
            return [ln.split()[-1] for ln in live_marks.read_text().splitlines()
                    if " start " in ln]
        wait_until(lambda: len(starts()) >= 2, what="the restarted process")
        assert len(set(starts())) == len(starts())  # a new process each time
        reasons = [(e.reason, e.message) for e in eng.core.list_namespaced_event(
            "default", field_selector="involvedObject.name=live").items]
        assert any(r == "Unhealthy" and "Liveness probe failed" in m for r, m in reasons), reasons
        assert any(r == "Killing" for r, _ in reasons), reasons

        crash = wait_until(
            lambda: (s := status("crash")) and s.state.waiting is not None
            and s.state.waiting.reason == "CrashLoopBackOff" and s,
            timeout_s=30, interval_s=0.1, what="CrashLoopBackOff")
        assert crash.restart_count >= 1
        assert crash.last_state.terminated.exit_code == 3
        reasons = [e.reason for e in eng.core.list_namespaced_event(
            "default", field_selector="involvedObject.name=crash").items]
        assert "BackOff" in reasons, reasons
        print(f"liveness restarts: {live.restart_count}; crash restarts: {crash.restart_count}, "
              f"waiting: {crash.state.waiting.message}")


# ---- the engine's end leaves nothing ------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_engine_end_leaves_no_process(tmp_path, sig) -> None:
    """Steps: engine -> 10 withprobes pods ready -> note every process below the engine, at
    least one per pod (POD_NAME in its environment) -> SIGINT (Ctrl-C) or SIGKILL to the
    engine -> Ctrl-C: exit 0 after stopping pods gracefully; kill -9: the watchdog's work ->
    none of those pids runs any more (checked with their start times)."""
    ns = NAMESPACES["withprobes"]
    with e2e_engine(tmp_path) as eng:
        create(eng, quick_manifests(tmp_path, "withprobes"))
        eng.wait_ready(ns, 10)
        procs = eng.note_processes()
        pods = {pod_name_of(pid) for pid in procs} - {None}
        assert pods == pod_names(eng, ns), pods
        os.kill(eng.proc.pid, sig)
        code = eng.proc.wait(60)
        assert code == (0 if sig == signal.SIGINT else -signal.SIGKILL)
        wait_until(lambda: not still_alive(procs), timeout_s=15,
                   what=f"every process to end: {still_alive(procs)}")
    print(f"{sig.name}: {len(procs)} processes below the engine ({len(pods)} pods), none left")
