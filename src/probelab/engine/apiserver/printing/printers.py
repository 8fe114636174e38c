"""Cell rules of server-side printing: what `kubectl get` shows in each column, per resource.

Rules follow kubernetes `pkg/printers/internalversion/printers.go` (pod STATUS and RESTARTS,
service PORT(S), endpoints lists, event sources) and durations follow
`k8s.io/apimachinery/pkg/util/duration.HumanDuration`. Every function is pure: an object and
`now` (seconds since the epoch) in, cells out. `printing.tables` puts the cells under their
column definitions in a `meta.k8s.io/v1` Table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from probelab.engine.core.clock import parse_rfc3339
from probelab.k8s.objects import Obj

Cells = list[Any]

NONE = "<none>"


def human_duration(seconds: float) -> str:
    """kubectl's age format: `45s`, `3m2s`, `15m`, `5h3m`, `20h`, `3d4h`, `30d`, `2y3d`.

    Detail drops as the age grows; a clock up to one second behind still reads `0s`.
    """
    secs = int(seconds)
    if secs < -1:
        return "<invalid>"
    if secs < 0:
        return "0s"
    if secs < 120:
        return f"{secs}s"
    minutes = secs // 60
    if minutes < 10:
        rest = secs % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = secs // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    years, rest = divmod(days, 365)
    if days < 365 * 8 and rest:
        return f"{years}y{rest}d"
    return f"{years}y"


def since(timestamp: str | None, now: float) -> str:
    """Age of an RFC 3339 timestamp, or `<unknown>` when there is none."""
    if not timestamp:
        return "<unknown>"
    try:
        return human_duration(now - parse_rfc3339(timestamp))
    except ValueError:
        return "<unknown>"


def _age(obj: Obj, now: float) -> str:
    return since((obj.get("metadata") or {}).get("creationTimestamp"), now)


def _name(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("name", "")


def format_labels(labels: Mapping[str, str] | None) -> str:
    """`a=1,b=2` sorted by key, `<none>` when empty (labels.FormatLabels)."""
    if not labels:
        return NONE
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def format_selector(selector: Mapping[str, Any] | None) -> str:
    """A structured label selector as kubectl prints it (`app=web,tier in (a,b),!legacy`)."""
    if selector is None:
        return NONE
    terms: list[tuple[str, str]] = [
        (k, f"{k}={v}") for k, v in (selector.get("matchLabels") or {}).items()
    ]
    for expr in selector.get("matchExpressions") or []:
        key, op = expr.get("key", ""), expr.get("operator", "")
        values = ",".join(sorted(expr.get("values") or []))
        text = {
            "In": f"{key} in ({values})",
            "NotIn": f"{key} notin ({values})",
            "Exists": key,
            "DoesNotExist": f"!{key}",
        }.get(op)
        if text is None:
            return "<invalid>"
        terms.append((key, text))
    return ",".join(text for _, text in sorted(terms))


def _containers_and_images(template: Mapping[str, Any]) -> tuple[str, str]:
    containers = ((template.get("spec") or {}).get("containers")) or []
    return (
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
    )


# --- pods -----------------------------------------------------------------------------------


def _restartable_init(container: Mapping[str, Any] | None) -> bool:
    return bool(container) and container.get("restartPolicy") == "Always"


def _condition_true(status: Mapping[str, Any], kind: str) -> bool:
    return any(
        c.get("type") == kind and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def _terminated_reason(term: Mapping[str, Any], prefix: str = "") -> str:
    if term.get("reason"):
        return prefix + term["reason"]
    if term.get("signal"):
        return f"{prefix}Signal:{term['signal']}"
    return f"{prefix}ExitCode:{term.get('exitCode', 0)}"


def pod_status_text(pod: Obj) -> tuple[str, int, int, int, str]:
    """(STATUS, ready containers, total containers, restarts, last restart time or "").

    The printer's rule: start from the phase (or `status.reason`); an init container still
    working shows `Init:...`; otherwise the last container with a waiting or terminated reason
    wins (`ContainerCreating`, `ErrImagePull`, `CrashLoopBackOff`, `Completed`, `Error`); a pod
    with a deletionTimestamp that has not finished shows `Terminating`.
    """
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    reason = status.get("reason") or phase
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"
    inits = {c.get("name"): c for c in spec.get("initContainers") or []}
    total = len(spec.get("containers") or []) + sum(map(_restartable_init, inits.values()))
    ready = restarts = sidecar_restarts = 0
    last_restart = sidecar_last = ""

    initializing = False
    n_inits = len(spec.get("initContainers") or [])
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        state, sidecar = cs.get("state") or {}, _restartable_init(inits.get(cs.get("name")))
        finished = ((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt") or ""
        restarts += cs.get("restartCount", 0)
        last_restart = max(last_restart, finished)
        if sidecar:
            sidecar_restarts += cs.get("restartCount", 0)
            sidecar_last = max(sidecar_last, finished)
        term, waiting = state.get("terminated"), state.get("waiting")
        if term and term.get("exitCode", 0) == 0:
            continue
        if sidecar and cs.get("started"):
            ready += bool(cs.get("ready"))
            continue
        initializing = True
        if term:
            reason = _terminated_reason(term, "Init:")
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{n_inits}"
        break

    if not initializing or _condition_true(status, "Initialized"):
        restarts, last_restart = sidecar_restarts, sidecar_last
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            state = cs.get("state") or {}
            restarts += cs.get("restartCount", 0)
            finished = (((cs.get("lastState") or {}).get("terminated") or {})
                        .get("finishedAt") or "")
            last_restart = max(last_restart, finished)
            waiting, term = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif term:
                reason = _terminated_reason(term)
            elif cs.get("ready") and "running" in state:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(status, "Ready") else "NotReady"

    deleting = bool((pod.get("metadata") or {}).get("deletionTimestamp"))
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    return reason, ready, total, restarts, last_restart


def pod_cells(pod: Obj, now: float) -> Cells:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    reason, ready, total, restarts, last_restart = pod_status_text(pod)
    restarts_text = str(restarts)
    if restarts and last_restart:
        restarts_text = f"{restarts} ({since(last_restart, now)} ago)"
    ips = status.get("podIPs") or []
    pod_ip = (ips[0].get("ip") if ips else status.get("podIP")) or NONE
    gates = spec.get("readinessGates") or []
    gates_text = NONE
    if gates:
        passed = sum(_condition_true(status, g.get("conditionType", "")) for g in gates)
        gates_text = f"{passed}/{len(gates)}"
    return [
        _name(pod), f"{ready}/{total}", reason, restarts_text, _age(pod, now),
        pod_ip, spec.get("nodeName") or NONE, status.get("nominatedNodeName") or NONE, gates_text,
    ]


def pod_conditions(pod: Obj) -> list[dict[str, str]]:
    phase = (pod.get("status") or {}).get("phase")
    if phase == "Succeeded":
        return [{"type": "Completed", "status": "True", "reason": "Succeeded",
                 "message": "The pod has completed successfully."}]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed",
                 "message": "The pod failed."}]
    return []


# --- workloads ------------------------------------------------------------------------------


def deployment_cells(dep: Obj, now: float) -> Cells:
    spec, status = dep.get("spec") or {}, dep.get("status") or {}
    desired = spec.get("replicas", 1)
    containers, images = _containers_and_images(spec.get("template") or {})
    return [
        _name(dep), f"{status.get('readyReplicas', 0)}/{desired}",
        status.get("updatedReplicas", 0), status.get("availableReplicas", 0), _age(dep, now),
        containers, images, format_selector(spec.get("selector")),
    ]


def replicaset_cells(rs: Obj, now: float) -> Cells:
    spec, status = rs.get("spec") or {}, rs.get("status") or {}
    containers, images = _containers_and_images(spec.get("template") or {})
    return [
        _name(rs), spec.get("replicas", 1), status.get("replicas", 0),
        status.get("readyReplicas", 0), _age(rs, now),
        containers, images, format_selector(spec.get("selector")),
    ]


# --- networking -----------------------------------------------------------------------------


def service_ports(ports: list[Mapping[str, Any]] | None) -> str:
    """`8080/TCP`, or `8080:31461/TCP` when a nodePort is allocated; comma-separated."""
    texts = []
    for port in ports or []:
        proto = port.get("protocol") or "TCP"
        if port.get("nodePort"):
            texts.append(f"{port.get('port')}:{port['nodePort']}/{proto}")
        else:
            texts.append(f"{port.get('port')}/{proto}")
    return ",".join(texts) or NONE


def _external_ip(spec: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    kind = spec.get("type") or "ClusterIP"
    external = list(spec.get("externalIPs") or [])
    if kind == "ExternalName":
        return spec.get("externalName") or NONE
    if kind == "LoadBalancer":
        ingress = (status.get("loadBalancer") or {}).get("ingress") or []
        external += [i.get("ip") or i.get("hostname") or "" for i in ingress]
        return ",".join(e for e in external if e) or "<pending>"
    return ",".join(external) or NONE


def service_cells(svc: Obj, now: float) -> Cells:
    spec, status = svc.get("spec") or {}, svc.get("status") or {}
    cluster_ips = spec.get("clusterIPs") or [spec.get("clusterIP") or NONE]
    return [
        _name(svc), spec.get("type") or "ClusterIP", cluster_ips[0], _external_ip(spec, status),
        service_ports(spec.get("ports")), _age(svc, now), format_labels(spec.get("selector")),
    ]


def _with_more(items: list[str], total: int, limit: int = 3, empty: str = "<unset>") -> str:
    """The first three, then `+ N more...` (printers.go listWithMoreString)."""
    text = ",".join(items[:limit])
    if total > limit:
        return f"{text} + {total - limit} more..."
    return text or empty


def format_endpoints(endpoints: Obj) -> str:
    """Ready `ip:port` pairs of an Endpoints object, three at most (printers.go formatEndpoints).

    `<none>` when there is no subset; an empty string when subsets hold no ready address.
    """
    subsets = endpoints.get("subsets") or []
    if not subsets:
        return NONE
    pairs: list[str] = []
    for subset in subsets:
        addresses = [a.get("ip", "") for a in subset.get("addresses") or []]
        ports = subset.get("ports") or []
        if not ports:
            pairs += addresses
        for port in ports:
            pairs += [f"{ip}:{port.get('port')}" for ip in addresses]
    return _with_more(pairs, len(pairs), empty="")


def endpoints_cells(ep: Obj, now: float) -> Cells:
    return [_name(ep), format_endpoints(ep), _age(ep, now)]


def endpointslice_cells(es: Obj, now: float) -> Cells:
    ports = [
        str(p["port"]) if p.get("port") is not None else (p.get("name") or "*")
        for p in es.get("ports") or []
    ]
    addresses = [a for e in es.get("endpoints") or [] for a in e.get("addresses") or []]
    return [
        _name(es), es.get("addressType", ""), _with_more(ports, len(ports)),
        _with_more(addresses, len(addresses)), _age(es, now),
    ]


# --- events and namespaces ------------------------------------------------------------------


def event_cells(ev: Obj, now: float) -> Cells:
    first = since(ev.get("firstTimestamp") or ev.get("eventTime"), now)
    last = since(ev["lastTimestamp"], now) if ev.get("lastTimestamp") else first
    count = ev.get("count") or 1
    series = ev.get("series")
    if series:
        last = since(series.get("lastObservedTime"), now)
        count = series.get("count", count)
    ref = ev.get("involvedObject") or {}
    target = (ref.get("kind") or "").lower()
    if ref.get("name"):
        target = f"{target}/{ref['name']}"
    source = ev.get("source") or {}
    component = source.get("component") or ev.get("reportingComponent") or ""
    instance = source.get("host") or ev.get("reportingInstance") or ""
    return [
        last, ev.get("type", ""), ev.get("reason", ""), target, ref.get("fieldPath", ""),
        f"{component}, {instance}" if instance else component,
        (ev.get("message") or "").strip(), first, count, _name(ev),
    ]


def namespace_cells(ns: Obj, now: float) -> Cells:
    return [_name(ns), (ns.get("status") or {}).get("phase", "Active"), _age(ns, now)]


def configmap_cells(cm: Obj, now: float) -> Cells:
    """NAME DATA AGE (`printConfigMap`: DATA counts data and binaryData keys)."""
    return [_name(cm), len(cm.get("data") or {}) + len(cm.get("binaryData") or {}),
            _age(cm, now)]


def secret_cells(secret: Obj, now: float) -> Cells:
    """NAME TYPE DATA AGE (`printSecret`)."""
    return [_name(secret), secret.get("type", ""), len(secret.get("data") or {}),
            _age(secret, now)]


def default_cells(obj: Obj, now: float) -> Cells:
    return [_name(obj), _age(obj, now)]


NODE_ROLE_PREFIX = "node-role.kubernetes.io/"


def node_roles(labels: Mapping[str, str] | None) -> str:
    """`findNodeRoles`: `node-role.kubernetes.io/ROLE` keys and the `kubernetes.io/role`
    value, sorted and comma-joined, `<none>` without any."""
    roles = set()
    for key, value in (labels or {}).items():
        if key.startswith(NODE_ROLE_PREFIX) and key[len(NODE_ROLE_PREFIX):]:
            roles.add(key[len(NODE_ROLE_PREFIX):])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return ",".join(sorted(roles)) or NONE


def node_status_text(node: Obj) -> str:
    """`printNode`: Ready / NotReady / Unknown from the Ready condition, then
    `SchedulingDisabled` when cordoned (`Ready,SchedulingDisabled`)."""
    ready = next((c for c in (node.get("status") or {}).get("conditions") or []
                  if isinstance(c, dict) and c.get("type") == "Ready"), None)
    if ready is None:
        words = ["Unknown"]
    else:
        words = ["Ready" if ready.get("status") == "True" else "NotReady"]
    if (node.get("spec") or {}).get("unschedulable"):
        words.append("SchedulingDisabled")
    return ",".join(words)


def _node_address(node: Obj, kind: str) -> str:
    for address in (node.get("status") or {}).get("addresses") or []:
        if isinstance(address, dict) and address.get("type") == kind:
            return str(address.get("address", ""))
    return NONE


def node_cells(node: Obj, now: float) -> Cells:
    info = (node.get("status") or {}).get("nodeInfo") or {}
    return [
        _name(node), node_status_text(node),
        node_roles((node.get("metadata") or {}).get("labels")), _age(node, now),
        info.get("kubeletVersion", ""),
        _node_address(node, "InternalIP"), _node_address(node, "ExternalIP"),
        info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


def pdb_cells(pdb: Obj, now: float) -> Cells:
    """`printPodDisruptionBudget`: N/A for the bound that is not set."""
    spec = pdb.get("spec") or {}
    return [
        _name(pdb),
        "N/A" if spec.get("minAvailable") is None else str(spec["minAvailable"]),
        "N/A" if spec.get("maxUnavailable") is None else str(spec["maxUnavailable"]),
        int((pdb.get("status") or {}).get("disruptionsAllowed") or 0), _age(pdb, now),
    ]
