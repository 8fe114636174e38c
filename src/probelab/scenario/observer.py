"""Watches pods, EndpointSlices and Events of one namespace during a run, in threads.

Each watch records what it sees with the observation time relative to the run's start (`t0`,
wall clock). Events carry their own `eventTime` (microseconds), which is used when present, so
the kubelet's preStop/SIGTERM/exit moments are placed where they happened, not where the watch
delivered them. The pure `*_marks` functions turn one object into report marks.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

from kubernetes import client, watch

from probelab.k8s.annotations import READY_ENDPOINTS, TERMINATING_ENDPOINTS
from probelab.report.model import EndpointSample, PodMark, PodStep

# Event reasons -> pod steps. The engine-only reasons are recorded by probelab's kubelet;
# `Killing` is what every kubelet records when it starts stopping a container.
EVENT_STEPS = {
    "PreStopHookStarted": PodStep.PRESTOP,
    "StopSignalSent": PodStep.SIGTERM,
    "ContainerExited": PodStep.EXITED,
    "Killed": PodStep.KILLED,
}
PROXY_EVENT = "EndpointsApplied"


def pod_marks(pod: dict, seen: dict[str, set[PodStep]], t: float, deleted: bool) -> list[PodMark]:
    """New steps of one pod since the last look (`seen` is updated)."""
    name = pod["metadata"]["name"]
    have = seen.setdefault(name, set())
    marks = []

    def mark(step: PodStep) -> None:
        if step not in have:
            have.add(step)
            marks.append(PodMark(t, name, step))

    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    # `running: {}` counts; the client sends `running: None` when the state is absent.
    if any((s.get("state") or {}).get("running") is not None for s in statuses):
        mark(PodStep.STARTED)
    conditions = (pod.get("status") or {}).get("conditions") or []
    if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
        mark(PodStep.READY)
    if pod["metadata"].get("deletionTimestamp"):
        mark(PodStep.TERMINATING)
    if deleted:
        mark(PodStep.DELETED)
    return marks


def slice_sample(slices: dict[str, dict], t: float) -> EndpointSample:
    """Ready and terminating endpoints over every slice of the service."""
    ready = terminating = 0
    for sl in slices.values():
        for ep in sl.get("endpoints") or []:
            cond = ep.get("conditions") or {}
            if cond.get("ready"):
                ready += 1
            if cond.get("terminating"):
                terminating += 1
    return EndpointSample(t, ready, terminating, "endpointslice")


def proxy_sample(event: dict, t: float) -> EndpointSample | None:
    """What the engine's proxy routes to after an `EndpointsApplied` Event, from the numbers it
    carries as annotations (None for an event without them)."""
    notes = (event.get("metadata") or {}).get("annotations") or {}
    try:
        return EndpointSample(t, int(notes[READY_ENDPOINTS]), int(notes[TERMINATING_ENDPOINTS]),
                              "proxy")
    except (KeyError, TypeError, ValueError):
        return None


def event_time(event: dict) -> float | None:
    """Seconds since the epoch of an Event (MicroTime `eventTime` first)."""
    for key in ("eventTime", "lastTimestamp", "firstTimestamp"):
        value = event.get(key)
        if value:
            return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    return None


class Observer:
    """Three watch threads; `stop()` joins them."""

    def __init__(self, api: client.ApiClient, namespace: str, service: str, t0: float) -> None:
        self.api = api
        self.namespace = namespace
        self.service = service
        self.t0 = t0
        self.pod_marks: list[PodMark] = []
        self.endpoints: list[EndpointSample] = []
        self._seen: dict[str, set[PodStep]] = {}
        self._slices: dict[str, dict] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._loop, args=(fn,), name=f"watch-{fn.__name__}",
                             daemon=True)
            for fn in (self._watch_pods, self._watch_slices, self._watch_events)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _now(self) -> float:
        return time.time() - self.t0

    def _loop(self, fn) -> None:
        resource_version: list[str | None] = [None]
        while not self._stop.is_set():
            try:
                fn(resource_version)
            except Exception:  # a dropped watch is resumed; the run goes on
                if self._stop.wait(0.2):
                    return

    def _stream(self, list_fn, resource_version: list[str | None], **kw):
        w = watch.Watch()
        for event in w.stream(list_fn, self.namespace, timeout_seconds=1,
                              resource_version=resource_version[0],
                              _request_timeout=5, **kw):
            obj = self.api.sanitize_for_serialization(event["object"])
            resource_version[0] = (obj.get("metadata") or {}).get("resourceVersion")
            yield event["type"], obj
            if self._stop.is_set():
                w.stop()
                return

    def _watch_pods(self, rv: list[str | None]) -> None:
        core = client.CoreV1Api(self.api)
        for type_, pod in self._stream(core.list_namespaced_pod, rv):
            marks = pod_marks(pod, self._seen, self._now(), type_ == "DELETED")
            with self._lock:
                self.pod_marks.extend(marks)

    def _watch_slices(self, rv: list[str | None]) -> None:
        discovery = client.DiscoveryV1Api(self.api)
        selector = f"kubernetes.io/service-name={self.service}"
        for type_, sl in self._stream(discovery.list_namespaced_endpoint_slice, rv,
                                      label_selector=selector):
            name = sl["metadata"]["name"]
            if type_ == "DELETED":
                self._slices.pop(name, None)
            else:
                self._slices[name] = sl
            sample = slice_sample(self._slices, self._now())
            with self._lock:
                self.endpoints.append(sample)

    def _watch_events(self, rv: list[str | None]) -> None:
        core = client.CoreV1Api(self.api)
        for type_, ev in self._stream(core.list_namespaced_event, rv):
            if type_ != "ADDED":
                continue
            when = event_time(ev)
            t = when - self.t0 if when is not None else self._now()
            reason = ev.get("reason", "")
            involved = ev.get("involvedObject") or {}
            with self._lock:
                if reason in EVENT_STEPS and involved.get("kind") == "Pod":
                    self.pod_marks.append(PodMark(t, involved.get("name", "?"),
                                                  EVENT_STEPS[reason], ev.get("message", "")))
                elif reason == PROXY_EVENT and involved.get("name") == self.service:
                    sample = proxy_sample(ev, t)
                    if sample is not None:
                        self.endpoints.append(sample)

    def snapshot(self) -> tuple[list[PodMark], list[EndpointSample]]:
        with self._lock:
            return (sorted(self.pod_marks, key=lambda m: m.t_s),
                    sorted(self.endpoints, key=lambda s: (s.source, s.t_s)))
