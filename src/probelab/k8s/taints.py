"""Taints and tolerations (`staging/src/k8s.io/api/core/v1/toleration.go` ToleratesTaint,
`pkg/apis/core/v1/helper/helpers.go` FindMatchingUntoleratedTaint and GetMatchingTolerations),
pure, shared by the kubelet's scheduling step and the taint eviction controller.

A toleration matches a taint when its effect, if given, equals the taint's; its key, if given,
equals the taint's (an empty key with `Exists` matches every taint); and `Exists` ignores the
value while `Equal` (or no operator) needs it equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FILTERED_EFFECTS = ("NoSchedule", "NoExecute")  # the effects that keep pods off


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """`Toleration.ToleratesTaint`."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or ""
    if operator == "Exists":
        return True
    if operator in ("", "Equal"):
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def tolerated(tolerations: list[Any] | None, taint: Mapping[str, Any]) -> bool:
    return any(isinstance(t, Mapping) and tolerates(t, taint) for t in tolerations or ())


def untolerated_taint(tolerations: list[Any] | None, taints: list[Any] | None,
                      effects: tuple[str, ...] = FILTERED_EFFECTS) -> Mapping[str, Any] | None:
    """The first taint with one of `effects` that no toleration matches, or None."""
    for taint in taints or ():
        if (isinstance(taint, Mapping) and taint.get("effect") in effects
                and not tolerated(tolerations, taint)):
            return taint
    return None


def no_execute_delay(tolerations: list[Any] | None, taints: list[Any] | None) -> float | None:
    """How long a pod may stay on a node with these taints (`processPodOnNode` of
    `pkg/controller/tainteviction/taint_eviction.go`): None for ever (no NoExecute taint, or
    each tolerated without `tolerationSeconds`), 0 when one is not tolerated, else the smallest
    `tolerationSeconds` of the tolerations used, the first match of each taint (negative
    counts as 0)."""
    no_execute = [t for t in taints or () if isinstance(t, Mapping)
                  and t.get("effect") == "NoExecute"]
    if not no_execute:
        return None
    if untolerated_taint(tolerations, no_execute, ("NoExecute",)) is not None:
        return 0.0
    used = [next(t for t in tolerations or () if isinstance(t, Mapping) and tolerates(t, taint))
            for taint in no_execute]  # GetMatchingTolerations: the first match per taint
    seconds = [t.get("tolerationSeconds") for t in used
               if isinstance(t.get("tolerationSeconds"), int)
               and not isinstance(t.get("tolerationSeconds"), bool)]
    if not seconds:
        return None
    return float(max(0, min(seconds)))
