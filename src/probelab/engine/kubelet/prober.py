"""Probe handlers of the kubelet: httpGet, tcpSocket and exec, run once against a container.

I/O only; when to probe and what a result means live in `probe_rules`. Sources:
`pkg/probe/http/http.go` and `request.go` (200 ≤ status < 400 succeeds;
`User-Agent: kube-probe/<major>.<minor>`, `Accept: */*`, the probe's headers override; redirects
followed only to the same host, a redirect elsewhere is a success with a warning; no keep-alive),
`pkg/probe/tcp/tcp.go` (a connect is enough), `pkg/probe/exec/exec.go` (exit 0 succeeds, a
timeout fails). The host defaults to the pod IP; a named port is the container port of that name.
Used by `kubelet` (probes) and `lifecycle` (httpGet hooks).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from probelab.engine.kubelet import runtime
from probelab.engine.kubelet.probe_rules import ProbeSpec, Result

USER_AGENT = "kube-probe/1.34"
MAX_REDIRECTS = 10


@dataclass(frozen=True)
class Target:
    """Where a container's probes go and what exec handlers run with."""

    pod_ip: str
    ports: Mapping[str, int] = field(default_factory=dict)  # containerPort by name
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    cgroup: Path | None = None  # the container's cgroup: exec handlers run inside it
    wrap: runtime.Wrap | None = None  # into the pod's namespaces: exec handlers run there too


@dataclass(frozen=True)
class Outcome:
    result: Result
    message: str = ""  # why it failed (the Unhealthy event's text), or a warning
    warning: bool = False  # succeeded with a warning (a redirect to another host)


def resolve_port(value: Any, ports: Mapping[str, int]) -> int:
    """A probe/hook port: a number, a numeric string, or a container port name."""
    if isinstance(value, int) and not isinstance(value, bool):
        port = value
    elif isinstance(value, str) and value.isdigit():
        port = int(value)
    elif isinstance(value, str) and value in ports:
        port = ports[value]
    else:
        raise ValueError(f"unknown port {value!r}")
    if not 0 < port < 65536:
        raise ValueError(f"invalid port {port}")
    return port


def container_ports(container: Mapping[str, Any]) -> dict[str, int]:
    return {str(p["name"]): int(p["containerPort"]) for p in container.get("ports") or []
            if p.get("name") and p.get("containerPort")}


def http_url(handler: Mapping[str, Any], target: Target) -> str:
    """The URL an httpGet handler asks for."""
    scheme = str(handler.get("scheme") or "HTTP").lower()
    host = str(handler.get("host") or target.pod_ip)
    port = resolve_port(handler.get("port"), target.ports)
    path = str(handler.get("path") or "/")
    if not path.startswith("/"):
        path = "/" + path
    return f"{scheme}://{host}:{port}{path}"


async def get_status(url: str, headers: Mapping[str, str]) -> tuple[int, str]:
    """One GET without keep-alive: (status code, Location header)."""
    parts = urlsplit(url)
    context = None
    if parts.scheme == "https":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the kubelet skips verification for probes
    port = parts.port or (443 if parts.scheme == "https" else 80)
    reader, writer = await asyncio.open_connection(parts.hostname, port, ssl=context)
    try:
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        send = {"Host": parts.netloc, "User-Agent": USER_AGENT, "Accept": "*/*"}
        send.update(headers)
        send["Connection"] = "close"
        head = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in send.items())
        writer.write(head.encode("latin-1") + b"\r\n")
        await writer.drain()
        status_line = await reader.readline()
        fields = status_line.decode("latin-1").split(" ", 2)
        if len(fields) < 2 or not fields[1].isdigit():
            raise ConnectionError("malformed HTTP response")
        location = ""
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "location":
                location = value.strip()
        return int(fields[1]), location
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def _dial_error(url: str, exc: BaseException) -> str:
    parts = urlsplit(url)
    if isinstance(exc, ConnectionRefusedError):
        why = "connect: connection refused"
    else:
        why = str(exc) or type(exc).__name__
    return f'Get "{url}": dial tcp {parts.hostname}:{parts.port}: {why}'


