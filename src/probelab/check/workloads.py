"""Typed views of the loaded objects: pod templates, Services, PodDisruptionBudgets, HPAs.

Rules read these instead of raw dicts so that defaulting (`probelab.k8s.defaults`: probe
periods and thresholds, the 30 s grace period, the 25 %/25 % rolling update) and the
"which Service selects which pods" question are answered once. Objects of other kinds, and
ReplicaSets owned by a Deployment (`kubectl get all -o yaml` prints both), are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from probelab.k8s import convert, defaults, labels
from probelab.k8s.annotations import CHECK_IGNORE, DRAIN_SECONDS, PRESTOP_DELAY_SECONDS
from probelab.k8s.intstr import is_int
from probelab.k8s.objects import Obj

# kind -> path of the pod template's metadata/spec parent ("" for a bare Pod)
TEMPLATE_AT = {"Deployment": "spec.template", "StatefulSet": "spec.template",
               "DaemonSet": "spec.template", "ReplicaSet": "spec.template", "Pod": ""}
ROLLING_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")

# Annotations a pod template uses to declare what the manifest cannot show (docs/check.md).
PRESTOP_ANNOTATION = PRESTOP_DELAY_SECONDS
DRAIN_ANNOTATION = DRAIN_SECONDS
IGNORE_ANNOTATION = CHECK_IGNORE


@dataclass(frozen=True)
class Ref:
    """Which object a finding is about; `index` is its position in the input."""

    kind: str
    namespace: str
    name: str
    index: int


@dataclass
class Container:
    name: str
    path: str  # spec.template.spec.containers[0]
    spec: Obj  # defaulted

    @property
    def image(self) -> str:
        image = self.spec.get("image")
        return image if isinstance(image, str) else ""

    @property
    def ports(self) -> list[Obj]:
        return items(self.spec.get("ports"))

    def declares(self, port: Any) -> bool:
        """Whether `port` (a number or a name) is one of this container's `ports`."""
        key = "containerPort" if is_int(port) else "name"
        return any(p.get(key) == port for p in self.ports)

    def probe(self, which: str) -> Obj | None:
        probe = self.spec.get(which)
        return probe if isinstance(probe, dict) else None

    @property
    def prestop(self) -> Obj | None:
        hook = mapping(self.spec.get("lifecycle")).get("preStop")
        return hook if isinstance(hook, dict) else None


@dataclass
class Workload:
    ref: Ref
    obj: Obj
    template_path: str  # "spec.template" or "" for a Pod
    labels: dict[str, str]
    annotations: dict[str, str]
    pod: Obj  # the defaulted pod spec
    containers: list[Container]

    @property
    def pod_path(self) -> str:
        return f"{self.template_path}.spec" if self.template_path else "spec"

    @property
    def grace_s(self) -> int:
        grace = self.pod.get("terminationGracePeriodSeconds")
        return grace if is_int(grace) else defaults.DEFAULT_GRACE_PERIOD_S

    @property
    def grace_declared(self) -> bool:
        """Whether the manifest sets it (defaulting fills in 30 otherwise)."""
        raw = _dig(self.obj, self.pod_path)
        return isinstance(raw, dict) and is_int(raw.get("terminationGracePeriodSeconds"))

    @property
    def replicas(self) -> int | None:
        """Desired replicas for controllers that have them (1 when unset), else None."""
        if self.ref.kind in ("DaemonSet", "Pod"):
            return None
        value = (self.obj.get("spec") or {}).get("replicas")
        return value if is_int(value) else 1

    @property
    def replicas_declared(self) -> bool:
        return "replicas" in (self.obj.get("spec") or {})

    def declared_seconds(self, key: str, container: str) -> float | None:
        """`key.CONTAINER` or `key` from the template annotations, when it is a number."""
        for name in (f"{key}.{container}", key):
            value = self.annotations.get(name)
            if value is not None:
                try:
                    return float(value)
                except (TypeError, ValueError):
                    return None
        return None


@dataclass
class Service:
    ref: Ref
    obj: Obj
    selector: dict[str, str]  # empty: no selector (endpoints managed by hand)
    ports: list[Obj]
    type: str
    external_traffic_policy: str


@dataclass
class Budget:
    """A PodDisruptionBudget."""

    ref: Ref
    obj: Obj
    selector: labels.Selector | None  # None: unparsable
    min_available: int | str | None
    max_unavailable: int | str | None


@dataclass
class Autoscaler:
    """A HorizontalPodAutoscaler and the workload it scales."""

    ref: Ref
    obj: Obj
    target_kind: str
    target_name: str
    min_replicas: int
    max_replicas: int | None


