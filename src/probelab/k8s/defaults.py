"""Kubernetes defaulting: the values the API server fills in before it validates and stores.

The API server's registry calls `apply_defaults` on every create and update; the kubelet and the
controllers then read defaulted objects only, so "no periodSeconds" never has to be handled
twice. Values follow `pkg/apis/core/v1/defaults.go` (pods, containers, probes, services,
namespaces), `pkg/apis/apps/v1/defaults.go` (Deployment, ReplicaSet) and
`pkg/apis/discovery/v1/defaults.go` (EndpointSlice).

Integer fields that Go keeps as plain `int32` (probe periods and thresholds) cannot tell 0 from
absent there, so 0 is defaulted like a missing value, as on a real cluster. Every function
tolerates wrong types (validation reports those): it only fills in what is missing.
"""

from __future__ import annotations

import copy
from typing import Any

from probelab.k8s.objects import Obj

# pkg/apis/core/v1/defaults.go: SetDefaults_Probe (0 counts as unset: the Go fields are int32).
PROBE_DEFAULTS = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1,
                  "failureThreshold": 3}
PROBE_FIELDS = ("livenessProbe", "readinessProbe", "startupProbe")
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
DEFAULT_GRACE_PERIOD_S = 30
DEFAULT_SCHEDULER = "default-scheduler"
TERMINATION_MESSAGE_PATH = "/dev/termination-log"
SESSION_AFFINITY_TIMEOUT_S = 10800  # sessionAffinityConfig.clientIP.timeoutSeconds
# pkg/apis/apps/v1/defaults.go: SetDefaults_Deployment
DEPLOYMENT_DEFAULTS = {"replicas": 1, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600}
ROLLING_UPDATE_DEFAULTS = {"maxUnavailable": "25%", "maxSurge": "25%"}


def apply_defaults(obj: Any) -> Any:
    """A defaulted deep copy of `obj` (anything that is not an object comes back as a copy)."""
    out = copy.deepcopy(obj)
    if not isinstance(out, dict):
        return out
    fill = _BY_KIND.get(out.get("kind")) if isinstance(out.get("kind"), str) else None
    if fill is not None:
        fill(out)
    return out


# --- helpers -------------------------------------------------------------------------------


def _map(parent: Any, key: str, create: bool = False) -> Obj | None:
    """`parent[key]` when it is an object; created empty when missing and `create` is set."""
    if not isinstance(parent, dict):
        return None
    value = parent.get(key)
    if value is None and create:
        value = parent[key] = {}
    return value if isinstance(value, dict) else None


def _items(parent: Any, key: str) -> list[Obj]:
    """The object elements of the list `parent[key]` (other elements are validation's job)."""
    value = parent.get(key) if isinstance(parent, dict) else None
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _setdefault(obj: Obj, key: str, value: Any) -> None:
    if obj.get(key) is None:
        obj[key] = copy.deepcopy(value)


# --- pods ----------------------------------------------------------------------------------


def image_pull_policy(image: Any) -> str:
    """`Always` for `:latest` or an untagged image (no digest either), else `IfNotPresent`.

    The tag is what follows the last `:` of the last path segment, so a registry port
    (`host:5000/app`) is not mistaken for one (`SetDefaults_Container`, `ParseImageName`).
    """
    if not isinstance(image, str):
        return "IfNotPresent"
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.rsplit(":", 1)[1] if ":" in last else ("" if digest else "latest")
    return "Always" if tag == "latest" else "IfNotPresent"


def _http_get(handler: Any) -> None:
    action = _map(handler, "httpGet")
    if action is not None:
        _setdefault(action, "path", "/")
        _setdefault(action, "scheme", "HTTP")


def _probe(probe: Obj) -> None:
    for key, value in PROBE_DEFAULTS.items():
        if probe.get(key) in (None, 0):
            probe[key] = value
    _http_get(probe)


def _container(container: Obj) -> None:
    _setdefault(container, "imagePullPolicy", image_pull_policy(container.get("image")))
    _setdefault(container, "terminationMessagePath", TERMINATION_MESSAGE_PATH)
    _setdefault(container, "terminationMessagePolicy", "File")
    for port in _items(container, "ports"):
        _setdefault(port, "protocol", "TCP")
    for name in PROBE_FIELDS:
        probe = _map(container, name)
        if probe is not None:
            _probe(probe)
    lifecycle = _map(container, "lifecycle")
    for hook in ("postStart", "preStop"):
        _http_get(_map(lifecycle, hook))
    for env in _items(container, "env"):
        field_ref = _map(_map(env, "valueFrom"), "fieldRef")
        if field_ref is not None:
            _setdefault(field_ref, "apiVersion", "v1")


