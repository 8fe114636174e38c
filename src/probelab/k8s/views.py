"""Typed, read-only views of the object parts the kubelet, the controllers and the proxy act on.

The store keeps plain dicts (exactly what the API serves); components that make decisions read
them through these frozen dataclasses instead of repeating `.get(...)` chains and defaults.
Parse DEFAULTED objects (`defaults.apply_defaults` ran in the API server): missing values still
fall back to the Kubernetes defaults here, so a view never holds None where Kubernetes would
hold a number. Units are in the names (`period_s`). Fields follow `staging/src/k8s.io/api/core/
v1/types.go` and `apps/v1/types.go`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from probelab.k8s import defaults, intstr
from probelab.k8s.labels import Selector, from_label_selector
from probelab.k8s.objects import Obj

Port = int | str  # a number or the name of a container port


class HandlerKind(Enum):
    """Which action a probe or lifecycle hook runs."""

    EXEC = "exec"  # run a command in the container; success = exit code 0
    HTTP_GET = "httpGet"  # GET a URL; success = 200 <= status < 400 (probes)
    TCP_SOCKET = "tcpSocket"  # open a TCP connection; success = connected
    GRPC = "grpc"  # gRPC health check (probes only)
    SLEEP = "sleep"  # wait N seconds (lifecycle hooks only)


class StrategyType(Enum):
    """How a Deployment replaces pods."""

    ROLLING_UPDATE = "RollingUpdate"  # surge/unavailable bounded replacement
    RECREATE = "Recreate"  # all old pods gone before new ones start


@dataclass(frozen=True)
class Handler:
    """One probe or hook action; only the fields of its `kind` are meaningful."""

    kind: HandlerKind
    port: Port | None = None  # httpGet, tcpSocket, grpc
    host: str | None = None  # httpGet, tcpSocket (None = the pod IP)
    path: str = "/"  # httpGet
    scheme: str = "HTTP"  # httpGet
    headers: tuple[tuple[str, str], ...] = ()  # httpGet
    command: tuple[str, ...] = ()  # exec
    seconds: int = 0  # sleep
    service: str | None = None  # grpc

    @classmethod
    def parse(cls, data: Any) -> Handler | None:
        """The first handler found in a probe or hook dict (None when there is none)."""
        if not isinstance(data, dict):
            return None
        for kind in HandlerKind:
            action = data.get(kind.value)
            if isinstance(action, dict):
                return cls._from_action(kind, action)
        return None

    @classmethod
    def _from_action(cls, kind: HandlerKind, action: Obj) -> Handler:
        headers = tuple((str(h.get("name", "")), str(h.get("value", "")))
                        for h in action.get("httpHeaders") or () if isinstance(h, dict))
        return cls(kind=kind, port=action.get("port"), host=action.get("host") or None,
                   path=action.get("path") or "/", scheme=action.get("scheme") or "HTTP",
                   headers=headers, command=tuple(str(c) for c in action.get("command") or ()),
                   seconds=action["seconds"] if intstr.is_int(action.get("seconds")) else 0,
                   service=action.get("service"))


@dataclass(frozen=True)
class Probe:
    """A liveness, readiness or startup probe with its timing (defaults filled in)."""

    handler: Handler
    initial_delay_s: int = 0
    timeout_s: int = defaults.PROBE_DEFAULTS["timeoutSeconds"]
    period_s: int = defaults.PROBE_DEFAULTS["periodSeconds"]
    success_threshold: int = defaults.PROBE_DEFAULTS["successThreshold"]
    failure_threshold: int = defaults.PROBE_DEFAULTS["failureThreshold"]
    termination_grace_period_s: int | None = None  # liveness/startup override of the pod's

    @classmethod
    def parse(cls, data: Any) -> Probe | None:
        handler = Handler.parse(data)
        if handler is None:
            return None
        def number(key: str, default: int) -> int:
            value = data.get(key)
            return value if intstr.is_int(value) and value > 0 else default
        grace = data.get("terminationGracePeriodSeconds")
        return cls(handler=handler,
                   initial_delay_s=max(0, number("initialDelaySeconds", 0)),
                   timeout_s=number("timeoutSeconds", cls.timeout_s),
                   period_s=number("periodSeconds", cls.period_s),
                   success_threshold=number("successThreshold", cls.success_threshold),
                   failure_threshold=number("failureThreshold", cls.failure_threshold),
                   termination_grace_period_s=grace if intstr.is_int(grace) else None)


@dataclass(frozen=True)
class ContainerPort:
    container_port: int
    name: str | None = None
    protocol: str = "TCP"


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str | None = None  # None when it comes from `value_from`
    value_from: Obj | None = None  # fieldRef / configMapKeyRef / ... as given


@dataclass(frozen=True)
class Container:
    name: str
    image: str
    image_pull_policy: str = "IfNotPresent"
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    ports: tuple[ContainerPort, ...] = ()
    env: tuple[EnvVar, ...] = ()
    liveness: Probe | None = None
    readiness: Probe | None = None
    startup: Probe | None = None
    post_start: Handler | None = None
    pre_stop: Handler | None = None

    @classmethod
    def parse(cls, data: Obj) -> Container:
        lifecycle = data.get("lifecycle") if isinstance(data.get("lifecycle"), dict) else {}
        ports = tuple(ContainerPort(p["containerPort"], p.get("name") or None,
                                    p.get("protocol") or "TCP")
                      for p in data.get("ports") or ()
                      if isinstance(p, dict) and intstr.is_int(p.get("containerPort")))
        env = tuple(EnvVar(str(e["name"]), e.get("value"), e.get("valueFrom"))
                    for e in data.get("env") or () if isinstance(e, dict) and e.get("name"))
        image = data.get("image") or ""
        return cls(name=str(data.get("name") or ""), image=image,
                   image_pull_policy=data.get("imagePullPolicy")
                   or defaults.image_pull_policy(image),
                   command=tuple(str(c) for c in data.get("command") or ()),
                   args=tuple(str(a) for a in data.get("args") or ()),
                   ports=ports, env=env,
                   liveness=Probe.parse(data.get("livenessProbe")),
                   readiness=Probe.parse(data.get("readinessProbe")),
                   startup=Probe.parse(data.get("startupProbe")),
                   post_start=Handler.parse(lifecycle.get("postStart")),
                   pre_stop=Handler.parse(lifecycle.get("preStop")))

    def resolve_port(self, port: Port | None) -> int | None:
        """A port number from a number or a container port name (None when it has none).

        The kubelet resolves named probe and hook ports this way (`pkg/kubelet/prober`,
        `util.ResolvePort`); a numeric string counts as the number.
        """
        if intstr.is_int(port):
            return int(port)  # type: ignore[arg-type]
        if isinstance(port, str):
            if port.isdigit():
                return int(port)
            for p in self.ports:
                if p.name == port:
                    return p.container_port
        return None


@dataclass(frozen=True)
class PodSpec:
    containers: tuple[Container, ...]
    init_containers: tuple[Container, ...] = ()
    restart_policy: str = "Always"
    termination_grace_period_s: int = defaults.DEFAULT_GRACE_PERIOD_S
    readiness_gates: tuple[str, ...] = ()  # conditionType of each gate

    @classmethod
    def parse(cls, data: Any) -> PodSpec:
        """From a PodSpec dict, or from a Pod / PodTemplateSpec holding one under `spec`."""
        data = data if isinstance(data, dict) else {}
        if "containers" not in data and isinstance(data.get("spec"), dict):
            data = data["spec"]
        def containers(key: str) -> tuple[Container, ...]:
            return tuple(Container.parse(c) for c in data.get(key) or () if isinstance(c, dict))
        grace = data.get("terminationGracePeriodSeconds")
        gates = tuple(str(g.get("conditionType")) for g in data.get("readinessGates") or ()
                      if isinstance(g, dict) and g.get("conditionType"))
        return cls(containers=containers("containers"),
                   init_containers=containers("initContainers"),
                   restart_policy=data.get("restartPolicy") or "Always",
                   termination_grace_period_s=grace if intstr.is_int(grace) and grace >= 0
                   else defaults.DEFAULT_GRACE_PERIOD_S,
                   readiness_gates=gates)

    def container(self, name: str) -> Container | None:
        return next((c for c in self.containers if c.name == name), None)


@dataclass(frozen=True)
class DeploymentStrategy:
    type: StrategyType = StrategyType.ROLLING_UPDATE
    max_surge: int | str = "25%"  # RollingUpdate only
    max_unavailable: int | str = "25%"  # RollingUpdate only

    @classmethod
    def parse(cls, data: Any) -> DeploymentStrategy:
        data = data if isinstance(data, dict) else {}
        if data.get("type") == StrategyType.RECREATE.value:
            return cls(StrategyType.RECREATE, 0, 0)
        rolling = data.get("rollingUpdate") if isinstance(data.get("rollingUpdate"), dict) else {}
        surge, unavailable = rolling.get("maxSurge"), rolling.get("maxUnavailable")
        return cls(StrategyType.ROLLING_UPDATE,
                   surge if surge is not None else "25%",
                   unavailable if unavailable is not None else "25%")

    def fenceposts(self, replicas: int) -> tuple[int, int]:
        """(max surge, max unavailable) in pods for `replicas` (`ResolveFenceposts`)."""
        return intstr.resolve_fenceposts(self.max_surge, self.max_unavailable, replicas)


@dataclass(frozen=True)
class DeploymentSpec:
    replicas: int
    selector: Selector
    strategy: DeploymentStrategy
    template: Obj  # the pod template as stored (its hash names the ReplicaSet)
    min_ready_s: int = 0
    revision_history_limit: int = defaults.DEPLOYMENT_DEFAULTS["revisionHistoryLimit"]
    progress_deadline_s: int = defaults.DEPLOYMENT_DEFAULTS["progressDeadlineSeconds"]
    paused: bool = False

    @classmethod
    def parse(cls, obj: Obj) -> DeploymentSpec:
        """From a Deployment (or ReplicaSet: its strategy is simply the default)."""
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        def number(key: str, default: int) -> int:
            value = spec.get(key)
            return value if intstr.is_int(value) and value >= 0 else default
        return cls(replicas=number("replicas", 1),
                   selector=from_label_selector(spec.get("selector")),
                   strategy=DeploymentStrategy.parse(spec.get("strategy")),
                   template=spec.get("template") or {},
                   min_ready_s=number("minReadySeconds", 0),
                   revision_history_limit=number("revisionHistoryLimit",
                                                 cls.revision_history_limit),
                   progress_deadline_s=number("progressDeadlineSeconds",
                                              cls.progress_deadline_s),
                   paused=bool(spec.get("paused")))


@dataclass(frozen=True)
class ServicePort:
    port: int
    target_port: Port
    name: str | None = None
    protocol: str = "TCP"
    node_port: int | None = None


@dataclass(frozen=True)
class ServiceSpec:
    type: str
    selector: dict[str, str]  # empty: the Service selects no pods (endpoints managed by hand)
    ports: tuple[ServicePort, ...]
    cluster_ip: str | None = None
    session_affinity: str = "None"
    publish_not_ready_addresses: bool = False

    @classmethod
    def parse(cls, obj: Obj) -> ServiceSpec:
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        ports = tuple(
            ServicePort(p["port"], p.get("targetPort") or p["port"], p.get("name") or None,
                        p.get("protocol") or "TCP", p.get("nodePort") or None)
            for p in spec.get("ports") or ()
            if isinstance(p, dict) and intstr.is_int(p.get("port")))
        selector = spec.get("selector") if isinstance(spec.get("selector"), dict) else {}
        return cls(type=spec.get("type") or "ClusterIP",
                   selector={str(k): str(v) for k, v in selector.items()}, ports=ports,
                   cluster_ip=spec.get("clusterIP") or None,
                   session_affinity=spec.get("sessionAffinity") or "None",
                   publish_not_ready_addresses=bool(spec.get("publishNotReadyAddresses")))
