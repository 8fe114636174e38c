"""Validation of defaulted objects: the 422 Invalid answers of the API server, field by field.

The API server's registry calls `validate(obj, old)` after `defaults.apply_defaults`; the CLI's
`manifests.load_and_prepare` calls it too and prints `describe(obj, errors)`. Rules and field
paths follow `pkg/apis/core/validation/validation.go` (ObjectMeta, PodSpec, containers, probes,
hooks, Services) and `pkg/apis/apps/validation/validation.go` (Deployments, ReplicaSets). The
messages are our own words, shortened; the field paths are the upstream ones.

`validate` never raises: anything of the wrong type becomes a field error, so arbitrary JSON can
be sent to the API server without a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from probelab.k8s import configdata, names, podspec
from probelab.k8s.checks import Checker, FieldError, Reason, is_int
from probelab.k8s.labels import SelectorError, from_label_selector
from probelab.k8s.objects import Obj

__all__ = ["FieldError", "Reason", "describe", "validate"]


ANNOTATIONS_MAX_BYTES = 256 * 1024
NODE_PORT_RANGE = (30000, 32767)
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
STRATEGY_TYPES = ("Recreate", "RollingUpdate")
PROTOCOLS = ("TCP", "UDP", "SCTP")


@dataclass(frozen=True)
class _KindRules:
    name_check: Callable[[str], list[str]]
    namespaced: bool
    spec: Callable[[Checker, Obj, Obj | None], None] | None


def validate(obj: Any, old: Any = None) -> list[FieldError]:
    """Every field error of `obj` (empty when valid); `old` is the stored object on updates."""
    check = Checker()
    if not isinstance(obj, dict):
        check.invalid("", obj, "must be an object")
        return check.errors
    kind = obj.get("kind")
    rules = _RULES.get(kind) if isinstance(kind, str) else None
    if rules is None:
        rules = _KindRules(names.dns1123_subdomain, True, None)
    _object_meta(check, obj, rules)
    if rules.spec is not None:
        rules.spec(check, obj, old if isinstance(old, dict) else None)
    return check.errors


def describe(obj: Any, errors: list[FieldError]) -> str:
    """One line for humans: `Deployment "web": spec.replicas: must be >= 0; ...`."""
    kind, name = "Object", ""
    if isinstance(obj, dict):
        kind = obj.get("kind") if isinstance(obj.get("kind"), str) else kind
        meta = obj.get("metadata")
        if isinstance(meta, dict) and isinstance(meta.get("name"), str):
            name = meta["name"]
    texts = [f"{e.field}: {e.message}" if e.field else e.message for e in errors]
    return _one_line(f'{kind} "{name}": ' + "; ".join(texts))


def _one_line(text: str) -> str:
    """Control characters (a label key may hold a newline) shown escaped, as Go's %q would."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode()
                   for ch in text)


# --- metadata ------------------------------------------------------------------------------


def _object_meta(check: Checker, obj: Obj, rules: _KindRules) -> None:
    meta = obj.get("metadata")
    if meta is None:
        check.required("metadata", "name or generateName is required")
        return
    if not isinstance(meta, dict):
        check.invalid("metadata", meta, "must be an object")
        return
    name, generate = meta.get("name"), meta.get("generateName")
    if not name and not generate:
        check.required("metadata.name", "name or generateName is required")
    if name:
        check.name("metadata.name", name, rules.name_check)
    if generate and not isinstance(generate, str):
        check.invalid("metadata.generateName", generate, "must be a string")
    namespace = meta.get("namespace")
    # A cluster-scoped object's namespace is cleared by the API server before validation
    # (`rest.BeforeCreate`), so it is only checked for namespaced kinds.
    if namespace and rules.namespaced:
        check.name("metadata.namespace", namespace, names.dns1123_label)
    labels(check, "metadata.labels", meta.get("labels"))
    _annotations(check, "metadata.annotations", meta.get("annotations"))


def labels(check: Checker, path: str, value: Any) -> None:
    """A label map: qualified-name keys, short label values."""
    if value is None:
        return
    if not isinstance(value, dict):
        check.invalid(path, value, "must be a map of string keys to string values")
        return
    for key, val in value.items():
        for problem in names.qualified_name(str(key)):
            check.invalid(path, key, problem)
        if not isinstance(val, str):
            check.invalid(f"{path}[{key}]", val, "must be a string")
            continue
        for problem in names.label_value(val):
            check.invalid(f"{path}[{key}]", val, problem)