def _volume(volume: Obj) -> None:
    sources = [k for k in volume if k != "name"]
    if not sources:
        volume["emptyDir"] = {}
    for key in ("configMap", "secret"):
        source = _map(volume, key)
        if source is not None:
            _setdefault(source, "defaultMode", 0o644)


def pod_spec(spec: Obj) -> None:
    """Defaults of a PodSpec in place, for Pods and templates alike (`SetDefaults_PodSpec`)."""
    _setdefault(spec, "restartPolicy", "Always")
    _setdefault(spec, "terminationGracePeriodSeconds", DEFAULT_GRACE_PERIOD_S)
    _setdefault(spec, "dnsPolicy", "ClusterFirst")
    _setdefault(spec, "schedulerName", DEFAULT_SCHEDULER)
    _setdefault(spec, "securityContext", {})
    for key in CONTAINER_LISTS:
        for container in _items(spec, key):
            _container(container)
    for volume in _items(spec, "volumes"):
        _volume(volume)


def _requests_from_limits(resources: Any, names: tuple[str, ...] | None = None) -> None:
    """A limit without a request makes the request equal to the limit (`SetDefaults_Pod`)."""
    limits = _map(resources, "limits")
    if not limits:
        return
    requests = _map(resources, "requests", create=True)
    if requests is None:
        return
    for key, value in limits.items():
        if names is None or key in names:
            requests.setdefault(key, value)


def _pod(obj: Obj) -> None:
    spec = _map(obj, "spec", create=True)
    if spec is not None:
        pod_spec(spec)
        _setdefault(spec, "enableServiceLinks", True)  # Pods only, not templates
        # Pods only as well: a template keeps what it says, its pods get the requests.
        for key in ("containers", "initContainers"):
            for container in _items(spec, key):
                _requests_from_limits(container.get("resources"))
        _requests_from_limits(spec.get("resources"), ("cpu", "memory"))


def _template(spec: Obj | None) -> None:
    template = _map(spec, "template")
    if template is not None:
        pod = _map(template, "spec")
        if pod is not None:
            pod_spec(pod)


# --- workloads -----------------------------------------------------------------------------


def _deployment(obj: Obj) -> None:
    spec = _map(obj, "spec", create=True)
    if spec is None:
        return
    for key, value in DEPLOYMENT_DEFAULTS.items():
        _setdefault(spec, key, value)
    strategy = _map(spec, "strategy", create=True)
    if strategy is not None:
        _setdefault(strategy, "type", "RollingUpdate")
        if strategy.get("type") == "RollingUpdate":
            rolling = _map(strategy, "rollingUpdate", create=True)
            if rolling is not None:
                for key, value in ROLLING_UPDATE_DEFAULTS.items():
                    _setdefault(rolling, key, value)
    _template(spec)


def _replica_set(obj: Obj) -> None:
    spec = _map(obj, "spec", create=True)
    if spec is not None:
        _setdefault(spec, "replicas", 1)
        _template(spec)


# --- networking ----------------------------------------------------------------------------


