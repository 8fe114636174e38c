"""Validation of a PodSpec: containers, ports, env, probes, lifecycle hooks, volumes.

Used by `validation` for Pods and for the pod templates of Deployments and ReplicaSets. Rules
and field paths follow `pkg/apis/core/validation/validation.go` (`ValidatePodSpec`,
`validateContainers`, `validateContainerPorts`, `validateProbe`, `validateHandler`,
`validateSleepAction`). Expects a defaulted spec: probe numbers are already filled in, so a 0
left there is an explicit, invalid value.
"""

from __future__ import annotations

from typing import Any

from probelab.k8s import names
from probelab.k8s.checks import Checker, is_int
from probelab.k8s.objects import Obj

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
PROTOCOLS = ("TCP", "UDP", "SCTP")
PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
HOOK_HANDLERS = ("exec", "httpGet", "tcpSocket", "sleep")
PROBE_MINIMUMS = (("initialDelaySeconds", 0), ("timeoutSeconds", 1), ("periodSeconds", 1),
                  ("successThreshold", 1), ("failureThreshold", 1))


def validate_pod_spec(check: Checker, path: str, spec: Obj) -> None:
    grace = spec.get("terminationGracePeriodSeconds")
    check.non_negative(f"{path}.terminationGracePeriodSeconds", grace)
    grace_s = grace if is_int(grace) and grace >= 0 else 30
    check.at_least(f"{path}.activeDeadlineSeconds", spec.get("activeDeadlineSeconds"), 1)
    for key, supported in (("restartPolicy", RESTART_POLICIES), ("dnsPolicy", DNS_POLICIES)):
        value = spec.get(key)
        if value is not None and value not in supported:
            check.not_supported(f"{path}.{key}", value, supported)
    volumes = _volumes(check, f"{path}.volumes", spec.get("volumes"))
    containers = spec.get("containers")
    if not containers:
        check.required(f"{path}.containers", "")
    seen: set[str] = set()
    for key in ("initContainers", "containers"):
        for at, container in check.objects(f"{path}.{key}", spec.get(key)):
            _container(check, at, container, seen, volumes, grace_s)


def _volumes(check: Checker, path: str, value: Any) -> set[str]:
    found: set[str] = set()
    for at, volume in check.objects(path, value):
        name = volume.get("name")
        if not name:
            check.required(f"{at}.name", "")
        elif check.name(f"{at}.name", name, names.dns1123_label):
            if name in found:
                check.duplicate(f"{at}.name", name)
            found.add(name)
    return found


def _container(check: Checker, at: str, container: Obj, seen: set[str], volumes: set[str],
               grace_s: int) -> None:
    name = container.get("name")
    if not name:
        check.required(f"{at}.name", "")
    elif check.name(f"{at}.name", name, names.dns1123_label):
        if name in seen:
            check.duplicate(f"{at}.name", name)
        seen.add(name)
    image = container.get("image")
    if not isinstance(image, str) or not image.strip():
        if image in (None, ""):
            check.required(f"{at}.image", "")
        else:
            check.invalid(f"{at}.image", image, "must be a non-empty string")
    elif image != image.strip():
        check.invalid(f"{at}.image", image, "must not have leading or trailing whitespace")
    policy = container.get("imagePullPolicy")
    if policy is not None and policy not in PULL_POLICIES:
        check.not_supported(f"{at}.imagePullPolicy", policy, PULL_POLICIES)
    for key in ("command", "args"):
        _strings(check, f"{at}.{key}", container.get(key))
    _ports(check, f"{at}.ports", container.get("ports"))
    _env(check, f"{at}.env", container.get("env"))
    _mounts(check, f"{at}.volumeMounts", container.get("volumeMounts"), volumes)
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = container.get(key)
        if probe is not None:
            _probe(check, f"{at}.{key}", probe, key)
    lifecycle = container.get("lifecycle")
    if lifecycle is not None:
        if not isinstance(lifecycle, dict):
            check.invalid(f"{at}.lifecycle", lifecycle, "must be an object")
        else:
            for hook in ("postStart", "preStop"):
                if lifecycle.get(hook) is not None:
                    _hook(check, f"{at}.lifecycle.{hook}", lifecycle[hook], grace_s)


