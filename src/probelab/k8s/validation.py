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

from probelab.k8s import configdata, cron, names, nodespec, podspec
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


def _template(check: Checker, template: Obj, selector: Any, path: str = "spec.template",
              restart_policies: tuple[str, ...] = ("Always",)) -> None:
    meta = template.get("metadata") if isinstance(template.get("metadata"), dict) else {}
    template_labels = meta.get("labels")
    labels(check, f"{path}.metadata.labels", template_labels)
    _annotations(check, f"{path}.metadata.annotations", meta.get("annotations"))
    if isinstance(selector, dict) and (selector.get("matchLabels")
                                       or selector.get("matchExpressions")):
        try:
            matches = from_label_selector(selector).matches(
                template_labels if isinstance(template_labels, dict) else {})
        except (SelectorError, TypeError, AttributeError):
            matches = True  # the selector's own errors are already reported
        if not matches:
            check.invalid(f"{path}.metadata.labels", template_labels,
                          "`selector` does not match template `labels`")
    spec = template.get("spec")
    if spec is None:
        check.required(f"{path}.spec", "")
    elif not isinstance(spec, dict):
        check.invalid(f"{path}.spec", spec, "must be an object")
    else:
        podspec.validate_pod_spec(check, f"{path}.spec", spec)
        policy = spec.get("restartPolicy", "Always")
        if policy not in restart_policies:
            check.not_supported(f"{path}.spec.restartPolicy", policy, restart_policies)


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


# --- StatefulSets, DaemonSets, Jobs, CronJobs (pkg/apis/apps/validation/validation.go,
# pkg/apis/batch/validation/validation.go) ------------------------------------------------

POD_MANAGEMENT_POLICIES = ("OrderedReady", "Parallel")
SET_UPDATE_TYPES = ("RollingUpdate", "OnDelete")
# `ValidateStatefulSetUpdate`: the only spec fields an update may change.
STATEFUL_SET_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy",
                        "persistentVolumeClaimRetentionPolicy", "minReadySeconds")
CONCURRENCY_POLICIES = ("Allow", "Forbid", "Replace")
COMPLETION_MODES = ("NonIndexed", "Indexed")
JOB_RESTART_POLICIES = ("OnFailure", "Never")
CRON_JOB_NAME_MAX = 52  # validation.go: the Job names it makes get an 11-character suffix


def _selector_and_template(check: Checker, spec: Obj, kind: str,
                           restart_policies: tuple[str, ...] = ("Always",)) -> None:
    """A required, non-empty selector that matches the template's labels."""
    selector = spec.get("selector")
    if selector is None:
        check.required("spec.selector", "")
    elif not isinstance(selector, dict):
        check.invalid("spec.selector", selector, "must be an object")
    elif not selector.get("matchLabels") and not selector.get("matchExpressions"):
        check.invalid("spec.selector", selector, f"empty selector is invalid for {kind}")
    else:
        label_selector(check, "spec.selector", selector)
    template = spec.get("template")
    if template is None:
        check.required("spec.template", "")
    elif not isinstance(template, dict):
        check.invalid("spec.template", template, "must be an object")
    else:
        _template(check, template, selector, restart_policies=restart_policies)


def _set_update_strategy(check: Checker, strategy: Any, kind: str) -> None:
    path = "spec.updateStrategy"
    if not isinstance(strategy, dict):
        check.invalid(path, strategy, "must be an object")
        return
    kind_of, rolling = strategy.get("type"), strategy.get("rollingUpdate")
    if kind_of not in SET_UPDATE_TYPES:
        check.not_supported(f"{path}.type", kind_of, SET_UPDATE_TYPES)
        return
    if kind_of == "OnDelete" and rolling is not None:
        check.invalid(f"{path}.rollingUpdate", rolling,
                      "only allowed for updateStrategy 'RollingUpdate'")
        return
    if not isinstance(rolling, dict):
        return
    if kind == "statefulset":
        check.non_negative(f"{path}.rollingUpdate.partition", rolling.get("partition"))
        unavailable = rolling.get("maxUnavailable")
        if unavailable is not None and check.int_or_percent(
                f"{path}.rollingUpdate.maxUnavailable", unavailable) and _is_zero(unavailable):
            check.invalid(f"{path}.rollingUpdate.maxUnavailable", unavailable,
                          "must be greater than 0")
        return
    surge, unavailable = rolling.get("maxSurge"), rolling.get("maxUnavailable")
    ok_surge = check.int_or_percent(f"{path}.rollingUpdate.maxSurge", surge)
    ok_unavailable = check.int_or_percent(f"{path}.rollingUpdate.maxUnavailable", unavailable)
    if ok_surge and ok_unavailable and _is_zero(surge) and _is_zero(unavailable):
        check.invalid(f"{path}.rollingUpdate.maxUnavailable", unavailable,
                      "cannot be 0 when maxSurge is 0")


