"""Probes against each other and against the ports the container declares."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from probelab.check.model import Severity, TimingModel
from probelab.check.rules.catalogue import Hit, rule
from probelab.check.rules.traffic import DOCS_PROBES
from probelab.check.workloads import Container, Inventory
from probelab.k8s.defaults import PROBE_DEFAULTS
from probelab.k8s.intstr import is_int

PROBES = ("readinessProbe", "livenessProbe", "startupProbe")
TIMING_KEYS = ("initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold")


def timing(probe: dict[str, Any]) -> tuple[int, int]:
    """(failureThreshold, periodSeconds), the defaults standing in for missing or wrong values."""
    threshold, period = probe.get("failureThreshold"), probe.get("periodSeconds")
    return (threshold if is_int(threshold) else PROBE_DEFAULTS["failureThreshold"],
            period if is_int(period) else PROBE_DEFAULTS["periodSeconds"])


def failure_time(probe: dict[str, Any]) -> int:
    """Seconds of consecutive failures before the probe acts: the prober counts
    `failureThreshold` failed periods (pkg/kubelet/prober/worker.go)."""
    threshold, period = timing(probe)
    return threshold * period


def _handler(probe: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in probe.items() if k in ("httpGet", "tcpSocket", "grpc", "exec")}


@rule("liveness-same-as-readiness", Severity.WARNING,
      "livenessProbe identical to readinessProbe.",
      source=f"{DOCS_PROBES} (\"liveness probes ... should be used with caution\")",
      why="""Readiness answers "should this pod get traffic now?", liveness "is the process
      beyond repair?". With the same check and timing, a pod that is only busy (overload, a slow
      dependency) is restarted at the moment it would have been taken out of the Service to
      recover, and under load the restarts cascade through the replicas.""")
def liveness_same_as_readiness(inv: Inventory, model: TimingModel) -> Iterator[Hit]:
    for workload in inv.workloads:
        for c in workload.containers:
            ready, live = c.probe("readinessProbe"), c.probe("livenessProbe")
            if ready is not None and live is not None and _same(ready, live):
                yield Hit(workload.ref, c.name, f"{c.path}.livenessProbe",
                          f"livenessProbe of {c.name} is identical to its readinessProbe: a "
                          "pod that is only busy is restarted instead of taken out of the "
                          "Service",
                          "make liveness check only that the process is alive (its own "
                          "endpoint) and fail later than readiness (higher failureThreshold)")


def _same(ready: dict[str, Any], live: dict[str, Any]) -> bool:
    return _handler(ready) == _handler(live) and all(
        ready.get(k) == live.get(k) for k in TIMING_KEYS)


@rule("liveness-before-readiness", Severity.WARNING,
      "Liveness gives up no later than readiness (failureThreshold x periodSeconds).",
      source=f"{DOCS_PROBES} ; pkg/kubelet/prober/worker.go",
      why="""When the app stops answering, readiness should take the pod out of the Service
      first and liveness restart it only if it does not recover. If liveness fails as early as
      readiness, the container is killed while it still receives traffic: its in-flight and
      newly routed requests fail.""")
def liveness_before_readiness(inv: Inventory, model: TimingModel) -> Iterator[Hit]:
    for workload in inv.workloads:
        for c in workload.containers:
            ready, live = c.probe("readinessProbe"), c.probe("livenessProbe")
            if ready is None or live is None or _same(ready, live):
                continue
            (live_n, live_p), (ready_n, ready_p) = timing(live), timing(ready)
            live_s, ready_s = live_n * live_p, ready_n * ready_p
            if live_s <= ready_s:
                yield Hit(workload.ref, c.name, f"{c.path}.livenessProbe.failureThreshold",
                          f"liveness gives up after {live_n} x {live_p} s = {live_s} s, "
                          f"readiness after {ready_n} x {ready_p} s = {ready_s} s: a failing "
                          "pod is restarted before it leaves the Service",
                          f"raise livenessProbe.failureThreshold to at least "
                          f"{ready_s // live_p + 1}")


def _port(handler: dict[str, Any]) -> tuple[str, Any] | None:
    for kind in ("httpGet", "tcpSocket", "grpc"):
        action = handler.get(kind)
        if isinstance(action, dict) and action.get("port") is not None:
            return kind, action["port"]
    return None


def _checked_ports(c: Container) -> Iterator[tuple[str, str, Any]]:
    """(what, field, port) for every probe and hook of the container that targets a port."""
    for which in PROBES:
        probe = c.probe(which)
        found = _port(probe) if probe is not None else None
        if found is not None:
            yield which, f"{c.path}.{which}.{found[0]}.port", found[1]
    hook = c.prestop
    found = _port(hook) if hook is not None else None
    if found is not None:
        yield "preStop hook", f"{c.path}.lifecycle.preStop.{found[0]}.port", found[1]


@rule("probe-port-undeclared", Severity.ERROR,
      "A probe or hook targets a port the container does not declare.",
      source=f"{DOCS_PROBES} ; pkg/kubelet/prober/prober.go (named ports resolve against the "
             "container's own ports only)",
      why="""A named port that the container does not declare cannot be resolved: the probe
      fails forever and the pod never becomes ready (or is restarted in a loop). A number that
      no container declares is usually a typo or a stale port after the app moved: the probe
      then tests something other than the app, so the pod can be Ready before it serves, or
      never. A port of another container of the pod makes this container's readiness follow
      that container.""")
def probe_port_undeclared(inv: Inventory, model: TimingModel) -> Iterator[Hit]:
    for workload in inv.workloads:
        for c in workload.containers:
            for what, field, port in _checked_ports(c):
                if c.declares(port):
                    continue
                others = [o.name for o in workload.containers
                          if o is not c and o.declares(port)]
                if isinstance(port, str):
                    yield Hit(workload.ref, c.name, field,
                              f"{what} of {c.name} uses port name {port!r}, which {c.name} "
                              "does not declare: the kubelet cannot resolve it and the check "
                              "always fails", f"declare ports: [{{name: {port}, "
                              "containerPort: N}] on the container, or use the number")
                elif others:
                    yield Hit(workload.ref, c.name, field,
                              f"{what} of {c.name} checks port {port}, declared by "
                              f"{', '.join(others)}: it reports that container's state",
                              "probe a port of this container", Severity.WARNING)
                elif c.ports:
                    declared = ", ".join(str(p.get("containerPort")) for p in c.ports)
                    yield Hit(workload.ref, c.name, field,
                              f"{what} of {c.name} checks port {port} but the container "
                              f"declares {declared}: the check does not test the app",
                              "point the probe at a declared port (by name)")
