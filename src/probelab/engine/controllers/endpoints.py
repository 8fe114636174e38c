"""The endpoints controllers: for every Service with a selector, one legacy `Endpoints` object
and the `EndpointSlice`s (discovery.k8s.io/v1) listing the selected pods that have an IP.

What a pod contributes is decided by the pure functions below, after
`staging/src/k8s.io/endpointslice/utils.go` (podToEndpoint: ready / serving / terminating),
`pkg/api/v1/endpoints` + `pkg/controller/endpoint/endpoints_controller.go` (legacy Endpoints:
terminating pods left out, unready ones in notReadyAddresses), `pkg/api/v1/pod/util.go`
(FindPort: targetPort by number or by the container port's name) and
`pkg/controller/util/endpoint` (ShouldPodBeInEndpoints). The slices are what the service proxy
(`proxy.component`, `proxy.rules.endpoints_for_port`) applies after its delay: one port
per Service port, named after it, and the `kubernetes.io/service-name` label.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field

from probelab.engine.controllers import pods as podutil
from probelab.engine.controllers.base import Controller
from probelab.engine.core.store import EventType, NotFound, Store, WatchEvent
from probelab.k8s.labels import from_map
from probelab.k8s.objects import Obj, meta, spec

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
SLICES_BY_SERVICE = "endpoints/service"  # store index: (namespace, Service) of managed slices
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
HEADLESS_LABEL = "service.kubernetes.io/headless"

PortKey = tuple[str, int, str, str]  # (service port name, number on the pod, protocol, appProtocol)


@dataclass(frozen=True)
class Conditions:
    """EndpointSlice endpoint conditions of one pod."""

    ready: bool  # new connections should go here
    serving: bool  # the pod answers (its readiness), even while terminating
    terminating: bool  # the pod is being deleted


# ---- per pod ---------------------------------------------------------------------------------
def selects_pods(service: Obj) -> bool:
    """Services without a selector (endpoints managed by hand) and ExternalName Services get
    nothing from these controllers."""
    return bool(spec(service).get("selector")) and spec(service).get("type") != "ExternalName"


def publishes_not_ready(service: Obj) -> bool:
    return bool(spec(service).get("publishNotReadyAddresses"))


def in_slices(pod: Obj) -> bool:
    """A pod belongs in the slices while it has an IP and is not Succeeded/Failed, terminating
    or not (`ShouldPodBeInEndpoints(pod, includeTerminating=true)`)."""
    return not podutil.is_terminal(pod) and bool(podutil.pod_ip(pod))


def in_endpoints(pod: Obj, publish_not_ready: bool) -> bool:
    """Legacy Endpoints leave terminating pods out unless publishNotReadyAddresses is set."""
    return in_slices(pod) and (publish_not_ready or not podutil.is_terminating(pod))


def endpoint_conditions(pod: Obj, publish_not_ready: bool) -> Conditions:
    """serving = Ready (or publishNotReadyAddresses); terminating = deletionTimestamp set;
    ready = serving and not terminating, or publishNotReadyAddresses (`podToEndpoint`)."""
    serving = publish_not_ready or podutil.is_ready(pod)
    terminating = podutil.is_terminating(pod)
    return Conditions(publish_not_ready or (serving and not terminating), serving, terminating)


def resolve_port(pod: Obj, service_port: Obj) -> int | None:
    """The pod port a Service port sends to (`FindPort`): a numeric targetPort as is; a named
    one from the containerPort of that name and protocol; absent means the Service port."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int) and not isinstance(target, bool):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol") or "TCP"
    for container in [*(spec(pod).get("containers") or ()),
                      *(c for c in spec(pod).get("initContainers") or ()
                        if c.get("restartPolicy") == "Always")]:
        for port in container.get("ports") or ():
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                return int(port["containerPort"])
    return None


def endpoint_ports(pod: Obj, service: Obj) -> tuple[PortKey, ...]:
    """The pod's port for every Service port it can serve (unresolvable ones are skipped)."""
    out = []
    for sp in spec(service).get("ports") or ():
        number = resolve_port(pod, sp)
        if number is not None:
            out.append((sp.get("name") or "", number, sp.get("protocol") or "TCP",
                        sp.get("appProtocol") or ""))
    return tuple(out)


def _port_dicts(ports: Sequence[PortKey]) -> list[Obj]:
    out = []
    for name, number, protocol, app in ports:
        entry: Obj = {"name": name, "port": number, "protocol": protocol}
        if app:
            entry["appProtocol"] = app
        out.append(entry)
    return out


def _target_ref(pod: Obj) -> Obj:
    m = meta(pod)
    return {"kind": "Pod", "namespace": m.get("namespace"), "name": m.get("name"),
            "uid": m.get("uid")}


