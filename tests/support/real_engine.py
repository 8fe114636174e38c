"""A real `probelab cluster up` process, driven only over its sockets: the official client,
kubectl, and the demo's sample service deployed into it.

`RealEngine` runs the engine in its own session with a private kubeconfig and
`PROBELAB_STATE_DIR`, its output in one file (`log()`), and stops it by PID. Every process the
engine started (noted from /proc while it runs) must be gone once it has stopped, checked by
pid and kernel start time so that a recycled pid never counts: a leaked pod process fails the
test that leaked it, not a later one that happens to share its address.
"""

from __future__ import annotations

import base64
import copy
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config

from probelab.engine.host import kubeconfig as kc
from support.paths import KUBECTL, MANIFESTS
from support.processes import (
    descendants,
    other_engines,
    probelab_cmd,
    process_tree,
    still_alive,
    stop_process,
)
from support.waiting import wait_until

NAMESPACES = {"withprobes": "probes", "noprobes": "noprobes"}
NAMESPACE = "probes"  # of the withprobes manifests
APP = "simpleprobe"  # the Deployment and Service of both variants


class RealEngine:
    """`probelab cluster up` as a child process, with its own kubeconfig and state folder.

    A context manager; `start()`/`stop()` and `sigkill()` are for tests that restart it.
    """

    def __init__(self, tmp: Path, *flags: str, port: int = 0) -> None:
        self.tmp = tmp
        self.kubeconfig = tmp / "kubeconfig"
        self.log_path = tmp / "engine.log"
        self.env = dict(os.environ)
        self.env["PROBELAB_STATE_DIR"] = str(tmp / "state")
        self.env["KUBECONFIG"] = str(self.kubeconfig)
        self.env.pop("XDG_RUNTIME_DIR", None)
        if "--dataplane" not in flags:  # the tests that rely on userspace semantics (reset
            # for a stopped pod, the proxy in the engine) say so; kernel-mode tests ask for it
            flags = ("--dataplane", "userspace", *flags)
        self.argv = probelab_cmd("cluster", "up", "--port", str(port), "--kubeconfig",
                                 str(self.kubeconfig), *flags)
        self.proc: subprocess.Popen[str] | None = None
        self.seen: dict[int, int] = {}  # every process it started, pid → start time
        self._log_from = 0
        self._api: client.ApiClient | None = None

    def __enter__(self) -> RealEngine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- life ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start it and return once it says it is ready (its context is then in the
        kubeconfig). A restarted engine in the same folder appends to the same log, so `log()`
        starts where this run's output does."""
        self._log_from = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("a") as log:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         text=True, start_new_session=True)
        try:
            wait_until(lambda: "probelab engine ready" in self.log()
                       or self.proc.poll() is not None, timeout_s=60, what="the engine")
            assert self.proc.poll() is None, self.log()
            self.note_processes()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM, then SIGKILL of its group, unless it has ended already; then wait until
        every process it ever started is gone."""
        self._close_api()
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.note_processes()
        stop_process(self.proc, timeout_s=60)
        wait_until(lambda: not still_alive(self.seen), timeout_s=15,
                   what=f"every process of the engine to end: {still_alive(self.seen)}")

    def sigkill(self) -> None:
        """kill -9 the engine alone (its pods are left to its watchdog)."""
        assert self.proc is not None
        self.note_processes()
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._close_api()

    def _close_api(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        """This run's stdout and stderr."""
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as f:
            f.seek(self._log_from)
            return f.read().decode(errors="replace")

    def processes(self) -> set[int]:
        return descendants(self.pid)

    def note_processes(self) -> dict[int, int]:
        """Remember the engine's process tree now (called before anything stops it)."""
        now = process_tree(self.pid)
        self.seen.update(now)
        return now

    def others(self) -> str:
        """For failure messages: other engines running meanwhile share our pod IPs."""
        found = other_engines(self.pid)
        return f"; other engines running on this host: {found}" if found else ""

    # ---- clients -------------------------------------------------------------------------
    @property
    def api(self) -> client.ApiClient:
        if self._api is None:
            self._api = config.new_client_from_config(config_file=str(self.kubeconfig),
                                                      context="probelab")
        return self._api

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)

    def kubectl(self, *args: str, timeout: float = 120,
                check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(KUBECTL), "--context", "probelab", *args],
                                capture_output=True, text=True, timeout=timeout, env=self.env)
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result

    def url(self) -> str:
        return kc.server_of(kc.load(self.kubeconfig))

    def token(self) -> str:
        doc = kc.load(self.kubeconfig)
        [user] = [u for u in doc["users"] if u["name"] == "probelab"]
        return user["user"]["token"]

    def ca_pem(self) -> bytes:
        doc = kc.load(self.kubeconfig)
        [cluster] = [c for c in doc["clusters"] if c["name"] == "probelab"]
        return base64.b64decode(cluster["cluster"]["certificate-authority-data"])

    # ---- the sample service --------------------------------------------------------------
    def deploy_withprobes(self, replicas: int, prestop_delay_s: int = 1) -> int:
        """The demo's withprobes manifests with `replicas` pods; returns the NodePort."""
        docs = [yaml.safe_load(p.read_text())
                for p in sorted((MANIFESTS / "withprobes").glob("*.yaml"))]
        namespace, deployment, service = docs
        deployment["spec"]["replicas"] = replicas
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        for var in container["env"]:
            if var["name"] == "PROBELAB_WEB_PRESTOP_DELAY":
                var["value"] = str(prestop_delay_s)
        self.core.create_namespace(namespace)
        self.apps.create_namespaced_deployment(NAMESPACE, deployment)
        created = self.core.create_namespaced_service(NAMESPACE, service)
        self.wait_rolled_out(replicas)
        return created.spec.ports[0].node_port

    def wait_rolled_out(self, replicas: int, timeout_s: float = 90) -> None:
        """The withprobes Deployment's own status: `replicas` pods, all updated and ready."""
        def ready() -> bool:
            s = self.apps.read_namespaced_deployment(APP, NAMESPACE).status
            return (s.ready_replicas or 0) == replicas and (s.replicas or 0) == replicas \
                and (s.updated_replicas or 0) == replicas
        wait_until(ready, timeout_s=timeout_s, interval_s=0.1, what=f"{replicas} ready pods")

    def node_url(self, namespace: str, name: str = APP) -> str:
        svc = self.core.read_namespaced_service(name, namespace)
        return f"http://127.0.0.1:{svc.spec.ports[0].node_port}/"

    def pods(self, namespace: str = NAMESPACE) -> list[Any]:
        return self.core.list_namespaced_pod(namespace).items

    def ready_pods(self, namespace: str, image: str | None = None) -> list[Any]:
        out = []
        for pod in self.pods(namespace):
            conds = {c.type: c.status for c in pod.status.conditions or []}
            if pod.metadata.deletion_timestamp is None and conds.get("Ready") == "True" and (
                    image is None or pod.spec.containers[0].image == image):
                out.append(pod)
        return out

    def wait_ready(self, namespace: str, count: int, image: str | None = None,
                   timeout_s: float = 60) -> None:
        """`count` Ready pods and no other, and the Service proxy routing to all of them: it
        learns of endpoints `--endpoint-delay` late (like kube-proxy), and a load started
        before then meets a proxy with nowhere to send it."""
        wait_until(lambda: len(self.ready_pods(namespace, image)) == count
                   and len(self.pods(namespace)) == count,
                   timeout_s=timeout_s, interval_s=0.1,
                   what=f"{count} ready pods (and no other) in {namespace}{self.others()}")
        wait_until(lambda: self.proxy_routes_to(namespace, count), timeout_s=15,
                   interval_s=0.1, what=f"the proxy to route to {count} endpoints")

    def proxy_routes_to(self, namespace: str, count: int, name: str = APP) -> bool:
        """The proxy's own record (an EndpointsApplied event) of routing to `count` ready ones."""
        wanted = f"proxy now routes to {count} ready endpoints (0 terminating"
        return any(ev.reason == "EndpointsApplied" and ev.message.startswith(wanted)
                   for ev in self.core.list_namespaced_event(
                       namespace, field_selector=f"involvedObject.name={name}").items)

    def events(self, namespace: str, name: str) -> list[Any]:
        """Events of object `name`, ordered by eventTime (microseconds)."""
        items = self.core.list_namespaced_event(
            namespace, field_selector=f"involvedObject.name={name}").items
        return sorted(items, key=lambda e: e.event_time)


