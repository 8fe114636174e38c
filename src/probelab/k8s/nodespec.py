"""Validation of Nodes and PodDisruptionBudgets (`pkg/apis/core/validation/validation.go`
ValidateNode / validateNodeTaints, `pkg/apis/policy/validation/validation.go`
ValidatePodDisruptionBudgetSpec). Called from `validation.validate` through its kind table.
"""

from __future__ import annotations

from collections.abc import Callable

from probelab.k8s import names
from probelab.k8s.checks import Checker
from probelab.k8s.intstr import is_percent
from probelab.k8s.objects import Obj

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
UNHEALTHY_POD_EVICTION_POLICIES = ("IfHealthyBudget", "AlwaysAllow")


def node(check: Checker, obj: Obj, old: Obj | None) -> None:
    """spec.taints: a qualified key, an effect of the three, no key+effect twice."""
    spec = obj.get("spec")
    if spec is None:
        return
    if not isinstance(spec, dict):
        check.invalid("spec", spec, "must be an object")
        return
    seen: set[tuple[str, str]] = set()
    for at, taint in check.objects("spec.taints", spec.get("taints")):
        key, effect = taint.get("key"), taint.get("effect")
        if not isinstance(key, str) or not key:
            check.required(f"{at}.key", "")
        else:
            for problem in names.qualified_name(key):
                check.invalid(f"{at}.key", key, problem)
        if effect not in TAINT_EFFECTS:
            check.not_supported(f"{at}.effect", effect, TAINT_EFFECTS)
        value = taint.get("value")
        if value not in (None, "") and (not isinstance(value, str)
                                        or names.label_value(value)):
            check.invalid(f"{at}.value", value, "must be a valid label value")
        pair = (str(key), str(effect))
        if pair in seen:
            check.duplicate(at, f"taints must be unique by key and effect pair: {key}:{effect}")
        seen.add(pair)


def _count_or_percent(check: Checker, path: str, value: object) -> None:
    """`ValidateNonnegativeIntOrPercent` plus `IsNotMoreThan100Percent`."""
    if value is None or not check.int_or_percent(path, value):
        return
    if is_percent(value) and int(str(value)[:-1]) > 100:
        check.invalid(path, value, "must not be greater than 100%")


def pod_disruption_budget(check: Checker, obj: Obj,
                          label_selector: Callable[[Checker, str, Obj], None]) -> None:
    """minAvailable xor maxUnavailable (each a count or at most 100%), a valid selector
    (checked by `label_selector`, validation's one rule for selectors), a known policy."""
    spec = obj.get("spec")
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        check.invalid("spec", spec, "must be an object")
        return
    min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
    if min_available is not None and max_unavailable is not None:
        check.invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set")
    _count_or_percent(check, "spec.minAvailable", min_available)
    _count_or_percent(check, "spec.maxUnavailable", max_unavailable)
    selector = spec.get("selector")
    if selector is not None:
        if isinstance(selector, dict):
            label_selector(check, "spec.selector", selector)
        else:
            check.invalid("spec.selector", selector, "must be an object")
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in UNHEALTHY_POD_EVICTION_POLICIES:
        check.not_supported("spec.unhealthyPodEvictionPolicy", policy,
                            UNHEALTHY_POD_EVICTION_POLICIES)
