"""Why a rollout did not complete, in one line: the pods that are not ready and their last
Events (pure; `run.py` lists the pods and Events). Without this a stalled rollout is just a
timeout, and the user has to go and run `kubectl describe` on a cluster that is already gone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

Obj = dict[str, Any]
LAST_EVENTS = 3


def _ready(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _state(pod: Obj) -> str:
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return "terminating"
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (status.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            return str(waiting["reason"])
    return str((pod.get("status") or {}).get("phase") or "Pending")


def _event_key(event: Obj) -> str:
    return str(event.get("eventTime") or event.get("lastTimestamp")
               or event.get("firstTimestamp") or "")


def not_ready(pods: list[Obj], events: list[Obj], timeout_s: float) -> str:
    """`rollout did not complete within 40 s: pod a (Running, not ready; last events: ...)`."""
    head = f"rollout did not complete within {timeout_s:g} s"
    stuck = [p for p in pods if not _ready(p) or (p.get("metadata") or {}).get(
        "deletionTimestamp")]
    if not stuck:
        return head + " (every pod is ready; the Deployment's status has not caught up)"
    parts = []
    for pod in sorted(stuck, key=lambda p: p["metadata"]["name"])[:5]:
        name = pod["metadata"]["name"]
        said = "; ".join(last_events(events, name)) or "no events"
        parts.append(f"pod {name} ({_state(pod)}, not ready; last events: {said})")
    more = f" and {len(stuck) - 5} more" if len(stuck) > 5 else ""
    return f"{head}: " + " | ".join(parts) + more


def last_events(events: list[Obj], pod: str, count: int = LAST_EVENTS) -> list[str]:
    """The pod's last `count` distinct Events as `Reason: message`, oldest first (a repeated
    probe failure is said once, at its latest place)."""
    mine = sorted((e for e in events if (e.get("involvedObject") or {}).get("name") == pod),
                  key=_event_key)
    lines: list[str] = []
    for event in reversed(mine):
        line = f"{event.get('reason', '')}: {str(event.get('message', '')).strip()}"
        if line not in lines:
            lines.append(line)
        if len(lines) == count:
            break
    return lines[::-1]


def readiness_failures(events: list[Obj], since_epoch_s: float) -> list[str]:
    """The readiness-probe failures (`Unhealthy` Events) last seen at or after `since_epoch_s`,
    one line per pod and message, `pod: message (×count)`, sorted by pod. Why: a withprobes run
    whose Service briefly had no ready endpoint is either the engine losing them or the pods'
    probes really failing (a 1 s probe timeout on a busy machine); the run record keeps these
    so that the soak can tell which (`pkg/kubelet/prober/prober.go` records one `Unhealthy`
    Event per failed probe)."""
    out: dict[tuple[str, str], int] = {}
    for event in events:
        message = str(event.get("message") or "")
        if event.get("reason") != "Unhealthy" or not message.lower().startswith("readiness"):
            continue
        last = event.get("lastTimestamp") or event.get("eventTime")
        if not last or _epoch(str(last)) < int(since_epoch_s):  # seconds precision
            continue
        pod = str((event.get("involvedObject") or {}).get("name") or "")
        key = (pod, message.strip())
        out[key] = out.get(key, 0) + int(event.get("count") or 1)
    return [f"{pod}: {message} (×{count})" for (pod, message), count in sorted(out.items())]


def _epoch(text: str) -> float:
    """An Event time (RFC 3339, `Z` or an offset, with or without fractions) in epoch seconds;
    an unreadable one counts as the epoch itself (left out)."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0
