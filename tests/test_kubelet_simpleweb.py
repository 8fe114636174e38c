"""The kubelet running the real sample service from the built-in image table entry.

Steps: a pod of `probelab/simpleweb:1.0` with the withprobes readiness probe and preStop hook
(shorter delay) becomes Ready once /healthz answers; its public port answers on the pod IP with
the version and pod name; deleting it runs GET /prestop, which turns readiness to 503 — seen by
the readiness probe that keeps running during termination — and only then SIGTERM; the app
drains and exits 0 by itself and the pod object is removed.
"""

from __future__ import annotations

import asyncio

from probelab.engine.core import podlogs
from support.kubelet_harness import NS, kubelet
from support.loops import run
from support.processes import pid_alive
from support.waiting import until


async def _get(host: str, port: int, path: str = "/") -> dict[str, str]:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    raw = await reader.read()
    writer.close()
    await writer.wait_closed()
    head = raw.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
    headers = {"status": head[0].split(" ")[1]}
    headers.update({k.lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])})
    return headers


def test_simpleweb_runs_drains_on_prestop_and_exits_cleanly(tmp_path) -> None:
    async def main() -> None:
        async with kubelet(tmp_path) as h:
            pod = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": "sw-1", "namespace": NS},
                   "spec": {"terminationGracePeriodSeconds": 10, "containers": [{
                       "name": "simpleweb", "image": "probelab/simpleweb:1.0",
                       "ports": [{"name": "http", "containerPort": 8080},
                                 {"name": "admin", "containerPort": 8081}],
                       "env": [{"name": "PROBELAB_WEB_PRESTOP_DELAY", "value": "1.5"}],
                       "readinessProbe": {"httpGet": {"path": "/healthz", "port": "admin"},
                                          "periodSeconds": 1, "failureThreshold": 1},
                       "lifecycle": {"preStop": {"httpGet": {"path": "/prestop",
                                                             "port": "admin"}}},
                   }]}}
            h.store.create("pods", pod)
            await until(lambda: h.condition("sw-1", "Ready") == "True", timeout_s=30,
                        what="simpleweb Ready")
            ip = h.status("sw-1")["podIP"]
            headers = await _get(ip, 8080)
            assert headers["status"] == "200"
            assert headers["x-app-version"] == "1.0" and headers["x-pod-name"] == "sw-1"
            pid = h.kubelet.pids(NS, "sw-1")["simpleweb"]
            log_path = podlogs.log_path(tmp_path / "state", h.pod("sw-1")["metadata"]["uid"],
                                        "simpleweb")
            log_file = log_path.open()  # still readable once the pod's logs are removed
            h.delete("sw-1")
            # readiness is probed during the preStop hold and sees the 503 of draining
            await until(lambda: h.condition("sw-1", "Ready") == "False", what="unready")
            await until(lambda: h.pod("sw-1") is None, timeout_s=20, what="pod removed")
            assert not pid_alive(pid)
            order = [e["reason"] for e in h.events("sw-1") if e["reason"] in (
                "Killing", "PreStopHookStarted", "Unhealthy", "StopSignalSent",
                "ContainerExited", "Killed", "FailedPreStopHook")]
            order = order[order.index("Killing"):]  # startup's Unhealthy events dropped
            assert order[:2] == ["Killing", "PreStopHookStarted"]
            assert "Unhealthy" in order[2:order.index("StopSignalSent")]
            assert order[-1] == "ContainerExited" and "Killed" not in order
            exited = h.events("sw-1", "ContainerExited")[0]["message"]
            assert exited.endswith("exited with code 0")
            with log_file:
                assert log_file.read()  # the app's own shutdown phases went to the pod's log
            assert not log_path.parent.exists()  # removed with the pod, as the kubelet does

    run(main())
