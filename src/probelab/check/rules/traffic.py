"""Traffic during termination and start-up: readiness, the preStop delay, the grace period.

The race these rules model (Kubernetes docs, "Pod Lifecycle" / "Termination of Pods"): when a
pod starts terminating, the EndpointSlice controller removes it and the kubelet runs preStop
then sends SIGTERM, *in parallel*. Proxies and load balancers learn about the removal later
(the lag). Whatever the app stops doing before the lag has passed fails requests; whatever it
has not finished when terminationGracePeriodSeconds runs out is cut by SIGKILL.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from probelab.check.model import SLEEP_ACTION_ALPHA, SLEEP_ZERO, Severity, TimingModel
from probelab.check.prestop import PreStop, may_lack_shell, prestop
from probelab.check.rules.catalogue import Hit, rule
from probelab.check.rules.common import lag_text, names, safe_delay, secs, serving_containers
from probelab.check.workloads import DRAIN_ANNOTATION, Container, Inventory, Workload

DOCS_TERMINATION = ("https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/"
                    "#pod-termination")
DOCS_HOOKS = "https://kubernetes.io/docs/concepts/containers/container-lifecycle-hooks/"
DOCS_PROBES = ("https://kubernetes.io/docs/tasks/configure-pod-container/"
               "configure-liveness-readiness-startup-probes/")


def sleep_fix(model: TimingModel, seconds: int, image: str = "") -> str:
    """The preStop a fix proposes: the sleep action where it exists, else an exec sleep."""
    if model.has_sleep_action:
        return f"lifecycle.preStop: {{sleep: {{seconds: {seconds}}}}}"
    if may_lack_shell(image):
        return (f"an httpGet preStop to an endpoint of the app that waits {seconds} s "
                f"(the image may have no `sleep`; the sleep action needs Kubernetes 1.30)")
    return f'lifecycle.preStop: {{exec: {{command: ["sleep", "{seconds}"]}}}}'


def grace_needed(workload: Workload, container: Container, model: TimingModel) -> int | None:
    """The smallest grace period that fits preStop + drain + margin (None: nothing known)."""
    hook = prestop(workload, container)
    drain = workload.declared_seconds(DRAIN_ANNOTATION, container.name)
    if hook.delay_s is None and drain is None:
        return None
    return math.floor((hook.delay_s or 0.0) + (drain or 0.0) + model.margin_s) + 1


def _hooks(inv: Inventory, served_only: bool
           ) -> Iterator[tuple[Workload, Container, PreStop]]:
    for workload in inv.workloads:
        if served_only:
            _, containers = serving_containers(inv, workload)
        else:
            containers = workload.containers
        for container in containers:
            yield workload, container, prestop(workload, container)


@rule("readiness-missing", Severity.ERROR,
      "A Service selects the pods but the serving container has no readinessProbe.",
      source=f"{DOCS_PROBES} ; pkg/controller/endpointslice (a pod is a ready endpoint when "
             "its Ready condition is true)",
      why="""Without a readiness probe a container counts as ready the moment it starts, so the
      endpoint controllers add a new pod to the Service before the app listens: during every
      rollout and scale-up its first requests are refused. A readiness probe is also what takes
      an overloaded or draining pod out of the Service.""")
def readiness_missing(inv: Inventory, model: TimingModel) -> Iterator[Hit]:
    for workload in inv.workloads:
        services, containers = serving_containers(inv, workload)
        for c in containers:
            if c.probe("readinessProbe") is None:
                yield Hit(workload.ref, c.name, f"{c.path}.readinessProbe",
                          f"Service {names(services)} selects these pods and container "
                          f"{c.name} has no readinessProbe: a new pod gets traffic as soon as "
                          "its process starts, before it listens",
                          "add a readinessProbe (httpGet on an endpoint that answers 200 only "
                          "once the app serves, periodSeconds 1-5)")


@rule("prestop-missing", Severity.ERROR,
      "A Service selects the pods, the lag is > 0 and the serving container has no preStop "
      "delay.",
      source=f"{DOCS_TERMINATION} ; {DOCS_HOOKS}",
      why="""Removing a terminating pod from the endpoints and sending it SIGTERM happen at the
      same time, but kube-proxy, ingress controllers and cloud load balancers apply the removal
      later. An app that closes its listener on SIGTERM refuses the connections they still send
      it for the whole lag. A preStop delay (or an app that keeps serving for a while after
      SIGTERM, declared with probelab.io/prestop-delay-seconds) bridges that gap.""")
def prestop_missing(inv: Inventory, model: TimingModel) -> Iterator[Hit]:
    if model.lag_s <= 0:
        return
    for workload in inv.workloads:
        services, containers = serving_containers(inv, workload)
        for c in containers:
            if prestop(workload, c).action == "none":
                yield Hit(workload.ref, c.name, f"{c.path}.lifecycle.preStop",
                          f"Service {names(services)} selects these pods and container "
                          f"{c.name} has no preStop delay: it gets SIGTERM while proxies still "
                          f"send it new connections for about {lag_text(model)}",
                          "add " + sleep_fix(model, safe_delay(model), c.image))


@rule("prestop-shorter-than-lag", Severity.ERROR,
      "The preStop delay is shorter than the endpoint propagation lag.",
      source=f"{DOCS_TERMINATION} ; kube-proxy minSyncPeriod "
             "(pkg/proxy/apis/config/v1alpha1/defaults.go)",
      why="""The delay has to last until every proxy and load balancer has dropped the pod;
      requests that arrive in the rest of the lag reach an app that has already stopped
      accepting. The lag depends on the data plane (--profile or --lag).""")
def prestop_shorter_than_lag(inv: Inventory, model: TimingModel) -> Iterator[Hit]:
    for workload, c, hook in _hooks(inv, served_only=True):
        if hook.delay_s is not None and hook.delay_s < model.lag_s:
            what = "declares" if hook.declared else "sleeps"
            yield Hit(workload.ref, c.name, hook.field,
                      f"preStop {what} {secs(hook.delay_s)} but proxies keep sending new "
                      f"connections for {lag_text(model)}: requests in the last "
                      f"{secs(model.lag_s - hook.delay_s)} reach a pod that is shutting down",
                      f"make the preStop delay at least {safe_delay(model)} s "
                      f"(lag {secs(model.lag_s)} + margin {secs(model.margin_s)})")


@rule("prestop-delay-unknown", Severity.INFO,
      "A preStop hook whose duration cannot be read from the manifest.",
      source="docs/check.md (annotation probelab.io/prestop-delay-seconds)",
      why="""An httpGet hook or a script takes as long as the app makes it take; the lag and
      grace-period arithmetic needs that number. Declare it in the pod template annotation
      probelab.io/prestop-delay-seconds (or ...seconds.CONTAINER).""")
def prestop_delay_unknown(inv: Inventory, model: TimingModel) -> Iterator[Hit]:
    for workload, c, hook in _hooks(inv, served_only=False):
        if hook.present and hook.delay_s is None:
            yield Hit(workload.ref, c.name, hook.field,
                      f"the {hook.action} preStop hook of {c.name} takes an unknown time: "
                      "the lag and grace-period rules cannot check it",
                      f"declare the delay: metadata.annotations "
                      f"probelab.io/prestop-delay-seconds: \"{safe_delay(model)}\" on the pod "
                      "template")


@rule("grace-too-short", Severity.ERROR,
      "preStop + declared drain + margin >= terminationGracePeriodSeconds (SIGKILL).",
      source=f"{DOCS_TERMINATION} ; pkg/kubelet/kuberuntime/kuberuntime_container.go "
             "(killContainer: the hook's time counts against the grace period)",
      why="""The grace period starts when the pod starts terminating, not at SIGTERM: the
      preStop hook uses it up first, and what is left is all the app gets to finish in-flight
      requests before SIGKILL (the kubelet adds a one-off 2 s when the hook outlives the
      grace period). The app's drain time is declared with probelab.io/drain-seconds.""")
