"""Resource quantities (`staging/src/k8s.io/apimachinery/pkg/api/resource/quantity.go`):
`100m`, `1.5`, `64Mi`, `1e3`, `2G`. Parsed to an exact `Decimal`, so sums and comparisons
(what the QoS rule needs) are exact, as `Quantity.Cmp` is."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
           "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
           "P": Decimal("1e15"), "E": Decimal("1e18")}
_FORM = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+))([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)")


class QuantityError(ValueError):
    pass


def parse_quantity(value: Any) -> Decimal:
    """The amount a quantity string (or a JSON number) stands for; QuantityError if it is
    not one."""
    if isinstance(value, bool):
        raise QuantityError(f"quantities must match the regular expression: {value!r}")
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    match = _FORM.fullmatch(str(value).strip())
    if match is None:
        raise QuantityError(f"quantities must match the regular expression: {value!r}")
    number, suffix = match.groups()
    try:
        amount = Decimal(number)
    except InvalidOperation:
        raise QuantityError(f"not a number: {value!r}") from None
    if suffix in BINARY:
        return amount * BINARY[suffix]
    if suffix[:1] in ("e", "E"):
        return amount * (Decimal(10) ** int(suffix[1:]))
    return amount * DECIMAL[suffix]
