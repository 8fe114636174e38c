"""What a `pods/exec|attach|portforward` request asks for, checked against the pod: pure.

Sources: `pkg/registry/core/pod/strategy.go` (ExecLocation, AttachLocation,
PortForwardLocation: the pod must have a node; the container is the one named, or the pod's
only one), `pkg/kubelet/cri/streaming/remotecommand/httpstream.go` NewOptions (at least one of
stdin, stdout, stderr; a tty has no separate stderr), `pkg/apis/core/validation`
(PodPortForwardOptions: ports 1-65535). Messages are the upstream ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from probelab.engine.apiserver.status import bad_request

TRUE = ("true", "1", "True", "yes")


@dataclass(frozen=True)
class StreamOptions:
    container: str
    command: tuple[str, ...]
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool


def flag(query: Mapping[str, str], name: str, default: bool = False) -> bool:
    value = query.get(name)
    return default if value is None else value in TRUE


def container_of(pod: Mapping[str, Any], requested: str) -> str:
    """The container a request addresses (400 if none or unknown)."""
    name = (pod.get("metadata") or {}).get("name", "")
    spec = pod.get("spec") or {}
    containers = [str(c.get("name", "")) for c in spec.get("containers") or []]
    if not spec.get("nodeName"):
        raise bad_request(f"pod {name} does not have a host assigned")
    if not requested:
        if len(containers) == 1:
            return containers[0]
        raise bad_request(f"a container name must be specified for pod {name}, choose one of: "
                          f"[{' '.join(containers)}]")
    if requested not in containers:
        init = [str(c.get("name", "")) for c in spec.get("initContainers") or []]
        raise bad_request(f"container {requested} is not valid for pod {name}"
                          if requested not in init else
                          f"container {requested} is an init container, which the probelab "
                          f"engine does not run")
    return requested


def stream_options(pod: Mapping[str, Any], query: Mapping[str, str], commands: Sequence[str],
                   exec_: bool) -> StreamOptions:
    """The options of an exec (`exec_`) or attach against `pod` (ApiError if refused)."""
    container = container_of(pod, query.get("container", ""))
    stdin, tty = flag(query, "stdin"), flag(query, "tty")
    # SetDefaults_PodExecOptions / SetDefaults_PodAttachOptions: stdout and stderr are on.
    stdout, stderr = flag(query, "stdout", True), flag(query, "stderr", True)
    if not (stdin or stdout or stderr):
        raise bad_request("you must specify at least 1 of stdin, stdout, stderr")
    if exec_ and not [c for c in commands if c]:
        raise bad_request("you must specify at least one command for the container")
    return StreamOptions(container, tuple(commands) if exec_ else (), stdin, stdout,
                         stderr and not tty, tty)


def ports_of(values: Sequence[str]) -> list[int]:
    """`ports` query values (each may be comma-separated), as the channel port-forward
    needs them (400 if missing or out of range)."""
    ports: list[int] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                port = int(part)
            except ValueError:
                raise bad_request(f'unable to parse "{part}" as a port: invalid syntax') from None
            if not 0 < port < 65536:
                raise bad_request(f"port {port} must be in the range 1-65535")
            ports.append(port)
    if not ports:
        raise bad_request('query parameter "port" is required')
    return ports


def container_running(pod: Mapping[str, Any], container: str) -> bool:
    """Whether the pod status shows `container` running (what the kubelet checks itself)."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == container:
            return "running" in (status.get("state") or {})
    return False