def _annotations(check: Checker, path: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        check.invalid(path, value, "must be a map of string keys to string values")
        return
    size = 0
    for key, val in value.items():
        for problem in names.qualified_name(str(key)):
            check.invalid(path, key, problem)
        if not isinstance(val, str):
            check.invalid(f"{path}[{key}]", val, "must be a string")
            continue
        size += len(str(key).encode()) + len(val.encode())
    if size > ANNOTATIONS_MAX_BYTES:
        check.too_long(path, f"may not be more than {ANNOTATIONS_MAX_BYTES} bytes")


# --- workloads -----------------------------------------------------------------------------


def _spec(check: Checker, obj: Obj) -> Obj | None:
    spec = obj.get("spec")
    if spec is None:
        check.required("spec", "")
        return None
    if not isinstance(spec, dict):
        check.invalid("spec", spec, "must be an object")
        return None
    return spec


def _workload(check: Checker, spec: Obj, old: Obj | None, kind: str) -> None:
    """What Deployments and ReplicaSets share: replicas, selector, template."""
    check.non_negative("spec.replicas", spec.get("replicas"))
    check.non_negative("spec.minReadySeconds", spec.get("minReadySeconds"))
    selector = spec.get("selector")
    template = spec.get("template")
    if selector is None:
        check.required("spec.selector", "")
    elif not isinstance(selector, dict):
        check.invalid("spec.selector", selector, "must be an object")
    elif not selector.get("matchLabels") and not selector.get("matchExpressions"):
        check.invalid("spec.selector", selector,
                      f"empty selector is invalid for {kind.lower()}")
    else:
        label_selector(check, "spec.selector", selector)
    if template is None:
        check.required("spec.template", "")
    elif not isinstance(template, dict):
        check.invalid("spec.template", template, "must be an object")
    else:
        _template(check, template, selector)
    if old is not None:
        old_spec = old.get("spec") if isinstance(old.get("spec"), dict) else {}
        if "selector" in old_spec and old_spec.get("selector") != selector:
            check.invalid("spec.selector", selector, "field is immutable")


def label_selector(check: Checker, path: str, selector: Obj) -> None:
    labels(check, f"{path}.matchLabels", selector.get("matchLabels"))
    for at, expr in check.objects(f"{path}.matchExpressions", selector.get("matchExpressions")):
        op, values = expr.get("operator"), expr.get("values")
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            check.not_supported(f"{at}.operator", op, ("In", "NotIn", "Exists", "DoesNotExist"))
        elif op in ("In", "NotIn") and not values:
            check.required(f"{at}.values", "must be specified when `operator` is 'In' or 'NotIn'")
        elif op in ("Exists", "DoesNotExist") and values:
            check.forbidden(f"{at}.values",
                            "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
        key = expr.get("key")
        if not isinstance(key, str) or not key:
            check.required(f"{at}.key", "")
        else:
            for problem in names.qualified_name(key):
                check.invalid(f"{at}.key", key, problem)


def _template(check: Checker, template: Obj, selector: Any) -> None:
    meta = template.get("metadata") if isinstance(template.get("metadata"), dict) else {}
    template_labels = meta.get("labels")
    labels(check, "spec.template.metadata.labels", template_labels)
    _annotations(check, "spec.template.metadata.annotations", meta.get("annotations"))
    if isinstance(selector, dict) and (selector.get("matchLabels")
                                       or selector.get("matchExpressions")):
        try:
            matches = from_label_selector(selector).matches(
                template_labels if isinstance(template_labels, dict) else {})
        except (SelectorError, TypeError, AttributeError):
            matches = True  # the selector's own errors are already reported
        if not matches:
            check.invalid("spec.template.metadata.labels", template_labels,
                          "`selector` does not match template `labels`")
    spec = template.get("spec")
    if spec is None:
        check.required("spec.template.spec", "")
    elif not isinstance(spec, dict):
        check.invalid("spec.template.spec", spec, "must be an object")
    else:
        podspec.validate_pod_spec(check, "spec.template.spec", spec)
        policy = spec.get("restartPolicy")
        if policy is not None and policy != "Always":
            check.not_supported("spec.template.spec.restartPolicy", policy, ("Always",))


def _deployment(check: Checker, obj: Obj, old: Obj | None) -> None:
    spec = _spec(check, obj)
    if spec is None:
        return
    _workload(check, spec, old, "deployment")
    check.non_negative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
    deadline, min_ready = spec.get("progressDeadlineSeconds"), spec.get("minReadySeconds")
    check.non_negative("spec.progressDeadlineSeconds", deadline)
    if is_int(deadline) and is_int(min_ready) and deadline <= min_ready:
        check.invalid("spec.progressDeadlineSeconds", deadline,
                      "must be greater than minReadySeconds")
    strategy = spec.get("strategy")
    if strategy is not None:
        _strategy(check, strategy)
    if "rollbackTo" in spec:
        check.forbidden("spec.rollbackTo", "not supported in apps/v1 "
                        "(use `kubectl rollout undo`)")


def _strategy(check: Checker, strategy: Any) -> None:
    """`ValidateDeploymentStrategy` and `ValidateRollingUpdateDeployment`."""
    if not isinstance(strategy, dict):
        check.invalid("spec.strategy", strategy, "must be an object")
        return
    kind, rolling = strategy.get("type"), strategy.get("rollingUpdate")
    if kind not in STRATEGY_TYPES:
        check.not_supported("spec.strategy.type", kind, STRATEGY_TYPES)
        return
    if kind == "Recreate":
        if rolling is not None:
            check.forbidden("spec.strategy.rollingUpdate",
                            "may not be specified when strategy `type` is 'Recreate'")
        return
    if rolling is None:
        check.required("spec.strategy.rollingUpdate",
                       "this should be defaulted and never be nil")
        return
    if not isinstance(rolling, dict):
        check.invalid("spec.strategy.rollingUpdate", rolling, "must be an object")
        return
    path = "spec.strategy.rollingUpdate"
    surge, unavailable = rolling.get("maxSurge"), rolling.get("maxUnavailable")
    ok_surge = check.int_or_percent(f"{path}.maxSurge", surge)
    ok_unavailable = check.int_or_percent(f"{path}.maxUnavailable", unavailable)
    if ok_unavailable and isinstance(unavailable, str) and int(unavailable[:-1]) > 100:
        check.invalid(f"{path}.maxUnavailable", unavailable, "must not be greater than 100%")
    if ok_surge and ok_unavailable and _is_zero(surge) and _is_zero(unavailable):
        check.invalid(f"{path}.maxUnavailable", unavailable,
                      "may not be 0 when `maxSurge` is 0")


def _is_zero(value: Any) -> bool:
    return value is None or value == 0 or value == "0%"


def _replica_set(check: Checker, obj: Obj, old: Obj | None) -> None:
    spec = _spec(check, obj)
    if spec is not None:
        _workload(check, spec, old, "replicaset")


def _pod(check: Checker, obj: Obj, old: Obj | None) -> None:
    spec = _spec(check, obj)
    if spec is not None:
        podspec.validate_pod_spec(check, "spec", spec)


# --- services ------------------------------------------------------------------------------


def _service(check: Checker, obj: Obj, old: Obj | None) -> None:
    spec = _spec(check, obj)
    if spec is None:
        return
    kind = spec.get("type", "ClusterIP")
    if kind not in SERVICE_TYPES:
        check.not_supported("spec.type", kind, SERVICE_TYPES)
    if kind == "ExternalName" and not spec.get("externalName"):
        check.required("spec.externalName", "")
    ports = spec.get("ports")
    headless = spec.get("clusterIP") == "None"
    if not ports and kind != "ExternalName" and not headless:
        check.required("spec.ports", "")
    elif ports is not None and not isinstance(ports, list):
        check.invalid("spec.ports", ports, "must be a list")
    elif ports:
        _service_ports(check, ports, kind)
    affinity = spec.get("sessionAffinity", "None")
    if affinity not in ("None", "ClientIP"):
        check.not_supported("spec.sessionAffinity", affinity, ("ClientIP", "None"))
    config = spec.get("sessionAffinityConfig")
    client_ip = config.get("clientIP") if isinstance(config, dict) else None
    timeout = client_ip.get("timeoutSeconds") if isinstance(client_ip, dict) else None
    if timeout is not None and (not is_int(timeout) or not 0 < timeout <= 86400):
        check.invalid("spec.sessionAffinityConfig.clientIP.timeoutSeconds", timeout,
                      "must be greater than 0 and at most 86400")
    selector = spec.get("selector")
    if selector is not None:
        labels(check, "spec.selector", selector)
    policy = spec.get("externalTrafficPolicy")
    if policy is not None:
        if kind not in ("NodePort", "LoadBalancer"):
            check.forbidden("spec.externalTrafficPolicy",
                            "may only be set when `type` is 'NodePort' or 'LoadBalancer'")
        elif policy not in ("Cluster", "Local"):
            check.not_supported("spec.externalTrafficPolicy", policy, ("Cluster", "Local"))


def _service_ports(check: Checker, ports: list[Any], kind: str) -> None:
    """`validateServicePort` plus the duplicate checks of `ValidateService`."""
    seen_names: set[str] = set()
    seen_ports: set[tuple[Any, Any]] = set()
    seen_node_ports: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports):
        at = f"spec.ports[{i}]"
        if not isinstance(port, dict):
            check.invalid(at, port, "must be an object")
            continue
        name, protocol = port.get("name"), port.get("protocol", "TCP")
        if len(ports) > 1 and not name:
            check.required(f"{at}.name", "")
        elif name:
            if not isinstance(name, str):
                check.invalid(f"{at}.name", name, "must be a string")
            else:
                check.name(f"{at}.name", name, names.dns1123_label)
                if name in seen_names:
                    check.duplicate(f"{at}.name", name)
                seen_names.add(name)
        check.port_number(f"{at}.port", port.get("port"), required=True)
        if protocol not in PROTOCOLS:
            check.not_supported(f"{at}.protocol", protocol, PROTOCOLS)
        target = port.get("targetPort")
        if target is not None:
            check.port_or_name(f"{at}.targetPort", target)
        key = (port.get("port"), protocol)
        if key in seen_ports:
            check.duplicate(at, f"{port.get('port')}/{protocol}")
        seen_ports.add(key)
        _node_port(check, at, port, kind, protocol, seen_node_ports)


def _node_port(check: Checker, at: str, port: Obj, kind: str, protocol: Any,
               seen: set[tuple[Any, Any]]) -> None:
    node_port = port.get("nodePort")
    if node_port in (None, 0):
        return
    if kind in ("ClusterIP", "ExternalName"):
        check.forbidden(f"{at}.nodePort", f"may not be used when `type` is '{kind}'")
        return
    if not is_int(node_port):
        check.invalid(f"{at}.nodePort", node_port, "must be an integer")
        return
    low, high = NODE_PORT_RANGE
    if not low <= node_port <= high:
        check.invalid(f"{at}.nodePort", node_port, f"provided port is not in the valid range. "
                      f"The range of valid ports is {low}-{high}")
    if (node_port, protocol) in seen:
        check.duplicate(f"{at}.nodePort", node_port)
    seen.add((node_port, protocol))


def _namespace(check: Checker, obj: Obj, old: Obj | None) -> None:
    spec = obj.get("spec")
    if spec is not None and not isinstance(spec, dict):
        check.invalid("spec", spec, "must be an object")


def _endpoint_slice(check: Checker, obj: Obj, old: Obj | None) -> None:
    family = obj.get("addressType")
    if family is None:
        check.required("addressType", "")
    elif family not in ("IPv4", "IPv6", "FQDN"):
        check.not_supported("addressType", family, ("FQDN", "IPv4", "IPv6"))
    for at, endpoint in check.objects("endpoints", obj.get("endpoints")):
        if not endpoint.get("addresses"):
            check.required(f"{at}.addresses", "must contain at least 1 address")


_RULES: dict[str, _KindRules] = {
    "Namespace": _KindRules(names.dns1123_label, False, _namespace),
    "Service": _KindRules(names.dns1035_label, True, _service),
    "Pod": _KindRules(names.dns1123_subdomain, True, _pod),
    "Deployment": _KindRules(names.dns1123_subdomain, True, _deployment),
    "ReplicaSet": _KindRules(names.dns1123_subdomain, True, _replica_set),
    "EndpointSlice": _KindRules(names.dns1123_subdomain, True, _endpoint_slice),
    "Endpoints": _KindRules(names.dns1123_subdomain, True, None),
    "Event": _KindRules(names.dns1123_subdomain, True, None),
    "ConfigMap": _KindRules(names.dns1123_subdomain, True, configdata.validate_config_map),
    "Secret": _KindRules(names.dns1123_subdomain, True, configdata.validate_secret),
}