# ---- EndpointSlices --------------------------------------------------------------------------
def slice_endpoint(pod: Obj, publish_not_ready: bool) -> Obj:
    cond = endpoint_conditions(pod, publish_not_ready)
    ep: Obj = {"addresses": [podutil.pod_ip(pod)],
               "conditions": {"ready": cond.ready, "serving": cond.serving,
                              "terminating": cond.terminating},
               "targetRef": _target_ref(pod)}
    if spec(pod).get("nodeName"):
        ep["nodeName"] = spec(pod)["nodeName"]
    return ep


def slice_labels(service: Obj) -> dict[str, str]:
    """The Service's labels, the headless marker, the Service name and the manager."""
    labels = {k: v for k, v in (meta(service).get("labels") or {}).items()
              if k not in (SERVICE_NAME_LABEL, MANAGED_BY_LABEL)}
    if spec(service).get("clusterIP") == "None":
        labels[HEADLESS_LABEL] = ""
    labels[SERVICE_NAME_LABEL] = meta(service)["name"]
    labels[MANAGED_BY_LABEL] = MANAGED_BY
    return labels


def desired_slices(service: Obj, pods: Iterable[Obj]) -> list[tuple[list[Obj], list[Obj]]]:
    """(ports, endpoints) of each slice the Service needs: pods grouped by the ports they
    resolve to (usually one group), sorted by pod name; one empty slice when nothing is
    selected, as Kubernetes keeps a placeholder."""
    publish = publishes_not_ready(service)
    groups: dict[tuple[PortKey, ...], list[Obj]] = {}
    for pod in sorted(pods, key=lambda p: meta(p).get("name") or ""):
        if in_slices(pod) and ":" not in podutil.pod_ip(pod):
            groups.setdefault(endpoint_ports(pod, service), []).append(
                slice_endpoint(pod, publish))
    if not groups:
        return [([], [])]
    return [(_port_dicts(ports), eps) for ports, eps in sorted(groups.items())]


@dataclass
class SlicePlan:
    create: list[Obj] = field(default_factory=list)
    update: list[Obj] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)


def plan_slices(service: Obj, existing: Sequence[Obj], pods: Iterable[Obj]) -> SlicePlan:
    """Turn the existing managed slices of a Service into the desired ones: a slice whose
    ports match is updated in place, left-over slices are reused or deleted, missing ones are
    created with generateName `<service>-`. Unchanged slices are not written."""
    plan = SlicePlan()
    labels = slice_labels(service)
    pool = sorted(existing, key=lambda s: meta(s).get("name") or "")
    wanted = desired_slices(service, pods)
    matched: list[tuple[Obj | None, list[Obj], list[Obj]]] = []
    for ports, eps in wanted:
        same = next((s for s in pool if (s.get("ports") or []) == ports), None)
        if same is not None:
            pool.remove(same)
        matched.append((same, ports, eps))
    for i, (current, ports, eps) in enumerate(matched):
        if current is None and pool:
            matched[i] = (pool.pop(0), ports, eps)
    for current, ports, eps in matched:
        if current is None:
            plan.create.append({
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"generateName": f"{meta(service)['name']}-",
                             "namespace": meta(service).get("namespace"), "labels": labels,
                             "ownerReferences": [podutil.controller_ref(service, "v1",
                                                                        "Service")]},
                "addressType": "IPv4", "endpoints": eps, "ports": ports})
            continue
        new = copy.deepcopy(current)
        new["metadata"]["labels"] = labels
        new.update({"addressType": "IPv4", "endpoints": eps, "ports": ports})
        if new != current:
            plan.update.append(new)
    plan.delete = [meta(s)["name"] for s in pool]
    return plan


# ---- Endpoints ---------------------------------------------------------------------------------
def desired_endpoints(service: Obj, pods: Iterable[Obj]) -> Obj:
    """The legacy Endpoints object: subsets of pods sharing the same ports, ready pods in
    `addresses`, the others in `notReadyAddresses`, sorted by IP (`RepackSubsets`)."""
    publish = publishes_not_ready(service)
    has_ports = bool(spec(service).get("ports"))
    subsets: dict[tuple[PortKey, ...], dict[str, list[Obj]]] = {}
    for pod in pods:
        if not in_endpoints(pod, publish):
            continue
        ports = endpoint_ports(pod, service)
        if has_ports and not ports:
            continue
        address: Obj = {"ip": podutil.pod_ip(pod), "targetRef": _target_ref(pod)}
        if spec(pod).get("nodeName"):
            address["nodeName"] = spec(pod)["nodeName"]
        ready = publish or podutil.is_ready(pod)
        group = subsets.setdefault(ports, {"addresses": [], "notReadyAddresses": []})
        group["addresses" if ready else "notReadyAddresses"].append(address)
    out = []
    for ports, group in sorted(subsets.items()):
        subset: Obj = {k: sorted(v, key=lambda a: a["ip"]) for k, v in group.items() if v}
        if ports:
            subset["ports"] = [{k: v for k, v in p.items() if v != ""}
                               for p in _port_dicts(ports)]
        out.append(subset)
    labels = {k: v for k, v in (meta(service).get("labels") or {}).items()}
    if spec(service).get("clusterIP") == "None":
        labels[HEADLESS_LABEL] = ""
    m: Obj = {"name": meta(service)["name"], "namespace": meta(service).get("namespace")}
    if labels:
        m["labels"] = labels
    obj: Obj = {"apiVersion": "v1", "kind": "Endpoints", "metadata": m}
    if out:
        obj["subsets"] = out
    return obj


