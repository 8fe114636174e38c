"""Fixtures of the fault and security tests: a real `probelab cluster up` process, the demo's
sample service deployed into it, load from this process, and the kernel's view of processes
and sockets (`/proc`), so tests judge by PID and by socket, never by timing.

`RealEngine` starts the engine in its own session with a private kubeconfig and state folder,
its stderr in a file (`log()`), and stops it by PID on exit. `LoadThread` runs
`probelab.load.runner.run_load` on its own loop in a thread, bounded by a duration, and keeps
every record (with the pod that answered, from the sample service's `X-Pod-Name`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import stat
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config

from helpers import REPO, cmdline, descendants, pid_alive, probelab_cmd, stop_process, wait_until
from probelab.engine.host import kubeconfig as kc
from probelab.errors import UsageError
from probelab.load.config import LoadConfig
from probelab.load.records import Record
from probelab.load.runner import LoadResult, run_load

WITHPROBES = REPO / "deploy" / "kubernetes" / "withprobes"
NAMESPACE = "probes"
DEPLOYMENT = "simpleprobe"


# ---- processes, by PID ------------------------------------------------------------------------



def pod_pid(engine_pid: int, pod_ip: str) -> int | None:
    """The sample service process of the pod at `pod_ip` (its argv has `--host POD_IP`)."""
    for pid in descendants(engine_pid):
        argv = cmdline(pid).split()
        if "web" in argv and "--host" in argv and argv[argv.index("--host") + 1] == pod_ip:
            return pid
    return None


def sockets(pid: int, local_port: int, state: str) -> int:
    """How many TCP sockets process `pid` holds on its local port `local_port` in `state`
    ("01" ESTABLISHED, "0A" LISTEN): its socket inodes looked up in the kernel's TCP table.
    By PID, so a process of another engine on the same address never counts."""
    inodes: set[str] = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        tables = [Path(f"/proc/{pid}/net/{t}").read_text() for t in ("tcp", "tcp6")]
    except OSError:  # the process is gone
        return 0
    count = 0
    for table in tables:
        for line in table.splitlines()[1:]:
            fields = line.split()
            local, st, inode = fields[1], fields[3], fields[9]
            if st == state and inode in inodes and int(local.rsplit(":", 1)[1], 16) == local_port:
                count += 1
    return count


def established(pid: int, local_port: int) -> int:
    return sockets(pid, local_port, "01")


def listens(pid: int | None, port: int) -> bool:
    return pid is not None and sockets(pid, port, "0A") > 0


def listening_addresses(port: int) -> set[str]:
    """The local addresses that listen on TCP `port` (hex from /proc/net, made readable)."""
    found: set[str] = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if fields[3] == "0A" and int(hex_port, 16) == port:
                found.add(_address(address))
    return found


def _address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return ".".join(str(b) for b in reversed(raw))
    words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]  # little-endian 32-bit words
    flat = b"".join(words)
    return ":".join(flat[i:i + 2].hex() for i in range(0, 16, 2))


def group_or_other_access(path: Path) -> list[Path]:
    """Every regular file under `path` (or `path` itself) readable or writable by others."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return [p for p in files if stat.S_IMODE(p.stat().st_mode) & 0o077]


# ---- the engine ------------------------------------------------------------------------------