def grace_too_short(inv: Inventory, model: TimingModel) -> Iterator[Hit]:
    for workload, c, hook in _hooks(inv, served_only=False):
        drain = workload.declared_seconds(DRAIN_ANNOTATION, c.name)
        delay = hook.delay_s or 0.0
        if hook.delay_s is None and drain is None:
            continue
        grace = workload.grace_s
        field = f"{workload.pod_path}.terminationGracePeriodSeconds"
        grace_text = f"terminationGracePeriodSeconds is {grace} s" + (
            "" if workload.grace_declared else " (the default)")
        needed = delay + (drain or 0.0) + model.margin_s
        fix = (f"set terminationGracePeriodSeconds to {grace_needed(workload, c, model)} "
               f"(preStop "
               f"{secs(delay)} + drain {secs(drain or 0)} + margin {secs(model.margin_s)})")
        if hook.delay_s is not None and delay >= grace:
            yield Hit(workload.ref, c.name, field,
                      f"preStop {'declares' if hook.declared else 'sleeps'} {secs(delay)} and "
                      f"{grace_text}: the container gets SIGKILL as soon as preStop ends, "
                      "with 0 s to finish in-flight requests", fix)
        elif needed >= grace:
            yield Hit(workload.ref, c.name, field,
                      f"preStop {secs(delay)} + drain {secs(drain or 0)} + margin "
                      f"{secs(model.margin_s)} = {secs(needed)} and {grace_text}: the app gets "
                      f"{secs(max(grace - delay, 0))} after SIGTERM and may be SIGKILLed with "
                      "requests in flight", fix)