# ---- the component ---------------------------------------------------------------------------
class EndpointsController(Controller):
    """Engine component "endpoints": Endpoints and EndpointSlices, reconciled per Service."""

    name = "endpoints"
    watched = ("services", "pods", "endpointslices")
    primary = "services"

    def __init__(self) -> None:
        super().__init__()
        self._pod_labels: dict[tuple[str, str], dict[str, str]] = {}

    def initial_keys(self, store: Store) -> Iterable[Hashable]:
        store.add_index("endpointslices", SLICES_BY_SERVICE, _service_of_slice)
        pods, _ = store.list("pods")  # labels as of now, to notice a pod leaving a selector
        self._pod_labels = {(meta(p).get("namespace") or "", meta(p)["name"]):
                            dict(meta(p).get("labels") or {}) for p in pods}
        return super().initial_keys(store)

    def keys_for(self, event: WatchEvent) -> Iterable[Hashable]:
        m = event.obj.get("metadata") or {}
        namespace = m.get("namespace") or ""
        if event.resource == "services":
            return [(namespace, m.get("name"))]
        if event.resource == "endpointslices":
            labels = m.get("labels") or {}
            if labels.get(MANAGED_BY_LABEL) == MANAGED_BY and labels.get(SERVICE_NAME_LABEL):
                return [(namespace, labels[SERVICE_NAME_LABEL])]
            return []
        key = (namespace, m.get("name") or "")
        old = self._pod_labels.pop(key, None)
        new = m.get("labels") or {}
        if event.type is not EventType.DELETED:
            self._pod_labels[key] = dict(new)
        services, _ = self.store.list("services", namespace, where=lambda s: selects_pods(s) and (
            from_map(spec(s)["selector"]).matches(new)
            or (old is not None and from_map(spec(s)["selector"]).matches(old))))
        return [(namespace, meta(s)["name"]) for s in services]

    def sync(self, key: Hashable) -> float | None:
        namespace, name = key  # type: ignore[misc]
        store = self.store
        service = store.find("services", namespace, name)
        existing = store.get_many("endpointslices", store.indexed(
            "endpointslices", SLICES_BY_SERVICE, (namespace, name)))
        if service is None:
            for s in existing:
                self._delete_quietly("endpointslices", namespace, meta(s)["name"])
            self._delete_quietly("endpoints", namespace, name)
            return None
        if not selects_pods(service):
            if spec(service).get("type") == "ExternalName":
                for s in existing:
                    self._delete_quietly("endpointslices", namespace, meta(s)["name"])
            return None
        pods, _ = store.list("pods", namespace, selector=from_map(spec(service)["selector"]))
        plan = plan_slices(service, existing, pods)
        for obj in plan.update:
            self.client.update("endpointslices", obj)
        for obj in plan.create:
            self.client.create("endpointslices", obj)
        for slice_name in plan.delete:
            self._delete_quietly("endpointslices", namespace, slice_name)
        self._write_endpoints(desired_endpoints(service, pods))
        return None

    def _write_endpoints(self, wanted: Obj) -> None:
        m = wanted["metadata"]
        current = self.store.find("endpoints", m["namespace"], m["name"])
        if current is None:
            self.client.create("endpoints", wanted)
            return
        new = copy.deepcopy(current)
        new["metadata"]["labels"] = m.get("labels") or {}
        if not new["metadata"]["labels"]:
            del new["metadata"]["labels"]
        new.pop("subsets", None)
        if "subsets" in wanted:
            new["subsets"] = wanted["subsets"]
        if new != current:
            self.client.update("endpoints", new)

    def _delete_quietly(self, resource: str, namespace: str, name: str) -> None:
        with contextlib.suppress(NotFound):
            self.client.delete(resource, namespace, name)


def _service_of_slice(obj: Obj) -> list[tuple[str, str]]:
    """The Service a slice this controller manages belongs to (the slices it reconciles)."""
    labels = meta(obj).get("labels") or {}
    service = labels.get(SERVICE_NAME_LABEL)
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY or not isinstance(service, str):
        return []
    return [(meta(obj).get("namespace") or "", service)]