def e2e_engine(tmp: Path, *flags: str, endpoint_delay_s: float = 0.5) -> RealEngine:
    """The engine of the end-to-end proofs: quiet, and with the Service proxy learning of
    endpoints `endpoint_delay_s` late, as kube-proxy does."""
    return RealEngine(tmp, "--endpoint-delay", str(endpoint_delay_s), "--log-level", "warning",
                      *flags)


def quick_manifests(tmp_path: Path, variant: str, prestop_delay_s: int = 2,
                    initial_delay_s: int = 1) -> Path:
    """A copy of deploy/kubernetes/VARIANT with shorter waits, same shape otherwise."""
    out = tmp_path / "manifests" / variant
    out.mkdir(parents=True)
    for source in sorted((MANIFESTS / variant).glob("*.yaml")):
        doc = copy.deepcopy(yaml.safe_load(source.read_text()))
        if doc["kind"] == "Deployment":
            container = doc["spec"]["template"]["spec"]["containers"][0]
            for item in container.get("env") or []:
                if item["name"] == "PROBELAB_WEB_PRESTOP_DELAY":
                    item["value"] = str(prestop_delay_s)
            if "readinessProbe" in container:
                container["readinessProbe"]["initialDelaySeconds"] = initial_delay_s
        (out / source.name).write_text(yaml.safe_dump(doc, sort_keys=False))
    return out
