"""The kubelet's side of `pods/exec`, `pods/attach` and `pods/portforward`: `NodeStreaming`
is the `core.streaming.PodRuntime` the kubelet registers in `EngineContext.streaming`.

As the kubelet's `GetExec`/`GetAttach`/`GetPortForward` (`pkg/kubelet/kubelet_pods.go`) with
the container runtime behind them: the pod must run on this node and the container must be
running (else "container not found" as the kubelet says it); an exec runs with the container's
environment (as `command.container_env` built it at start), working directory, cgroup and
namespaces (`namespaces`); a command that does not exist fails as containerd/runc report it;
port-forward dials the pod's IP from the pod's network (`pkg/kubelet/cri/streaming/
portforward`, containerd's `portForward`: connect to the port inside the pod's netns).
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Callable
from pathlib import Path

from probelab.engine.core import podlogs
from probelab.engine.core.streaming import ExecRequest, Session, StreamError
from probelab.engine.kubelet import command, namespaces, runtime
from probelab.engine.kubelet.container import ContainerRunner
from probelab.engine.kubelet.execsession import AttachSession, ExecSession
from probelab.engine.kubelet.node import Node
from probelab.engine.kubelet.podworker import PodWorker
from probelab.engine.kubelet.status import HOST_IP

log = logging.getLogger("probelab.engine.kubelet")


def not_found(container: str) -> StreamError:
    return StreamError(500, "InternalError", f'container not found ("{container}")')


def exec_failed(program: str) -> StreamError:
    """What containerd answers for a command that is not there (the API wraps it in an
    InternalError Status on the error channel)."""
    return StreamError(
        500, "InternalError",
        f'error executing command in container: failed to exec in container: failed to start '
        f'exec "{uuid.uuid4().hex}": OCI runtime exec failed: exec failed: unable to start '
        f'container process: exec: "{program}": executable file not found in $PATH: unknown',
        upgraded=True)


class NodeStreaming:
    """See the module docstring; `workers` is the kubelet's map of pod workers."""

    def __init__(self, node: Node, workers: Callable[[], list[PodWorker]]) -> None:
        self.node = node
        self._workers = workers

    def _worker(self, namespace: str, pod: str) -> PodWorker:
        for worker in self._workers():
            if (worker.namespace, worker.name) == (namespace, pod) and not worker.vanished:
                return worker
        raise StreamError(404, "NotFound", f'pod "{pod}" not found on node')

    def _running(self, request: ExecRequest) -> tuple[PodWorker, ContainerRunner, int]:
        worker = self._worker(request.namespace, request.pod)
        for runner in worker.runners:
            if runner.name == request.container:
                pid = runner.pid
                if pid is None:
                    break
                return worker, runner, pid
        raise not_found(request.container)

    async def exec(self, request: ExecRequest) -> Session:
        worker, runner, pid = self._running(request)
        try:
            env = command.container_env(worker.pod, runner.spec, worker.pod_ip, HOST_IP)
        except command.EnvError as exc:
            raise StreamError(500, "InternalError", str(exc)) from None
        workdir = runner.spec.get("workingDir")
        kinds = namespaces.to_enter(namespaces.namespace_ids(pid),
                                    namespaces.namespace_ids("self"))
        root = f"/proc/{pid}/root" if "mnt" in kinds else ""
        cwd = workdir if workdir and Path(root + workdir).is_dir() else None
        program = request.command[0]
        if not runtime.find_executable(program, env, cwd, root):
            raise exec_failed(program)
        argv = namespaces.nsenter_argv(pid, kinds, request.command)
        try:
            session = await ExecSession.start(argv, env, None if kinds else cwd, runner.cgroup,
                                              request.stdin, request.tty, runner.exec_ended)
        except OSError as exc:
            raise StreamError(500, "InternalError",
                              f"error executing command in container: {exc}",
                              upgraded=True) from None
        runner.exec_started(session)
        return session

    async def attach(self, request: ExecRequest) -> Session:
        worker, runner, pid = self._running(request)
        log_file = podlogs.log_path(self.node.state_dir, worker.uid, runner.name,
                                    runner.restart_count)
        if log_file is None:
            raise not_found(request.container)

        def alive() -> bool:
            return runner.pid == pid

        stdin = None
        if request.stdin and runner.spec.get("stdin") is True and runner.proc is not None:
            stdin = runner.proc.stdin
        return AttachSession(log_file, alive, stdin, runner.spec.get("stdinOnce") is True)

    async def dial(self, namespace: str, pod: str, port: int
                   ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        worker = self._worker(namespace, pod)
        address = worker.pod_ip
        try:
            return await asyncio.open_connection(address, port)
        except OSError as exc:
            reason = (os.strerror(exc.errno) if exc.errno else str(exc)).lower()
            raise StreamError(
                500, "InternalError",
                f"error forwarding port {port} to pod {worker.uid}, uid : failed to connect "
                f"to {address}:{port} inside the pod's network: dial tcp4 {address}:{port}: "
                f"connect: {reason}") from None
