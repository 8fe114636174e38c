"""What `pods/log` reads, decided as the kubelet decides it (pure functions; the handler in
`handlers` streams the lines): which run of a container (`validateContainerLogStatus` in
`pkg/kubelet/kubelet_pods.go`, with its messages) and from which time on (`sinceSeconds`,
`sinceTime`, `ValidatePodLogOptions` in `pkg/apis/core/validation/validation.go`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from probelab.engine.apiserver.params import int_param
from probelab.engine.apiserver.status import bad_request
from probelab.engine.core import podlogs
from probelab.engine.core.store import Obj


def container_status(pod: Obj, container: str) -> Mapping[str, Any] | None:
    """The container's entry in the pod's (init) container statuses, if reported."""
    status = pod.get("status") or {}
    for key in ("containerStatuses", "initContainerStatuses"):
        for entry in status.get(key) or []:
            if isinstance(entry, Mapping) and entry.get("name") == container:
                return entry
    return None


def run_to_read(pod: Obj, container: str, previous: bool) -> int:
    """Which run's log file (`<restartCount>.log`) `pods/log` reads, chosen as the kubelet
    chooses the container instance (`validateContainerLogStatus` in
    `pkg/kubelet/kubelet_pods.go`): the running or last terminated instance, or with
    `previous` the instance in `lastState.terminated`; 400 with the kubelet's message when
    there is none. The engine's kubelet numbers runs by restartCount, and the status's
    `containerID` is always that of run `restartCount` (during a crash-loop back-off, the
    instance that crashed), so an instance is run `restartCount` or the one before it."""
    name = pod["metadata"].get("name", "")
    entry = container_status(pod, container)
    if entry is None:  # not reported yet: the kubelet's file is the truth (run 0)
        return 0
    count = entry.get("restartCount") or 0
    state = entry.get("state") or {}
    last = (entry.get("lastState") or {}).get("terminated") or {}
    if previous:
        wanted = last.get("containerID")
        if not wanted:
            raise bad_request(f'previous terminated container "{container}" in pod "{name}" '
                              "not found")
    elif "running" in state or "terminated" in state:
        return count
    elif last.get("containerID"):
        wanted = last["containerID"]
    else:
        reason = (state.get("waiting") or {}).get("reason") or "ContainerCreating"
        if reason == "ErrImagePull":
            reason = "image can't be pulled"
        elif reason == "ImagePullBackOff":
            reason = "trying and failing to pull image"
        raise bad_request(f'container "{container}" in pod "{name}" is waiting to start: '
                          f"{reason}")
    return count if wanted == entry.get("containerID") else max(0, count - 1)


def since_ns(query: Mapping[str, str], now: float) -> int | None:
    """`sinceSeconds` (> 0) or `sinceTime` (RFC 3339), not both (`ValidatePodLogOptions`)."""
    seconds = int_param(query, "sinceSeconds", minimum=1)
    since_time = query.get("sinceTime")
    if seconds is not None and since_time:
        raise bad_request("at most one of `sinceTime` or `sinceSeconds` may be specified")
    if seconds is not None:
        return int((now - seconds) * 1_000_000_000)
    if since_time:
        try:
            return podlogs.parse_rfc3339_nano(since_time)
        except ValueError:
            raise bad_request(f'parsing time "{since_time}" as RFC3339: cannot parse') from None
    return None