async def http_get(handler: Mapping[str, Any], target: Target, timeout_s: float) -> Outcome:
    """Run an httpGet handler (probe semantics) within `timeout_s`."""
    try:
        url = http_url(handler, target)
    except ValueError as exc:
        return Outcome(Result.FAILURE, str(exc))
    headers = {str(h.get("name")): str(h.get("value", ""))
               for h in handler.get("httpHeaders") or [] if h.get("name")}
    first_host = urlsplit(url).hostname

    async def follow() -> Outcome:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            try:
                code, location = await get_status(current, headers)
            except OSError as exc:
                return Outcome(Result.FAILURE, _dial_error(current, exc))
            if 300 <= code < 400 and location:
                nxt = urljoin(current, location)
                if urlsplit(nxt).hostname != first_host:
                    return Outcome(Result.SUCCESS, "Probe terminated redirects", warning=True)
                current = nxt
                continue
            if 200 <= code < 400:
                return Outcome(Result.SUCCESS)
            return Outcome(Result.FAILURE, f"HTTP probe failed with statuscode: {code}")
        return Outcome(Result.FAILURE, f'Get "{url}": stopped after {MAX_REDIRECTS} redirects')

    try:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # arrives as the probe completes, and the probe loop then never stops.
        async with asyncio.timeout(timeout_s):
            return await follow()
    except TimeoutError:
        return Outcome(Result.FAILURE, f'Get "{url}": context deadline exceeded '
                                       "(Client.Timeout exceeded while awaiting headers)")
    except (ConnectionError, UnicodeError) as exc:
        return Outcome(Result.FAILURE, f'Get "{url}": {exc}')


async def tcp_socket(handler: Mapping[str, Any], target: Target, timeout_s: float) -> Outcome:
    try:
        port = resolve_port(handler.get("port"), target.ports)
    except ValueError as exc:
        return Outcome(Result.FAILURE, str(exc))
    host = str(handler.get("host") or target.pod_ip)
    try:
        async with asyncio.timeout(timeout_s):
            _reader, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return Outcome(Result.FAILURE, f"dial tcp {host}:{port}: i/o timeout")
    except OSError as exc:
        why = "connect: connection refused" if isinstance(exc, ConnectionRefusedError) else exc
        return Outcome(Result.FAILURE, f"dial tcp {host}:{port}: {why}")
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return Outcome(Result.SUCCESS)


async def exec_command(handler: Mapping[str, Any], target: Target, timeout_s: float) -> Outcome:
    command = [str(w) for w in handler.get("command") or []]
    if not command:
        return Outcome(Result.FAILURE, "exec handler without a command")
    try:
        code, output = await runtime.run_to_end(command, target.env, timeout_s, cwd=target.cwd,
                                              cgroup=target.cgroup, wrap=target.wrap)
    except OSError as exc:
        return Outcome(Result.FAILURE, f"exec {command[0]!r} failed: {exc.strerror or exc}")
    if code is None:
        return Outcome(Result.FAILURE, f"command {' '.join(command)!r} timed out")
    if code != 0:
        return Outcome(Result.FAILURE, output.strip() or f"command exited with code {code}")
    return Outcome(Result.SUCCESS)


async def run_probe(spec: ProbeSpec, target: Target) -> Outcome:
    """One probe of `spec` against `target`; every failure is an Outcome, never an exception."""
    if spec.handler_kind == "httpGet":
        return await http_get(spec.handler, target, spec.timeout_s)
    if spec.handler_kind == "tcpSocket":
        return await tcp_socket(spec.handler, target, spec.timeout_s)
    if spec.handler_kind == "exec":
        return await exec_command(spec.handler, target, spec.timeout_s)
    if spec.handler_kind == "grpc":
        return Outcome(Result.FAILURE, "grpc probes are not supported by the local engine")
    return Outcome(Result.FAILURE, "probe has no handler")