def _service(obj: Obj) -> None:
    """`SetDefaults_Service`: ClusterIP, no affinity, TCP, targetPort = port, Cluster policies."""
    spec = _map(obj, "spec", create=True)
    if spec is None:
        return
    _setdefault(spec, "type", "ClusterIP")
    _setdefault(spec, "sessionAffinity", "None")
    if spec.get("sessionAffinity") == "ClientIP":
        config = _map(spec, "sessionAffinityConfig", create=True)
        client_ip = _map(config, "clientIP", create=True)
        if client_ip is not None:
            _setdefault(client_ip, "timeoutSeconds", SESSION_AFFINITY_TIMEOUT_S)
    for port in _items(spec, "ports"):
        _setdefault(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    if spec.get("type") in ("NodePort", "LoadBalancer"):
        _setdefault(spec, "externalTrafficPolicy", "Cluster")
    if spec.get("type") != "ExternalName":
        _setdefault(spec, "internalTrafficPolicy", "Cluster")


def _namespace(obj: Obj) -> None:
    """`SetDefaults_Namespace`: the immutable `kubernetes.io/metadata.name` label."""
    meta = _map(obj, "metadata")
    name = meta.get("name") if meta is not None else None
    if isinstance(name, str) and name:
        labels = _map(meta, "labels", create=True)
        if labels is not None:
            labels["kubernetes.io/metadata.name"] = name


def _endpoint_slice(obj: Obj) -> None:
    for port in _items(obj, "ports"):
        _setdefault(port, "protocol", "TCP")
        _setdefault(port, "name", "")


def _endpoints(obj: Obj) -> None:
    for subset in _items(obj, "subsets"):
        for port in _items(subset, "ports"):
            _setdefault(port, "protocol", "TCP")


def _secret(obj: Obj) -> None:
    """SetDefaults_Secret: a Secret without a type is `Opaque`."""
    if not obj.get("type"):
        obj["type"] = "Opaque"


def _pod_template(obj: Obj) -> None:
    _template(obj)


# --- more workloads (pkg/apis/apps/v1/defaults.go, pkg/apis/batch/v1/defaults.go,
# pkg/apis/autoscaling/v2/defaults.go) -------------------------------------------------------


def _stateful_set(obj: Obj) -> None:
    """`SetDefaults_StatefulSet`: OrderedReady, RollingUpdate with partition 0, Retain PVCs."""
    spec = _map(obj, "spec", create=True)
    if spec is None:
        return
    _setdefault(spec, "replicas", 1)
    _setdefault(spec, "revisionHistoryLimit", 10)
    _setdefault(spec, "podManagementPolicy", "OrderedReady")
    strategy = _map(spec, "updateStrategy", create=True)
    if strategy is not None:
        _setdefault(strategy, "type", "RollingUpdate")
        if strategy.get("type") == "RollingUpdate":
            rolling = _map(strategy, "rollingUpdate", create=True)
            if rolling is not None:
                _setdefault(rolling, "partition", 0)
    retention = _map(spec, "persistentVolumeClaimRetentionPolicy", create=True)
    if retention is not None:
        _setdefault(retention, "whenDeleted", "Retain")
        _setdefault(retention, "whenScaled", "Retain")
    _template(spec)


def _daemon_set(obj: Obj) -> None:
    """`SetDefaults_DaemonSet`: RollingUpdate, maxUnavailable 1, maxSurge 0."""
    spec = _map(obj, "spec", create=True)
    if spec is None:
        return
    _setdefault(spec, "revisionHistoryLimit", 10)
    strategy = _map(spec, "updateStrategy", create=True)
    if strategy is not None:
        _setdefault(strategy, "type", "RollingUpdate")
        if strategy.get("type") == "RollingUpdate":
            rolling = _map(strategy, "rollingUpdate", create=True)
            if rolling is not None:
                _setdefault(rolling, "maxUnavailable", 1)
                _setdefault(rolling, "maxSurge", 0)
    _template(spec)


def _job_spec(spec: Obj) -> None:
    """`SetDefaults_Job` on a Job's spec: both counts 1 when both are unset, parallelism 1,
    backoffLimit 6, NonIndexed, not suspended, replacement once terminated or failed."""
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    _setdefault(spec, "parallelism", 1)
    _setdefault(spec, "backoffLimit", 6)
    _setdefault(spec, "completionMode", "NonIndexed")
    _setdefault(spec, "suspend", False)
    _setdefault(spec, "podReplacementPolicy",
                "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed")
    _template(spec)


def _job(obj: Obj) -> None:
    spec = _map(obj, "spec", create=True)
    if spec is not None:
        _job_spec(spec)


def _cron_job(obj: Obj) -> None:
    """`SetDefaults_CronJob`: Allow, not suspended, keep 3 successful and 1 failed Job."""
    spec = _map(obj, "spec", create=True)
    if spec is None:
        return
    _setdefault(spec, "concurrencyPolicy", "Allow")
    _setdefault(spec, "suspend", False)
    _setdefault(spec, "successfulJobsHistoryLimit", 3)
    _setdefault(spec, "failedJobsHistoryLimit", 1)
    job_spec = _map(_map(spec, "jobTemplate"), "spec")
    if job_spec is not None:
        _job_spec(job_spec)


def _horizontal_pod_autoscaler(obj: Obj) -> None:
    """autoscaling/v2 `SetDefaults_HorizontalPodAutoscaler`: minReplicas 1, 80% CPU."""
    spec = _map(obj, "spec", create=True)
    if spec is None:
        return
    _setdefault(spec, "minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]


_BY_KIND = {
    "StatefulSet": _stateful_set,
    "DaemonSet": _daemon_set,
    "Job": _job,
    "CronJob": _cron_job,
    "HorizontalPodAutoscaler": _horizontal_pod_autoscaler,
    "Pod": _pod,
    "PodTemplate": _pod_template,
    "Deployment": _deployment,
    "ReplicaSet": _replica_set,
    "Service": _service,
    "Namespace": _namespace,
    "EndpointSlice": _endpoint_slice,
    "Endpoints": _endpoints,
    "Secret": _secret,
}