@rule("sleep-action-unsupported", Severity.ERROR,
      "The preStop sleep action on a Kubernetes version that does not enable it.",
      source="KEP-3960 (PodLifecycleSleepAction: alpha 1.29, beta and on by default 1.30)",
      why="""Before 1.29 the API server does not know lifecycle.preStop.sleep: the field is
      dropped (with a warning) or rejected, and a hook without a handler fails validation. In
      1.29 the feature gate is off by default. Either way the pod gets no delay.""")
def sleep_action_unsupported(inv: Inventory, model: TimingModel) -> Iterator[Hit]:
    if model.has_sleep_action:
        return
    alpha = model.kubernetes >= SLEEP_ACTION_ALPHA
    for workload, c, hook in _hooks(inv, served_only=False):
        if hook.action == "sleep":
            state = ("is alpha (feature gate PodLifecycleSleepAction off by default)" if alpha
                     else "does not exist")
            yield Hit(workload.ref, c.name, hook.field,
                      f"the preStop sleep action {state} in Kubernetes {model.version}: the "
                      "pod gets no delay", "use "
                      + f'lifecycle.preStop: {{exec: {{command: ["sleep", '
                        f'"{int(hook.delay_s or safe_delay(model))}"]}}}} or an httpGet hook, '
                      "or target Kubernetes 1.30+",
                      Severity.WARNING if alpha else None)


@rule("sleep-action-invalid", Severity.ERROR,
      "A sleep action the API server rejects: seconds above the grace period, or 0 before "
      "1.33.",
      source="KEP-3960, KEP-4818 ; pkg/apis/core/validation/validation.go (validateSleepAction)",
      why="""The API server validates the sleep action against the pod's grace period (seconds
      may not exceed terminationGracePeriodSeconds) and, before PodLifecycleSleepActionAllowZero
      (beta in 1.33), requires at least 1 s. The Deployment is accepted but its ReplicaSet cannot
      create a single pod.""")
def sleep_action_invalid(inv: Inventory, model: TimingModel) -> Iterator[Hit]:
    if model.kubernetes < SLEEP_ACTION_ALPHA:
        return
    for workload, c, hook in _hooks(inv, served_only=False):
        if hook.action != "sleep" or hook.delay_s is None:
            continue
        if hook.delay_s > workload.grace_s:
            yield Hit(workload.ref, c.name, hook.field,
                      f"sleep.seconds {secs(hook.delay_s)} is more than "
                      f"terminationGracePeriodSeconds {workload.grace_s} s: the API server "
                      "rejects the pod",
                      f"set terminationGracePeriodSeconds above {secs(hook.delay_s)} (see "
                      "grace-too-short for the drain time)")
        elif hook.delay_s < 1 and model.kubernetes < SLEEP_ZERO:
            yield Hit(workload.ref, c.name, hook.field,
                      f"sleep.seconds {secs(hook.delay_s)} is rejected before Kubernetes 1.33 "
                      "(it must be at least 1)", "remove the hook or sleep at least 1 s")


@rule("exec-sleep-no-shell", Severity.WARNING,
      "An exec `sleep` preStop in an image that may have no shell or `sleep` binary.",
      source=f"{DOCS_HOOKS} ; KEP-3960 (motivation: distroless images)",
      why="""Distroless and scratch images have no /bin/sh and no sleep. The exec hook then
      fails (event FailedPreStopHook) and the kubelet sends SIGTERM at once, exactly as if there
      were no hook. The sleep action (1.30+) needs nothing inside the image.""")
def exec_sleep_no_shell(inv: Inventory, model: TimingModel) -> Iterator[Hit]:
    for workload, c, hook in _hooks(inv, served_only=False):
        if hook.action == "exec-sleep" and may_lack_shell(c.image):
            seconds = math.ceil(hook.delay_s or safe_delay(model))
            yield Hit(workload.ref, c.name, hook.field,
                      f"image {c.image} may have no shell or sleep: the exec preStop hook "
                      "fails and the pod gets SIGTERM at once",
                      "use " + sleep_fix(model, seconds, c.image))