def _stateful_set(check: Checker, obj: Obj, old: Obj | None) -> None:
    spec = _spec(check, obj)
    if spec is None:
        return
    check.non_negative("spec.replicas", spec.get("replicas"))
    check.non_negative("spec.minReadySeconds", spec.get("minReadySeconds"))
    check.non_negative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
    policy = spec.get("podManagementPolicy")
    if policy not in POD_MANAGEMENT_POLICIES:
        check.not_supported("spec.podManagementPolicy", policy, POD_MANAGEMENT_POLICIES)
    _set_update_strategy(check, spec.get("updateStrategy"), "statefulset")
    service = spec.get("serviceName")
    if service:
        check.name("spec.serviceName", service, names.dns1123_label)
    # The pods get one volume per claim template (`updateStorage`), so mounts may name them.
    with_claims = dict(spec)
    template = spec.get("template")
    claims = [c.get("metadata", {}).get("name") for c in spec.get("volumeClaimTemplates") or ()
              if isinstance(c, dict) and isinstance(c.get("metadata"), dict)]
    if claims and isinstance(template, dict) and isinstance(template.get("spec"), dict):
        pod = dict(template["spec"])
        volumes = [v for v in pod.get("volumes") or () if isinstance(v, dict)]
        taken = {v.get("name") for v in volumes}
        pod["volumes"] = volumes + [{"name": c, "emptyDir": {}} for c in claims
                                    if c and c not in taken]
        with_claims["template"] = {**template, "spec": pod}
    _selector_and_template(check, with_claims, "statefulset")
    pod = template.get("spec") if isinstance(template, dict) else None
    if isinstance(pod, dict) and pod.get("activeDeadlineSeconds") is not None:
        check.forbidden("spec.template.spec.activeDeadlineSeconds",
                        "activeDeadlineSeconds in StatefulSet is not Supported")
    old_spec = old.get("spec") if isinstance(old, dict) else None
    if isinstance(old_spec, dict):
        frozen = {k: v for k, v in spec.items() if k not in STATEFUL_SET_MUTABLE}
        old_frozen = {k: v for k, v in old_spec.items() if k not in STATEFUL_SET_MUTABLE}
        if frozen != old_frozen:
            check.forbidden("spec", "updates to statefulset spec for fields other than "
                            "'replicas', 'ordinals', 'template', 'updateStrategy', "
                            "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' "
                            "are forbidden")


def _daemon_set(check: Checker, obj: Obj, old: Obj | None) -> None:
    spec = _spec(check, obj)
    if spec is None:
        return
    check.non_negative("spec.minReadySeconds", spec.get("minReadySeconds"))
    check.non_negative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
    _set_update_strategy(check, spec.get("updateStrategy"), "daemonset")
    _selector_and_template(check, spec, "daemonset")
    old_spec = old.get("spec") if isinstance(old, dict) else None
    if isinstance(old_spec, dict) and old_spec.get("selector") != spec.get("selector"):
        check.invalid("spec.selector", spec.get("selector"), "field is immutable")


def _job_spec(check: Checker, spec: Obj, template_path: str = "spec.template") -> None:
    for key in ("parallelism", "completions", "backoffLimit", "ttlSecondsAfterFinished"):
        check.non_negative(f"spec.{key}", spec.get(key))
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None:
        check.at_least("spec.activeDeadlineSeconds", deadline, 1)
    mode = spec.get("completionMode", "NonIndexed")
    if mode not in COMPLETION_MODES:
        check.not_supported("spec.completionMode", mode, COMPLETION_MODES)
    elif mode == "Indexed" and spec.get("completions") is None:
        check.required("spec.completions",
                       "when completion mode is Indexed")
    template = spec.get("template")
    if template is None:
        check.required(template_path, "")
    elif not isinstance(template, dict):
        check.invalid(template_path, template, "must be an object")
    else:
        _template(check, template, spec.get("selector"), template_path, JOB_RESTART_POLICIES)


