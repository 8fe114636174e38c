"""IntOrString values (`maxSurge: 25%`, `targetPort: http`) and their scaling rules.

Read by validation (is it a valid count or percentage?), by `probelab check` and by
the deployment controller (how many pods may surge or be missing). Rules follow
`staging/src/k8s.io/apimachinery/pkg/util/intstr/intstr.go` (`GetScaledValueFromIntOrPercent`)
and `pkg/controller/deployment/util/deployment_util.go` (`ResolveFenceposts`).
"""

from __future__ import annotations

import re
from typing import Any

_PERCENT = re.compile(r"^[0-9]+%$")


def is_int(value: Any) -> bool:
    """A JSON integer (`True` is a bool in JSON, not a number)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_percent(value: Any) -> bool:
    return isinstance(value, str) and bool(_PERCENT.match(value))


def scaled_value(value: int | str, total: int, round_up: bool) -> int:
    """An absolute count: integers as given, `N%` as N percent of `total`, rounded as asked.

    Raises ValueError for anything else, like the Go helper does for a non-percent string.
    """
    if is_int(value):
        return int(value)
    if not is_percent(value):
        raise ValueError(f"invalid value for IntOrString: {value!r} is not an integer "
                         "or a percentage")
    product = int(str(value)[:-1]) * total
    return -(-product // 100) if round_up else product // 100


def resolve_fenceposts(max_surge: int | str, max_unavailable: int | str,
                       desired: int) -> tuple[int, int]:
    """(surge, unavailable) for a rolling update of `desired` replicas.

    maxSurge rounds up and maxUnavailable rounds down, so 25%/25% of 3 replicas is 1/0; when both
    come out 0 the controller would be stuck, so maxUnavailable becomes 1 (`ResolveFenceposts`).
    """
    surge = scaled_value(max_surge, desired, round_up=True)
    unavailable = scaled_value(max_unavailable, desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable
