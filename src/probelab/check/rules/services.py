"""Services against the pod templates they are meant to select."""

from __future__ import annotations

from collections.abc import Iterator

from probelab.check.model import PROXY_TERMINATING_ENDPOINTS, Severity, TimingModel
from probelab.check.rules.catalogue import Hit, rule
from probelab.check.rules.common import unmatched
from probelab.check.workloads import Inventory
from probelab.k8s.intstr import is_int
from probelab.k8s.labels import to_string

DOCS_SERVICE = "https://kubernetes.io/docs/concepts/services-networking/service/"


@rule("service-selects-nothing", Severity.ERROR,
      "A Service whose selector matches no pod template of its namespace.",
      source=f"{DOCS_SERVICE} ; pkg/controller/endpointslice",
      why="""A selector that matches no pod leaves the Service without endpoints: every
      connection is refused (or times out behind a load balancer). Usual causes: a label renamed
      in the Deployment but not in the Service, a Helm release name in one selector only, the
      wrong namespace. Only checked when the input has pod templates in that namespace.""")
def service_selects_nothing(inv: Inventory, model: TimingModel) -> Iterator[Hit]:
    selecting = [s for s in inv.services if s.selector]
    for service, count in unmatched(inv, selecting, lambda s, w: w in inv.workloads_for(s)):
        yield Hit(service.ref, None, "spec.selector",
                  f"selector {to_string(service.selector)} matches none of the {count} pod "
                  f"template(s) in namespace {service.ref.namespace}: the Service has no "
                  "endpoints", "make spec.selector a subset of the pod template's labels")


@rule("service-target-port-unknown", Severity.ERROR,
      "A Service targetPort that no container of the selected pods declares.",
      source=f"{DOCS_SERVICE} (\"targetPort ... can be a name defined in the Pod\") ; "
             "pkg/api/v1/pod/util.go (FindPort)",
      why="""A named targetPort is looked up in the pod's container ports; a pod without it is
      left out of the endpoints, so the Service is empty. A numeric targetPort needs no
      declaration, but one that none of the declared ports matches usually means the app
      listens elsewhere (warning).""")
def service_target_port_unknown(inv: Inventory, model: TimingModel) -> Iterator[Hit]:
    for service in inv.services:
        workloads = inv.workloads_for(service)
        if not workloads:
            continue
        for i, port in enumerate(service.ports):
            target = port.get("targetPort", port.get("port"))
            containers = [c for w in workloads for c in w.containers]
            if any(c.declares(target) for c in containers):
                continue
            field = f"spec.ports[{i}].targetPort"
            declared = sorted({str(p.get("name") if isinstance(target, str) else
                                   p.get("containerPort"))
                               for c in containers for p in c.ports})
            if isinstance(target, str):
                yield Hit(service.ref, None, field,
                          f"targetPort {target!r} is not a port name of the selected pods "
                          f"({', '.join(declared) or 'none declared'}): they get no endpoints",
                          "use one of the container port names, or the number")
            elif is_int(target) and declared:
                yield Hit(service.ref, None, field,
                          f"targetPort {target} is not among the selected pods' declared ports "
                          f"({', '.join(declared)})",
                          "point targetPort at the port the app listens on (by name)",
                          Severity.WARNING)


@rule("external-traffic-local-without-pte", Severity.WARNING,
      "externalTrafficPolicy: Local before ProxyTerminatingEndpoints (Kubernetes < 1.26).",
      source="KEP-1669 (ProxyTerminatingEndpoints: beta and on by default 1.26, GA 1.28)",
      why="""With externalTrafficPolicy Local, a node only forwards to its own pods. Before
      KEP-1669, when the last local pod starts terminating the node drops the traffic the
      external load balancer still sends it until the balancer's health check notices; from
      1.26 kube-proxy keeps using terminating-but-serving pods there, which is what a preStop
      delay and a graceful drain make safe.""")
def external_traffic_local(inv: Inventory, model: TimingModel) -> Iterator[Hit]:
    if model.kubernetes >= PROXY_TERMINATING_ENDPOINTS:
        return
    for service in inv.services:
        if (service.external_traffic_policy == "Local"
                and service.type in ("LoadBalancer", "NodePort")):
            yield Hit(service.ref, None, "spec.externalTrafficPolicy",
                      f"externalTrafficPolicy Local on Kubernetes {model.version}: traffic to "
                      "a node whose last pod is terminating is dropped until the load "
                      "balancer's health check marks the node down",
                      "upgrade to 1.26+ or use Cluster, or make the preStop delay longer than "
                      "the load balancer's health-check failure time")
