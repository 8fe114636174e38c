"""End-to-end fixtures: a real `probelab cluster up`, real load over its NodePort, real kubectl.

Everything here talks to processes over sockets, never to the engine's objects. The engine runs
with a private kubeconfig and `PROBELAB_STATE_DIR`; every process it started (found by walking
/proc from its pid while it runs) must be gone once it has stopped, checked by pid and kernel
start time so that a recycled pid never counts.
"""

from __future__ import annotations

import asyncio
import copy
import os
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config

from helpers import REPO, probelab_cmd, started, stop_process, wait_until
from probelab.load.config import LoadConfig
from probelab.load.outcome import Outcome
from probelab.load.records import Record
from probelab.load.runner import LoadResult, run_load

KUBECTL = REPO / ".venv" / "bin" / "kubectl"
MANIFESTS = REPO / "deploy" / "kubernetes"
NAMESPACES = {"withprobes": "probes", "noprobes": "noprobes"}
APP = "simpleprobe"


# ---- processes ----------------------------------------------------------------------------------

def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, start time) of a live, non-zombie pid, else None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(") ", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    if fields[0] == "Z":
        return None
    return int(fields[1]), int(fields[19])


def descendants(root: int) -> dict[int, int]:
    """Every live process below `root`: pid → kernel start time."""
    parents: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (info := _stat(int(entry))) is not None:
            parents[int(entry)] = info
    found: dict[int, int] = {}
    frontier = {root}
    while frontier:
        nxt = {pid for pid, (ppid, _) in parents.items() if ppid in frontier and pid not in found}
        found.update({pid: parents[pid][1] for pid in nxt})
        frontier = nxt
    return found


def still_alive(procs: dict[int, int]) -> list[int]:
    """The pids of `procs` that still run the same process (same start time)."""
    return [pid for pid, start in procs.items() if (info := _stat(pid)) and info[1] == start]


def pod_name_of(pid: int) -> str | None:
    """POD_NAME from a process's environment: how a pod process is told from the engine's own."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read().split(b"\0")
    except (FileNotFoundError, PermissionError, ProcessLookupError):
        return None
    for item in env:
        if item.startswith(b"POD_NAME="):
            return item[len(b"POD_NAME="):].decode()
    return None


def processes_with_env(name: str, value: str) -> list[int]:
    """Live pids whose environment has NAME=VALUE (e.g. a test's own PROBELAB_STATE_DIR)."""
    wanted, found = f"{name}={value}".encode(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or _stat(int(entry)) is None:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if wanted in f.read().split(b"\0"):
                    found.append(int(entry))
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
    return found


def other_engines(own: int) -> list[str]:
    """`probelab cluster up` processes on this host other than `own`. Engines share the pod
    range 127.244.0.0/16 and each starts at .0.1, so a concurrent engine's pods take the same
    addresses (see the failure messages of the zero-failure assertions)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != own:
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except (FileNotFoundError, PermissionError, ProcessLookupError):
                continue
            if b"probelab" in argv and b"cluster" in argv and b"up" in argv:
                found.append(f"pid {entry}")
    return found


# ---- the engine ---------------------------------------------------------------------------------

@dataclass
class Engine:
    proc: subprocess.Popen
    kubeconfig: Path
    env: dict[str, str]
    seen: dict[int, int] = field(default_factory=dict)  # every process it started, pid → start

    @property
    def api(self) -> client.ApiClient:
        return config.new_client_from_config(config_file=str(self.kubeconfig), context="probelab")

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)

    def others(self) -> str:
        """For failure messages: other engines running meanwhile share our pod IPs."""
        found = other_engines(self.proc.pid)
        return f"; other engines running on this host: {found}" if found else ""

    def note_processes(self) -> dict[int, int]:
        """Remember the engine's process tree now (called before anything stops it)."""
        now = descendants(self.proc.pid)
        self.seen.update(now)
        return now

    def kubectl(self, *args: str, timeout: float = 120,
                check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(KUBECTL), "--context", "probelab", *args],
                                capture_output=True, text=True, timeout=timeout, env=self.env)
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result

    def node_url(self, namespace: str, name: str = APP) -> str:
        svc = self.core.read_namespaced_service(name, namespace)
        return f"http://127.0.0.1:{svc.spec.ports[0].node_port}/"

    def pods(self, namespace: str) -> list[Any]:
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


@contextmanager
def engine(tmp_path: Path, *extra: str, endpoint_delay_s: float = 0.5) -> Iterator[Engine]:
    """`probelab cluster up` on a free port with a private kubeconfig and state folder.

    On exit the engine is stopped (SIGTERM, then SIGKILL of its group) unless the test already
    stopped it, and every process it ever started must be gone.
    """
    kubeconfig = tmp_path / "kubeconfig"
    env = dict(os.environ)
    env["PROBELAB_STATE_DIR"] = str(tmp_path / "state")
    env["KUBECONFIG"] = str(kubeconfig)
    env.pop("XDG_RUNTIME_DIR", None)
    argv = probelab_cmd("cluster", "up", "--port", "0", "--kubeconfig", str(kubeconfig),
                        "--endpoint-delay", str(endpoint_delay_s), "--log-level", "warning",
                        *extra)
    log = (tmp_path / "engine.log").open("w")
    try:
        with started(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                     stdin=subprocess.DEVNULL) as proc:
            eng = Engine(proc, kubeconfig, env)
            try:
                wait_until(lambda: "probelab engine ready" in engine_log(tmp_path)
                           or proc.poll() is not None, timeout_s=30, what="the engine")
                assert proc.poll() is None, engine_log(tmp_path)
                eng.note_processes()
                yield eng
            finally:
                if proc.poll() is None:
                    eng.note_processes()
                stop_process(proc, timeout_s=60)
                wait_until(lambda: not still_alive(eng.seen), timeout_s=15,
                           what="every process of the engine to end")
    finally:
        log.close()


def engine_log(tmp_path: Path) -> str:
    return (tmp_path / "engine.log").read_text(errors="replace")


# ---- manifests ----------------------------------------------------------------------------------

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


# ---- load ---------------------------------------------------------------------------------------

class BackgroundLoad:
    """`probelab load`'s own runner at a fixed rate over real sockets, in a thread with its own
    event loop, so the test sees every finished request while it acts (e.g. "the new version
    answers") and stops it the way the demo does, by its stop event. Bounded by `max_s`."""

    def __init__(self, url: str, rate_rps: float = 200, max_s: float = 150,
                 keepalive: bool = True) -> None:
        self.config = LoadConfig(url=url, requests=None, duration_s=max_s, rate_rps=rate_rps,
                                 concurrency=50, timeout_s=5, disable_keepalive=not keepalive)
        self.records: list[Record] = []  # appended on the load's thread, read here
        self.result: LoadResult | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="e2e-load", daemon=True)

    def _main(self) -> None:
        async def go() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            self.result = await run_load(self.config, on_result=self.records.append,
                                         stop_event=self._stop)
        try:
            asyncio.run(go())
        except BaseException as exc:  # reported by stop()
            self._error = exc

    def __enter__(self) -> BackgroundLoad:
        self._thread.start()
        wait_until(lambda: self.ok_count() >= 50 or not self._thread.is_alive(), timeout_s=15,
                   what="the load's first answers")
        assert self._thread.is_alive(), f"the load ended early: {self._error!r}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> LoadResult:
        if self._thread.is_alive():
            assert self._loop is not None and self._stop is not None
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(30)
        assert self._error is None, repr(self._error)
        assert self.result is not None
        assert self.result.interrupted, "the load reached its bound before the actions ended"
        return self.result

    def ok_count(self, since: int = 0) -> int:
        return sum(1 for r in self.records[since:] if r.outcome is Outcome.OK)

    def failures(self, since: int = 0) -> Counter[str]:
        return Counter(r.outcome.value for r in self.records[since:]
                       if r.outcome is not Outcome.OK)

    def versions(self, since: int = 0) -> Counter[str | None]:
        return Counter(r.version for r in self.records[since:] if r.outcome is Outcome.OK)

    def describe(self, since: int = 0) -> str:
        records = self.records[since:]
        failed = [r for r in records if r.outcome is not Outcome.OK]
        errors = {r.outcome.value: r.error for r in failed}
        when = [round(r.start_s, 2) for r in failed[:20]]
        resent = self.result.resent if self.result is not None else 0
        return (f"{len(records)} requests, {len(failed)} failed {dict(self.failures(since))} "
                f"{errors} (first at s {when}); {resent} resent after the keep-alive race")
