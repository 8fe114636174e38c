"""How long a preStop hook holds SIGTERM back, derived from the manifest.

The kubelet runs the preStop hook first and sends SIGTERM only when it returns
(pkg/kubelet/kuberuntime/kuberuntime_container.go, `killContainer`), while the endpoint
controllers drop the pod from its Services at the same moment. The hook's duration is therefore
the time the app keeps serving after it stopped being advertised, and the only number the
endpoint-lag rule needs. It can be read from:

- the `sleep` action (KEP-3960): `seconds`;
- an `exec` hook that sleeps first: `["sleep", "5"]`, `["/bin/sh", "-c", "sleep 5 && ..."]`,
  `["busybox", "sleep", "5"]` (GNU suffixes s/m/h/d accepted);
- anything else (an `httpGet` to the app, a script) only by declaration: the pod template
  annotation `probelab.io/prestop-delay-seconds` (or `...seconds.CONTAINER`). The same
  annotation on a container without a hook declares an app that keeps serving that long after
  SIGTERM before it closes its listener (action `app`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from probelab.check.workloads import PRESTOP_ANNOTATION, Container, Workload

SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh"})
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_LEADING_SLEEP = re.compile(r"^\s*(?:exec\s+)?sleep\s+(\S+?)\s*(?:$|[;&|\n])")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
# Image names that usually have neither a shell nor `sleep`: an exec hook fails there
# (FailedPreStopHook event) and the pod gets SIGTERM at once, as if there were no hook.
NO_SHELL_HINTS = ("distroless", "scratch", "cgr.dev/chainguard/static", "/static:",
                  "/static@")


@dataclass(frozen=True)
class PreStop:
    """What the hook is (`none`, `app`, `sleep`, `exec-sleep`, `exec`, `httpGet`, `tcpSocket`) and
    the seconds it holds SIGTERM back (None: cannot tell)."""

    action: str
    delay_s: float | None
    field: str
    declared: bool = False  # the delay comes from the annotation

    @property
    def present(self) -> bool:
        return self.action not in ("none", "app")


def duration(text: str) -> float | None:
    """`sleep`'s argument in seconds (`5`, `2.5`, `1m`), None when it is not a plain duration."""
    match = _DURATION.match(text.strip())
    return float(match.group(1)) * _UNITS[match.group(2)] if match else None


def exec_sleep_seconds(command: list[object]) -> float | None:
    """Seconds an exec command sleeps before doing anything else, None when it does not."""
    words = [w for w in command if isinstance(w, str)]
    if len(words) != len(command) or not words:
        return None
    program = PurePosixPath(words[0]).name
    if program == "busybox" and len(words) > 1:
        words, program = words[1:], words[1]
    if program == "sleep" and len(words) == 2:
        return duration(words[1])
    if program in SHELLS and "-c" in words[1:-1]:
        script = words[words.index("-c", 1) + 1]
        match = _LEADING_SLEEP.match(script)
        return duration(match.group(1)) if match else None
    return None


def prestop(workload: Workload, container: Container) -> PreStop:
    hook = container.prestop
    at = f"{container.path}.lifecycle.preStop"
    declared = workload.declared_seconds(PRESTOP_ANNOTATION, container.name)
    if hook is None:
        if declared is not None:  # the app itself keeps serving that long after SIGTERM
            return PreStop("app", declared, f"{container.path}.lifecycle", True)
        return PreStop("none", None, f"{container.path}.lifecycle")
    sleep = hook.get("sleep")
    if isinstance(sleep, dict):
        seconds = sleep.get("seconds")
        number = float(seconds) if isinstance(seconds, int | float) else None
        return PreStop("sleep", number, f"{at}.sleep.seconds")
    action = hook.get("exec")
    if isinstance(action, dict) and isinstance(action.get("command"), list):
        seconds = exec_sleep_seconds(action["command"])
        if seconds is not None:
            return PreStop("exec-sleep", seconds, f"{at}.exec.command")
        return PreStop("exec", declared, f"{at}.exec.command", declared is not None)
    for kind in ("httpGet", "tcpSocket"):
        if isinstance(hook.get(kind), dict):
            return PreStop(kind, declared, f"{at}.{kind}", declared is not None)
    return PreStop("exec", declared, at, declared is not None)


def may_lack_shell(image: str) -> bool:
    lowered = image.lower()
    return any(hint in lowered for hint in NO_SHELL_HINTS)
