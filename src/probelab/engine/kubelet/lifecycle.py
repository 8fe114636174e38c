"""Lifecycle hooks of the kubelet: the preStop handler (httpGet, exec, sleep).

`run_prestop` runs a hook once and returns None or the failure message the kubelet puts in a
`FailedPreStopHook` Warning event; the caller bounds it by the grace period and carries on with
termination either way. Sources: `pkg/kubelet/lifecycle/handlers.go` (hooks are never retried;
an httpGet hook's status code is not checked, only whether the request could be made; `sleep`
pauses for its seconds, 0 allowed), `pkg/kubelet/kuberuntime/kuberuntime_container.go`
executePreStopHook (messages). tcpSocket hooks are deprecated and not run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from probelab.engine.kubelet import prober, runtime
from probelab.engine.kubelet.prober import Target


async def run_prestop(handler: Mapping[str, Any], target: Target, container: str,
                      pod: str, budget_s: float) -> str | None:
    """Run a preStop handler; None on success, else the failure message."""
    where = f"for Container {container!r} in Pod {pod!r}"
    if handler.get("exec") is not None:
        command = [str(w) for w in (handler["exec"] or {}).get("command") or []]
        try:
            code, output = await runtime.run_to_end(command, target.env, budget_s + 1,
                                                    cwd=target.cwd, cgroup=target.cgroup,
                                                    wrap=target.wrap)
        except (OSError, IndexError) as exc:
            return f"Exec lifecycle hook ({command}) {where} failed - error: {exc}"
        if code is None or code == 0:
            return None  # a hook cut off by the grace period is not a failure event
        return (f"Exec lifecycle hook ({command}) {where} failed - error: command "
                f"'{' '.join(command)}' exited with {code}, message: {output.strip()!r}")
    if handler.get("httpGet") is not None:
        spec = handler["httpGet"] or {}
        try:
            url = prober.http_url(spec, target)
        except ValueError as exc:
            return f"HTTP lifecycle hook {where} failed - error: {exc}"
        headers = {str(h.get("name")): str(h.get("value", ""))
                   for h in spec.get("httpHeaders") or [] if h.get("name")}
        try:
            await prober.get_status(url, headers)
        except (OSError, ConnectionError, UnicodeError) as exc:
            return f"HTTP lifecycle hook ({url}) {where} failed - error: {exc or type(exc)}"
        return None
    if handler.get("sleep") is not None:
        await asyncio.sleep(max(0, int((handler["sleep"] or {}).get("seconds") or 0)))
        return None
    if handler.get("tcpSocket") is not None:
        return None  # deprecated: accepted, never run (handlers.go)
    return f"Lifecycle hook {where} has no handler"