class RealEngine:
    """`probelab cluster up` as a child process, with its own kubeconfig and state folder."""

    def __init__(self, tmp: Path, *flags: str, port: int = 0) -> None:
        self.tmp = tmp
        self.kubeconfig = tmp / "kubeconfig"
        self.log_path = tmp / "engine.stderr"
        self.env = dict(os.environ)
        self.env["PROBELAB_STATE_DIR"] = str(tmp / "state")
        self.env["KUBECONFIG"] = str(self.kubeconfig)
        self.env.pop("XDG_RUNTIME_DIR", None)
        self.argv = probelab_cmd("cluster", "up", "--port", str(port), "--kubeconfig",
                                 str(self.kubeconfig), *flags)
        self.proc: subprocess.Popen[str] | None = None
        self._api: client.ApiClient | None = None

    def __enter__(self) -> RealEngine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        with self.log_path.open("a") as err:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=subprocess.DEVNULL,
                                         stderr=err, text=True, start_new_session=True)
        try:
            wait_until(lambda: self.proc.poll() is not None or self._has_context(),
                       timeout_s=60, what="the probelab context")
            assert self.proc.poll() is None, self.log()
        except BaseException:
            self.stop()
            raise

    def _has_context(self) -> bool:
        try:
            return kc.has_context(kc.load(self.kubeconfig))
        except UsageError:
            return False

    def stop(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None
        if self.proc is not None:
            stop_process(self.proc, timeout_s=60)

    def sigkill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        if self._api is not None:
            self._api.close()
            self._api = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

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

    def url(self) -> str:
        return kc.server_of(kc.load(self.kubeconfig))

    def token(self) -> str:
        doc = kc.load(self.kubeconfig)
        [user] = [u for u in doc["users"] if u["name"] == "probelab"]
        return user["user"]["token"]

    def ca_pem(self) -> bytes:
        import base64

        doc = kc.load(self.kubeconfig)
        [cluster] = [c for c in doc["clusters"] if c["name"] == "probelab"]
        return base64.b64decode(cluster["cluster"]["certificate-authority-data"])

    # ---- the sample service --------------------------------------------------------------
    def deploy_withprobes(self, replicas: int, prestop_delay_s: int = 1) -> int:
        """The demo's withprobes manifests with `replicas` pods; returns the NodePort."""
        docs = [yaml.safe_load(p.read_text()) for p in sorted(WITHPROBES.glob("*.yaml"))]
        namespace, deployment, service = docs
        deployment["spec"]["replicas"] = replicas
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        for var in container["env"]:
            if var["name"] == "PROBELAB_WEB_PRESTOP_DELAY":
                var["value"] = str(prestop_delay_s)
        self.core.create_namespace(namespace)
        self.apps.create_namespaced_deployment(NAMESPACE, deployment)
        created = self.core.create_namespaced_service(NAMESPACE, service)
        self.wait_ready(replicas)
        return created.spec.ports[0].node_port

    def wait_ready(self, replicas: int, timeout_s: float = 90) -> None:
        def ready() -> bool:
            dep = self.apps.read_namespaced_deployment(DEPLOYMENT, NAMESPACE)
            s = dep.status
            return (s.ready_replicas or 0) == replicas and (s.replicas or 0) == replicas \
                and (s.updated_replicas or 0) == replicas
        wait_until(ready, timeout_s=timeout_s, interval_s=0.1, what=f"{replicas} ready pods")

    def pods(self, namespace: str = NAMESPACE) -> list[Any]:
        return self.core.list_namespaced_pod(namespace).items

    def events(self, namespace: str, name: str) -> list[Any]:
        """Events of object `name`, ordered by eventTime (microseconds)."""
        items = self.core.list_namespaced_event(
            namespace, field_selector=f"involvedObject.name={name}").items
        return sorted(items, key=lambda e: e.event_time)

    def processes(self) -> set[int]:
        return descendants(self.pid)


def gone(pids: set[int]) -> bool:
    return not any(pid_alive(p) for p in pids)


# ---- load from this process ------------------------------------------------------------------

class LoadThread:
    """`run_load` in a thread; `records` fill as requests end; `stop()` ends it and returns
    the result. Bounded by `duration_s` whatever the test does."""

    def __init__(self, url: str, concurrency: int = 6, duration_s: float = 120) -> None:
        self.config = LoadConfig(url=url, requests=None, duration_s=duration_s,
                                 concurrency=concurrency, timeout_s=10)
        self.records: list[Record] = []
        self.result: LoadResult | None = None
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._main, name="load", daemon=True)

    def __enter__(self) -> LoadThread:
        self._thread.start()
        self._started.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._started.set()
            self.result = await run_load(self.config, on_result=self.records.append,
                                         stop_event=self._stop)

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by stop(), not lost in the thread
            self.error = exc
            self._started.set()

    def wait_for(self, predicate: Callable[[list[Record]], bool], what: str,
                 timeout_s: float = 30) -> None:
        wait_until(lambda: predicate(list(self.records)), timeout_s=timeout_s, what=what)

    def stop(self) -> LoadResult:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result