def _strings(check: Checker, path: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        check.invalid(path, value, "must be a list of strings")
        return
    for i, item in enumerate(value):
        if not isinstance(item, str):
            check.invalid(f"{path}[{i}]", item, "must be a string")


def _ports(check: Checker, path: str, value: Any) -> None:
    """`validateContainerPorts`: numbers in range, names unique IANA names, known protocols."""
    seen_names: set[str] = set()
    for at, port in check.objects(path, value):
        name = port.get("name")
        if name not in (None, "") and check.name(f"{at}.name", name, names.port_name):
            if name in seen_names:
                check.duplicate(f"{at}.name", name)
            seen_names.add(name)
        check.port_number(f"{at}.containerPort", port.get("containerPort"), required=True)
        check.port_number(f"{at}.hostPort", port.get("hostPort"))
        protocol = port.get("protocol")
        if protocol is None:
            check.required(f"{at}.protocol", "")
        elif protocol not in PROTOCOLS:
            check.not_supported(f"{at}.protocol", protocol, PROTOCOLS)


def _env(check: Checker, path: str, value: Any) -> None:
    for at, var in check.objects(path, value):
        name = var.get("name")
        if not name:
            check.required(f"{at}.name", "")
        else:
            check.name(f"{at}.name", name, names.env_var_name)
        text, source = var.get("value"), var.get("valueFrom")
        if text is not None and not isinstance(text, str):
            check.invalid(f"{at}.value", text, "must be a string")
        if source is not None:
            if text:
                check.invalid(f"{at}.valueFrom", "",
                              "may not be specified when `value` is not empty")
            elif not isinstance(source, dict) or len(source) != 1:
                check.invalid(f"{at}.valueFrom", source, "must specify exactly one of: "
                              "`fieldRef`, `resourceFieldRef`, `configMapKeyRef` or "
                              "`secretKeyRef`")


def _mounts(check: Checker, path: str, value: Any, volumes: set[str]) -> None:
    for at, mount in check.objects(path, value):
        name = mount.get("name")
        if not name:
            check.required(f"{at}.name", "")
        elif name not in volumes:
            check.not_found(f"{at}.name", name)
        if not mount.get("mountPath"):
            check.required(f"{at}.mountPath", "")


def _handler(check: Checker, path: str, handler: Any, kinds: tuple[str, ...]) -> str | None:
    """`validateHandler`: exactly one handler type; returns it (None when not exactly one)."""
    if not isinstance(handler, dict):
        check.invalid(path, handler, "must be an object")
        return None
    given = [k for k in kinds if handler.get(k) is not None]
    if not given:
        check.required(path, "must specify a handler type")
        return None
    if len(given) > 1:
        for extra in given[1:]:
            check.forbidden(f"{path}.{extra}", "may not specify more than 1 handler type")
        return None
    kind = given[0]
    action, at = handler[kind], f"{path}.{kind}"
    if not isinstance(action, dict):
        check.invalid(at, action, "must be an object")
        return None
    if kind == "exec":
        command = action.get("command")
        if not command:
            check.required(f"{at}.command", "")
        else:
            _strings(check, f"{at}.command", command)
    elif kind == "httpGet":
        check.port_or_name(f"{at}.port", action.get("port"))
        scheme = action.get("scheme", "HTTP")
        if scheme not in ("HTTP", "HTTPS"):
            check.not_supported(f"{at}.scheme", scheme, ("HTTP", "HTTPS"))
        if not action.get("path"):
            check.required(f"{at}.path", "")
    elif kind == "tcpSocket":
        check.port_or_name(f"{at}.port", action.get("port"))
    elif kind == "grpc":
        check.port_number(f"{at}.port", action.get("port"), required=True)
    return kind


def _probe(check: Checker, path: str, probe: Any, which: str) -> None:
    """`validateProbe` plus the liveness/startup rules of `validateContainers`."""
    if _handler(check, path, probe, PROBE_HANDLERS) is None and not isinstance(probe, dict):
        return
    for key, minimum in PROBE_MINIMUMS:
        check.at_least(f"{path}.{key}", probe.get(key), minimum)
    success = probe.get("successThreshold")
    if which != "readinessProbe" and is_int(success) and success != 1:
        check.invalid(f"{path}.successThreshold", success, "must be 1")
    grace = probe.get("terminationGracePeriodSeconds")
    if grace is not None:
        if which == "readinessProbe":
            check.invalid(f"{path}.terminationGracePeriodSeconds", grace,
                          "must not be set for readinessProbes")
        else:
            check.at_least(f"{path}.terminationGracePeriodSeconds", grace, 1)


def _hook(check: Checker, path: str, hook: Any, grace_s: int) -> None:
    if _handler(check, path, hook, HOOK_HANDLERS) != "sleep":
        return
    seconds = hook["sleep"].get("seconds")
    if seconds is None:
        check.required(f"{path}.sleep.seconds", "")
    elif check.integer(f"{path}.sleep.seconds", seconds) and not 0 <= seconds <= grace_s:
        check.invalid(f"{path}.sleep.seconds", seconds, "must be non-negative and not more "
                      f"than terminationGracePeriodSeconds ({grace_s})")