def _job(check: Checker, obj: Obj, old: Obj | None) -> None:
    spec = _spec(check, obj)
    if spec is None:
        return
    selector = spec.get("selector")
    if selector is None:
        check.required("spec.selector", "")
    elif isinstance(selector, dict):
        label_selector(check, "spec.selector", selector)
    _job_spec(check, spec)
    old_spec = old.get("spec") if isinstance(old, dict) else None
    if isinstance(old_spec, dict):
        for key in ("selector", "template", "completions", "completionMode"):
            if old_spec.get(key) != spec.get(key):
                check.invalid(f"spec.{key}", spec.get(key), "field is immutable")


def _cron_schedule(check: Checker, schedule: Any, time_zone: Any) -> None:
    """The schedule must parse as the controller will read it (`k8s.cron`, robfig/cron's
    ParseStandard); a time zone belongs in `spec.timeZone`, not in the schedule."""
    if not isinstance(schedule, str) or not schedule.strip():
        check.required("spec.schedule", "")
        return
    if "TZ=" in schedule:
        check.invalid("spec.schedule", schedule,
                      "cannot use TZ or CRON_TZ in schedule, use timeZone field instead")
        return
    try:
        cron.parse(schedule)
    except cron.ScheduleError as exc:
        check.invalid("spec.schedule", schedule, str(exc))
    if time_zone is not None:
        try:
            cron.zone(str(time_zone))
        except cron.ScheduleError as exc:
            check.invalid("spec.timeZone", time_zone, str(exc))


def _cron_job(check: Checker, obj: Obj, old: Obj | None) -> None:
    spec = _spec(check, obj)
    if spec is None:
        return
    name = (obj.get("metadata") or {}).get("name")
    if isinstance(name, str) and len(name) > CRON_JOB_NAME_MAX:
        check.invalid("metadata.name", name,
                      f"must be no more than {CRON_JOB_NAME_MAX} characters")
    _cron_schedule(check, spec.get("schedule"), spec.get("timeZone"))
    policy = spec.get("concurrencyPolicy")
    if policy not in CONCURRENCY_POLICIES:
        check.not_supported("spec.concurrencyPolicy", policy, CONCURRENCY_POLICIES)
    for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit",
                "failedJobsHistoryLimit"):
        check.non_negative(f"spec.{key}", spec.get(key))
    job_template = spec.get("jobTemplate")
    job_spec = job_template.get("spec") if isinstance(job_template, dict) else None
    if not isinstance(job_spec, dict):
        check.required("spec.jobTemplate.spec", "")
        return
    _job_spec(check, job_spec, "spec.jobTemplate.spec.template")


# --- Ingresses and HorizontalPodAutoscalers (pkg/apis/networking/validation,
# pkg/apis/autoscaling/validation) ----------------------------------------------------------

PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")
METRIC_SOURCE_TYPES = ("ContainerResource", "External", "Object", "Pods", "Resource")


def _ingress_backend(check: Checker, path: str, backend: Any) -> None:
    if not isinstance(backend, dict):
        check.invalid(path, backend, "must be an object")
        return
    service, resource = backend.get("service"), backend.get("resource")
    if service is not None and resource is not None:
        check.invalid(path, "", "cannot set both resource and service backends")
    elif service is None and resource is None:
        check.invalid(path, "", "resource or service backend is required")
    elif isinstance(service, dict):
        if not service.get("name"):
            check.required(f"{path}.service.name", "")
        port = service.get("port")
        if not isinstance(port, dict) or (port.get("name") is None
                                          and port.get("number") is None):
            check.required(f"{path}.service.port", "port name or number is required")
        elif port.get("name") is not None and port.get("number") is not None:
            check.invalid(f"{path}.service.port", port, "cannot set both port name & number")
        elif port.get("number") is not None:
            check.port_number(f"{path}.service.port.number", port.get("number"))