@dataclass
class Inventory:
    workloads: list[Workload] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    budgets: list[Budget] = field(default_factory=list)
    autoscalers: list[Autoscaler] = field(default_factory=list)
    # every object of any kind: (ref, as written, served version with the API defaults)
    everything: list[tuple[Ref, Obj, Obj]] = field(default_factory=list)
    # namespace -> objects, built on first use: every "which X belongs to Y" question stays
    # within one namespace, so a thousand-file input does not become a million comparisons.
    _by_ns: dict[str, dict[str, list[Any]]] = field(default_factory=dict, repr=False)

    def in_namespace(self, what: str, namespace: str) -> list[Any]:
        """The workloads/services/budgets/autoscalers of one namespace."""
        index = self._by_ns.get(what)
        if index is None:
            index = self._by_ns[what] = {}
            for item in getattr(self, what):
                index.setdefault(item.ref.namespace, []).append(item)
        return index.get(namespace, [])

    def services_for(self, workload: Workload) -> list[Service]:
        """Services of the same namespace whose selector matches the pod template's labels."""
        return [s for s in self.in_namespace("services", workload.ref.namespace)
                if s.selector and labels.from_map(s.selector).matches(workload.labels)]

    def workloads_for(self, service: Service) -> list[Workload]:
        if not service.selector:
            return []
        selector = labels.from_map(service.selector)
        return [w for w in self.in_namespace("workloads", service.ref.namespace)
                if selector.matches(w.labels)]

    def budgets_for(self, workload: Workload) -> list[Budget]:
        return [b for b in self.in_namespace("budgets", workload.ref.namespace)
                if b.selector is not None and not b.selector.empty
                and b.selector.matches(workload.labels)]

    def autoscalers_for(self, workload: Workload) -> list[Autoscaler]:
        return [a for a in self.in_namespace("autoscalers", workload.ref.namespace)
                if a.target_kind == workload.ref.kind and a.target_name == workload.ref.name]


def mapping(value: Any) -> Obj:
    """`value` when it is an object, else empty: manifests are input, and a wrong type is the
    API server's validation to report, not a reason for the checker to crash."""
    return value if isinstance(value, dict) else {}


def items(value: Any) -> list[Obj]:
    """The object elements of `value` when it is a list (others are skipped)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _ref(obj: Obj, index: int) -> Ref:
    meta = obj.get("metadata") or {}
    return Ref(str(obj.get("kind")), str(meta.get("namespace") or "default"),
               str(meta.get("name") or meta.get("generateName") or ""), index)


def _str_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _dig(obj: Any, path: str) -> Any:
    for key in path.split(".") if path else []:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def served(obj: Obj) -> Obj:
    """A copy of `obj` as the API server stores it: converted from legacy API versions and
    defaulted (pod templates of every workload kind included), computed once per object."""
    converted, _ = convert.to_served_version(obj)
    out = defaults.apply_defaults(converted)
    if isinstance(out, dict) and out.get("kind") in ("StatefulSet", "DaemonSet"):
        pod = _dig(out, "spec.template.spec")  # kinds probelab.k8s.defaults does not know
        if isinstance(pod, dict):
            defaults.pod_spec(pod)
    return out


def workload(obj: Obj, index: int, stored: Obj | None = None) -> Workload | None:
    kind = obj.get("kind")
    if kind not in TEMPLATE_AT or _owned_by_deployment(obj):
        return None
    at = TEMPLATE_AT[kind]
    template = obj if not at else _dig(obj, at)
    if not isinstance(template, dict) or not isinstance(template.get("spec"), dict):
        return None
    pod = _dig(stored if stored is not None else served(obj), f"{at}.spec" if at else "spec")
    if not isinstance(pod, dict):
        return None
    meta = mapping(template.get("metadata"))
    pod_path = f"{at}.spec" if at else "spec"
    containers = [Container(str(c.get("name", "")), f"{pod_path}.containers[{i}]", c)
                  for i, c in enumerate(items(pod.get("containers")))]
    return Workload(_ref(obj, index), obj, at, _str_map(meta.get("labels")),
                    _str_map(meta.get("annotations")), pod, containers)


def _owned_by_deployment(obj: Obj) -> bool:
    owners = (obj.get("metadata") or {}).get("ownerReferences") or []
    return obj.get("kind") == "ReplicaSet" and any(
        isinstance(o, dict) and o.get("kind") == "Deployment" for o in owners)


def service(obj: Obj, index: int) -> Service:
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    ports = items(spec.get("ports"))
    return Service(_ref(obj, index), obj, _str_map(spec.get("selector")), ports,
                   str(spec.get("type") or "ClusterIP"),
                   str(spec.get("externalTrafficPolicy") or "Cluster"))


def budget(obj: Obj, index: int) -> Budget:
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    try:
        selector: labels.Selector | None = labels.from_label_selector(spec.get("selector"))
    except labels.SelectorError:
        selector = None
    return Budget(_ref(obj, index), obj, selector, spec.get("minAvailable"),
                  spec.get("maxUnavailable"))


def autoscaler(obj: Obj, index: int) -> Autoscaler:
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    target = spec.get("scaleTargetRef") if isinstance(spec.get("scaleTargetRef"), dict) else {}
    low, high = spec.get("minReplicas"), spec.get("maxReplicas")
    return Autoscaler(_ref(obj, index), obj, str(target.get("kind", "")),
                      str(target.get("name", "")), low if is_int(low) else 1,
                      high if is_int(high) else None)


def inventory(objects: list[Obj]) -> Inventory:
    """Sort the objects (in input order) into what the rules look at."""
    inv = Inventory()
    for index, obj in enumerate(objects):
        stored = served(obj)
        inv.everything.append((_ref(obj, index), obj, stored))
        kind = obj.get("kind")
        if kind == "Service":
            inv.services.append(service(obj, index))
        elif kind == "PodDisruptionBudget":
            inv.budgets.append(budget(obj, index))
        elif kind == "HorizontalPodAutoscaler":
            inv.autoscalers.append(autoscaler(obj, index))
        else:
            found = workload(obj, index, stored)
            if found is not None:
                inv.workloads.append(found)
    return inv
