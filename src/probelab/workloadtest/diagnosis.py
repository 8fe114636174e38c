"""Why a rollout did not complete, in one line: the pods that are not ready and their last
Events (pure; `run.py` lists the pods and Events). Without this a stalled rollout is just a
timeout, and the user has to go and run `kubectl describe` on a cluster that is already gone.
"""

from __future__ import annotations

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