def _ingress(check: Checker, obj: Obj, old: Obj | None) -> None:
    spec = _spec(check, obj)
    if spec is None:
        return
    rules = spec.get("rules")
    if spec.get("defaultBackend") is not None:
        _ingress_backend(check, "spec.defaultBackend", spec["defaultBackend"])
    elif not rules:
        check.invalid("spec.rules", rules,
                      "either `defaultBackend` or `rules` must be specified")
    for at, rule in check.objects("spec.rules", rules):
        host = rule.get("host")
        if host:
            bare = host[2:] if isinstance(host, str) and host.startswith("*.") else host
            check.name(f"{at}.host", bare, names.dns1123_subdomain)
        http = rule.get("http")
        if http is None:
            continue
        paths = http.get("paths") if isinstance(http, dict) else None
        if not paths:
            check.required(f"{at}.http.paths", "")
        for p_at, p in check.objects(f"{at}.http.paths", paths):
            kind = p.get("pathType")
            if kind is None:
                check.required(f"{p_at}.pathType", "pathType must be specified")
            elif kind not in PATH_TYPES:
                check.not_supported(f"{p_at}.pathType", kind, PATH_TYPES)
            value = p.get("path")
            if kind in ("Exact", "Prefix") and (not isinstance(value, str)
                                                or not value.startswith("/")):
                check.invalid(f"{p_at}.path", value, "must be an absolute path")
            _ingress_backend(check, f"{p_at}.backend", p.get("backend"))


def _horizontal_pod_autoscaler(check: Checker, obj: Obj, old: Obj | None) -> None:
    spec = _spec(check, obj)
    if spec is None:
        return
    ref = spec.get("scaleTargetRef")
    if not isinstance(ref, dict):
        check.required("spec.scaleTargetRef", "")
    else:
        if not ref.get("kind"):
            check.required("spec.scaleTargetRef.kind", "")
        if not ref.get("name"):
            check.required("spec.scaleTargetRef.name", "")
    low, high = spec.get("minReplicas"), spec.get("maxReplicas")
    if low is not None:
        check.at_least("spec.minReplicas", low, 1)
    if high is None:
        check.required("spec.maxReplicas", "")
    else:
        check.at_least("spec.maxReplicas", high, 1)
        if is_int(low) and is_int(high) and high < low:
            check.invalid("spec.maxReplicas", high,
                          "must be greater than or equal to `minReplicas`")
    for at, metric in check.objects("spec.metrics", spec.get("metrics")):
        if metric.get("type") not in METRIC_SOURCE_TYPES:
            check.not_supported(f"{at}.type", metric.get("type"), METRIC_SOURCE_TYPES)


_RULES: dict[str, _KindRules] = {
    "StatefulSet": _KindRules(names.dns1123_label, True, _stateful_set),
    "DaemonSet": _KindRules(names.dns1123_subdomain, True, _daemon_set),
    "Job": _KindRules(names.dns1123_subdomain, True, _job),
    "CronJob": _KindRules(names.dns1123_subdomain, True, _cron_job),
    "Ingress": _KindRules(names.dns1123_subdomain, True, _ingress),
    "HorizontalPodAutoscaler": _KindRules(names.dns1123_subdomain, True,
                                          _horizontal_pod_autoscaler),
    "Namespace": _KindRules(names.dns1123_label, False, _namespace),
    "Service": _KindRules(names.dns1035_label, True, _service),
    "Pod": _KindRules(names.dns1123_subdomain, True, _pod),
    "Deployment": _KindRules(names.dns1123_subdomain, True, _deployment),
    "ReplicaSet": _KindRules(names.dns1123_subdomain, True, _replica_set),
    "EndpointSlice": _KindRules(names.dns1123_subdomain, True, _endpoint_slice),
    "Endpoints": _KindRules(names.dns1123_subdomain, True, None),
    "Event": _KindRules(names.dns1123_subdomain, True, None),
    "Node": _KindRules(names.dns1123_subdomain, False, nodespec.node),
    "PodDisruptionBudget": _KindRules(
        names.dns1123_subdomain, True,
        lambda check, obj, old: nodespec.pod_disruption_budget(check, obj, label_selector)),
    "ConfigMap": _KindRules(names.dns1123_subdomain, True, configdata.validate_config_map),
    "Secret": _KindRules(names.dns1123_subdomain, True, configdata.validate_secret),
}
