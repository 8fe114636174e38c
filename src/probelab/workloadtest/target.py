"""Which workload, Service and port a test exercises, found in the manifests (pure).

The rule a user expects without flags: the one Deployment that a Service selects, loaded
through that Service. Anything ambiguous is a one-line `UsageError` naming the candidates, so
the user adds `--workload`, `--service` or `--port` instead of guessing what was tested.
Nothing here knows a name: namespaces, names and containers are whatever the manifests say.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from probelab.errors import UsageError
from probelab.k8s import labels

Obj = dict[str, Any]


@dataclass(frozen=True)
class ServicePort:
    name: str  # "" when the port is unnamed
    port: int
    node_port: int | None

    @property
    def label(self) -> str:
        return f"{self.port}" + (f" ({self.name})" if self.name else "")


@dataclass(frozen=True)
class Target:
    """The workload under test and the way in."""

    namespace: str
    deployment: str
    replicas: int
    selector: labels.Selector
    match_labels: dict[str, str]
    containers: tuple[str, ...]
    images: tuple[str, ...]  # every container's and init container's image
    grace_s: int  # the pod template's terminationGracePeriodSeconds (default 30)
    service: str
    port: ServicePort

    @property
    def label(self) -> str:
        return f"{self.namespace}/deployment/{self.deployment}"


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _ns(obj: Obj) -> str:
    return _meta(obj).get("namespace") or "default"


def _name(obj: Obj) -> str:
    return str(_meta(obj).get("name") or "")


def _template_labels(dep: Obj) -> dict[str, str]:
    template = (dep.get("spec") or {}).get("template") or {}
    return {str(k): str(v) for k, v in (_meta(template).get("labels") or {}).items()}


def containers_of(dep: Obj) -> tuple[str, ...]:
    spec = (((dep.get("spec") or {}).get("template") or {}).get("spec") or {})
    return tuple(str(c.get("name", "")) for c in spec.get("containers") or [])


def images_of(dep: Obj) -> tuple[str, ...]:
    spec = (((dep.get("spec") or {}).get("template") or {}).get("spec") or {})
    return tuple(str(c.get("image", "")) for key in ("initContainers", "containers")
                 for c in spec.get(key) or [])


def selects(svc: Obj, dep: Obj) -> bool:
    """A Service selects a Deployment's pods: same namespace and a non-empty selector that
    the pod template's labels satisfy."""
    selector = (svc.get("spec") or {}).get("selector") or {}
    return (bool(selector) and _ns(svc) == _ns(dep)
            and labels.from_map(selector).matches(_template_labels(dep)))


def _parse_workload(text: str) -> str:
    kind, sep, name = text.partition("/")
    if not sep:
        return text
    if kind.lower() not in ("deployment", "deployments", "deploy", "deployment.apps"):
        raise UsageError(f"--workload {text!r}: only Deployments can be tested (deployment/NAME)")
    if not name:
        raise UsageError(f"--workload {text!r}: expected deployment/NAME")
    return name


def _names(objs: list[Obj], kind: str) -> str:
    return ", ".join(f"{kind}/{_name(o)}" + (f" (namespace {_ns(o)})" if _ns(o) != "default"
                                             else "") for o in objs)


def find_target(objs: list[Obj], workload: str | None = None, service: str | None = None,
                port: str | None = None) -> Target:
    """The Target of the manifests, or a UsageError that lists the candidates."""
    deployments = [o for o in objs if o.get("kind") == "Deployment"]
    services = [o for o in objs if o.get("kind") == "Service"]
    if not deployments:
        raise UsageError("no Deployment in the manifests: probelab test rolls out and scales a "
                         "Deployment (StatefulSets and DaemonSets: not yet)")
    dep = _pick_deployment(deployments, services, workload, service)
    svc = _pick_service(services, dep, service)
    return Target(
        namespace=_ns(dep), deployment=_name(dep),
        replicas=_replicas(dep),
        selector=labels.from_label_selector((dep.get("spec") or {}).get("selector")),
        match_labels=dict(((dep.get("spec") or {}).get("selector") or {}).get("matchLabels")
                          or {}),
        containers=containers_of(dep), images=images_of(dep), grace_s=_grace(dep),
        service=_name(svc),
        port=pick_port(svc, port),
    )


def _grace(dep: Obj) -> int:
    spec = (((dep.get("spec") or {}).get("template") or {}).get("spec") or {})
    value = spec.get("terminationGracePeriodSeconds")
    return 30 if value is None else int(value)


