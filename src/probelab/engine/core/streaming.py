"""The contract between the API server's streaming subresources and the kubelet that runs the
processes: what `pods/exec`, `pods/attach` and `pods/portforward` ask of the node.

In Kubernetes the API server proxies these requests to the kubelet's streaming server
(`pkg/kubelet/server/server.go` getExec/getAttach/getPortForward), which asks the container
runtime (CRI `Exec`, `Attach`, `PortForward`). Here the API server and the kubelet are
components of one process that never import each other, so they meet in this module: the
kubelet registers a `PodRuntime` in `EngineContext.streaming` when it starts, the API server
looks it up per request. Everything protocol-specific (WebSocket, channels, SPDY) stays in
`apiserver/streaming/`; everything about processes stays in the kubelet.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol


class StreamError(Exception):
    """A request the node cannot serve, as the Status the client should see."""

    def __init__(self, code: int, reason: str, message: str, upgraded: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        # False: the kubelet refuses before the stream is set up (an HTTP error, which kubectl
        # shows as "unable to upgrade connection: ..."); True: the stream is up and the error
        # goes on its error channel (a command that cannot start).
        self.upgraded = upgraded


@dataclass(frozen=True)
class ExecRequest:
    """One `pods/exec` or `pods/attach` (empty `command`) request, after the API checks."""

    namespace: str
    pod: str
    container: str
    command: tuple[str, ...] = ()
    stdin: bool = False
    tty: bool = False


class Session(Protocol):
    """A running exec (or an attach) as the streaming handler drives it.

    `output()` yields (stream, bytes) with stream 1 (stdout) or 2 (stderr) until the process
    has closed its output; `wait()` is its exit code (None for an attach that ended because the
    client left)."""

    def output(self) -> asyncio.Queue[tuple[int, bytes] | None]: ...

    async def write_stdin(self, data: bytes) -> None: ...

    def close_stdin(self) -> None: ...

    def resize(self, width: int, height: int) -> None: ...

    async def wait(self) -> int | None: ...

    def kill(self) -> None: ...


class PodRuntime(Protocol):
    """What the kubelet offers the streaming subresources (CRI Exec/Attach/PortForward)."""

    async def exec(self, request: ExecRequest) -> Session:
        """Start `request.command` in the container (raises StreamError)."""
        ...

    async def attach(self, request: ExecRequest) -> Session:
        """Follow the container's output from now on (raises StreamError)."""
        ...

    async def dial(self, namespace: str, pod: str, port: int
                   ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to `port` of the pod, as from inside its network namespace
        (raises StreamError with the runtime's message)."""
        ...


class StreamingHub:
    """Where the kubelet's `PodRuntime` is found (None while no kubelet runs: the API answers
    such requests as a cluster whose node is unreachable would)."""

    def __init__(self) -> None:
        self.runtime: PodRuntime | None = None
