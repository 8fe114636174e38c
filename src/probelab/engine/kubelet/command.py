"""What a container process is given: its environment and its argv, as the kubelet builds them.

Pure functions used by `container.ContainerRunner` before `runtime.spawn`. Sources:
- `third_party/forked/golang/expansion/expand.go`: `$(VAR)` expands to VAR's value when VAR is
  defined, and stays as written when it is not; `$$` is an escaped `$` (so `$$(VAR)` gives the
  literal `$(VAR)`); a `$` before anything else, or an unclosed `$(`, is kept.
- `pkg/kubelet/kubelet_pods.go` makeEnvironmentVariables: env entries are resolved in order, each
  value expanded against the ones before it; `valueFrom.fieldRef` reads the pod (downward API).
- `pkg/kubelet/kuberuntime/kuberuntime_container.go` / docs "Define a Command and Arguments":
  `command` replaces the image's entrypoint, `args` its default arguments; both are expanded.
The engine adds `POD_IP`, `POD_NAME`, `POD_NAMESPACE` (and `HOSTNAME`, as a container has) before
the manifest's env, so a manifest may use or redefine them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from probelab.engine.kubelet import envsources

# Variables of the engine's own environment a host process needs to run at all (a container
# would get these from its image).
HOST_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH",
            "PYTHONDONTWRITEBYTECODE")


EnvError = envsources.EnvError  # an env entry that cannot be resolved
field_value = envsources.field_value  # the downward API value of a fieldRef


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes `$(VAR)` expansion of one string."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            close = text.find(")", i + 2)
            if close < 0:
                out.append("$(")
                i += 2
                continue
            name = text[i + 2:close]
            out.append(env[name] if name in env and name else f"$({name})")
            i = close + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


def argv(entrypoint: Sequence[str], default_args: Sequence[str], container: Mapping[str, Any],
         env: Mapping[str, str]) -> list[str]:
    """The process argv: the container's `command`/`args` over the image's, then expanded."""
    command = container.get("command")
    args = container.get("args")
    if command:
        words = [*command, *(args or [])]
    else:
        words = [*entrypoint, *(args if args is not None else default_args)]
    return [expand(str(w), env) for w in words]


def container_env(pod: Mapping[str, Any], container: Mapping[str, Any], pod_ip: str,
                  host_ip: str, host_env: Mapping[str, str] | None = None,
                  sources: envsources.Sources | None = None,
                  warnings: list[tuple[str, str]] | None = None) -> dict[str, str]:
    """The whole environment of a container process. `sources` holds the ConfigMaps and
    Secrets the kubelet fetched (none: every reference to one is missing); Warning Events
    the resolution asks for (skipped envFrom keys) are appended to `warnings`."""
    host_env = os.environ if host_env is None else host_env
    meta = pod.get("metadata") or {}
    env = {k: host_env[k] for k in HOST_ENV if k in host_env}
    env.update({"HOSTNAME": str(meta.get("name", "")), "POD_IP": pod_ip,
                "POD_NAME": str(meta.get("name", "")),
                "POD_NAMESPACE": str(meta.get("namespace", ""))})
    resolved = envsources.resolve(pod, container, env, sources or envsources.Sources(),
                                  pod_ip, host_ip, expand)
    if warnings is not None:
        warnings.extend(resolved.warnings)
    return resolved.env