def _replicas(dep: Obj) -> int:
    value = (dep.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def _pick_deployment(deployments: list[Obj], services: list[Obj], workload: str | None,
                     service: str | None) -> Obj:
    if workload is not None:
        name = _parse_workload(workload)
        found = [d for d in deployments if _name(d) == name]
        if not found:
            raise UsageError(f"--workload {workload}: no such Deployment in the manifests "
                             f"(candidates: {_names(deployments, 'deployment')})")
        if len(found) > 1:
            raise UsageError(f"--workload {workload}: Deployments of that name in several "
                             "namespaces; keep one namespace in the input")
        return found[0]
    if service is not None:
        svcs = [s for s in services if _name(s) == service]
        if not svcs:
            raise UsageError(f"--service {service}: no such Service in the manifests"
                             + (f" (candidates: {_names(services, 'service')})"
                                if services else ""))
        selected = [d for d in deployments if any(selects(s, d) for s in svcs)]
        if not selected:
            raise UsageError(f"service/{service} selects no Deployment's pods (selector "
                             f"{_selector_text(svcs[0])})")
    else:
        selected = [d for d in deployments if any(selects(s, d) for s in services)]
    if len(selected) == 1:
        return selected[0]
    if len(selected) > 1:
        raise UsageError(f"{len(selected)} Deployments are behind a Service: "
                         f"{_names(selected, 'deployment')}; choose one with --workload")
    if not services:
        raise UsageError(f"no Service in the manifests for {_names(deployments, 'deployment')}: "
                         "probelab test loads the workload through its Service")
    raise UsageError("no Service selects a Deployment's pods: "
                     + "; ".join(f"service/{_name(s)} selects {_selector_text(s)}"
                                 for s in services)
                     + f" (Deployments: {_names(deployments, 'deployment')})")


def _selector_text(svc: Obj) -> str:
    selector = (svc.get("spec") or {}).get("selector") or {}
    return labels.to_string(selector) if selector else "nothing (no selector)"


def _pick_service(services: list[Obj], dep: Obj, service: str | None) -> Obj:
    selecting = [s for s in services if selects(s, dep)]
    if service is not None:
        found = [s for s in services if _name(s) == service and _ns(s) == _ns(dep)]
        if not found:
            raise UsageError(f"--service {service}: no such Service in namespace {_ns(dep)}")
        if not selects(found[0], dep):
            raise UsageError(f"service/{service} does not select the pods of deployment/"
                             f"{_name(dep)} (selector {_selector_text(found[0])})")
        return found[0]
    if len(selecting) == 1:
        return selecting[0]
    if not selecting:
        raise UsageError(f"no Service selects the pods of deployment/{_name(dep)}; "
                         "probelab test loads the workload through its Service")
    raise UsageError(f"{len(selecting)} Services select deployment/{_name(dep)}: "
                     f"{_names(selecting, 'service')}; choose one with --service")


def pick_port(svc: Obj, wanted: str | None) -> ServicePort:
    """`--port` by name or number; without it the Service's first port (kubectl
    port-forward's choice too)."""
    ports = [p for p in (svc.get("spec") or {}).get("ports") or [] if isinstance(p, dict)]
    if not ports:
        raise UsageError(f"service/{_name(svc)} has no ports")
    chosen = ports[0]
    if wanted is not None:
        match = [p for p in ports if str(p.get("name", "")) == wanted
                 or str(p.get("port", "")) == wanted]
        if not match:
            have = ", ".join(ServicePort(str(p.get("name", "")), int(p.get("port", 0)),
                                         None).label for p in ports)
            raise UsageError(f"--port {wanted}: service/{_name(svc)} has no such port "
                             f"(ports: {have})")
        chosen = match[0]
    node_port = chosen.get("nodePort")
    return ServicePort(str(chosen.get("name") or ""), int(chosen.get("port", 0)),
                       int(node_port) if node_port else None)


def service_url(service: Obj, port: ServicePort, path: str, node_port_only: bool = False) -> str:
    """Where this machine reaches the Service on the local engine: the ClusterIP when it is a
    loopback address the engine listens on, else the node port on 127.0.0.1. `node_port_only`
    (a --profile other than kube-proxy, which serves node ports only) takes the node port or
    refuses."""
    spec = service.get("spec") or {}
    cluster_ip = str(spec.get("clusterIP") or "")
    path = path if path.startswith("/") else "/" + path
    try:
        loopback = ipaddress.ip_address(cluster_ip).is_loopback
    except ValueError:
        loopback = False
    if loopback and not node_port_only:
        return f"http://{cluster_ip}:{port.port}{path}"
    for entry in spec.get("ports") or []:
        if entry.get("port") == port.port and entry.get("nodePort"):
            return f"http://127.0.0.1:{entry['nodePort']}{path}"
    if node_port_only:
        raise UsageError(f"service/{_name(service)} has no nodePort: --profile ingress-nginx "
                         "and cloud-lb serve node ports (make it type: NodePort or "
                         "LoadBalancer)")
    raise UsageError(f"service/{_name(service)} port {port.label} cannot be reached from this "
                     "machine (no loopback ClusterIP, no nodePort)")


def join_url(url: str, path: str) -> str:
    """`--url` with `--path` when the URL names no path of its own (`minikube service --url`
    prints none)."""
    parts = urlsplit(url)
    if parts.path in ("", "/"):
        return urlunsplit(parts._replace(path=path if path.startswith("/") else "/" + path))
    return url


def node_url(service: Obj, port: ServicePort, nodes: list[dict[str, str]], path: str) -> str:
    """A real cluster: the Service port's NodePort on a node's ExternalIP, else InternalIP
    (what `minikube service --url` prints); none reachable is a one-line ask for --url."""
    node_port = next((int(e["nodePort"]) for e in (service.get("spec") or {}).get("ports") or []
                      if e.get("port") == port.port and e.get("nodePort")), None)
    if node_port is None:
        raise UsageError(f"service/{_name(service)} port {port.label} has no nodePort: pass "
                         "--url with an address this machine reaches it at")
    for kind in ("ExternalIP", "InternalIP"):
        for addr in nodes:
            if addr.get("type") == kind and addr.get("address"):
                host = addr["address"]
                host = f"[{host}]" if ":" in host else host
                return f"http://{host}:{node_port}{path}"
    raise UsageError(f"no node address to reach service/{_name(service)}'s NodePort "
                     f"{node_port}: pass --url")
