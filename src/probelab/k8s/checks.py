"""Field errors and the small checker that collects them while validation walks an object.

`FieldError` is what `validation.validate` returns and what the API server turns into the
`causes` of a 422 Status; the reasons are the `CauseType` strings of
`staging/src/k8s.io/apimachinery/pkg/util/validation/field/errors.go`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from probelab.k8s import names
from probelab.k8s.intstr import is_int, is_percent

__all__ = ["Checker", "FieldError", "Reason", "is_int"]


class Reason(StrEnum):
    """Why a field is wrong (the Status cause `reason`)."""

    INVALID = "FieldValueInvalid"  # the value breaks a rule
    REQUIRED = "FieldValueRequired"  # the field is missing or empty
    NOT_SUPPORTED = "FieldValueNotSupported"  # not one of an enumerated set of values
    DUPLICATE = "FieldValueDuplicate"  # repeats a value that must be unique
    FORBIDDEN = "FieldValueForbidden"  # may not be set here
    TOO_LONG = "FieldValueTooLong"  # longer than allowed
    NOT_FOUND = "FieldValueNotFound"  # refers to something that does not exist

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class FieldError:
    """One problem at one field path (`spec.template.spec.containers[0].image`)."""

    field: str
    message: str
    reason: Reason = Reason.INVALID
    value: Any = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


def _quote(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


@dataclass
class Checker:
    """Collects errors; each helper states one upstream rule and its message."""

    errors: list[FieldError] = field(default_factory=list)

    def invalid(self, path: str, value: Any, detail: str) -> None:
        self.errors.append(FieldError(path, detail, Reason.INVALID, value))

    def objects(self, path: str, value: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        """(path of the item, item) for each object of an optional list field; a value that
        is not a list, or an item that is not an object, is reported and skipped."""
        if value is None:
            return
        if not isinstance(value, list):
            self.invalid(path, value, "must be a list")
            return
        for i, item in enumerate(value):
            if isinstance(item, dict):
                yield f"{path}[{i}]", item
            else:
                self.invalid(f"{path}[{i}]", item, "must be an object")

    def required(self, path: str, detail: str = "") -> None:
        message = f"Required value: {detail}" if detail else "Required value"
        self.errors.append(FieldError(path, message, Reason.REQUIRED))

    def forbidden(self, path: str, detail: str) -> None:
        self.errors.append(FieldError(path, f"Forbidden: {detail}", Reason.FORBIDDEN))

    def duplicate(self, path: str, value: Any) -> None:
        self.errors.append(FieldError(path, f"Duplicate value: {_quote(value)}",
                                      Reason.DUPLICATE, value))

    def too_long(self, path: str, detail: str) -> None:
        self.errors.append(FieldError(path, f"Too long: {detail}", Reason.TOO_LONG))

    def not_found(self, path: str, value: Any) -> None:
        self.errors.append(FieldError(path, f"Not found: {_quote(value)}", Reason.NOT_FOUND,
                                      value))

    def not_supported(self, path: str, value: Any, supported: Iterable[str]) -> None:
        listed = ", ".join(f'"{s}"' for s in supported)
        self.errors.append(FieldError(
            path, f"Unsupported value: {_quote(value)}: supported values: {listed}",
            Reason.NOT_SUPPORTED, value))

    # --- compound rules --------------------------------------------------------------------

    def name(self, path: str, value: Any, rule: Callable[[str], list[str]]) -> bool:
        if not isinstance(value, str):
            self.invalid(path, value, "must be a string")
            return False
        problems = rule(value)
        for problem in problems:
            self.invalid(path, value, problem)
        return not problems

    def integer(self, path: str, value: Any) -> bool:
        """True when `value` is an integer; reports it otherwise (None is fine: unset)."""
        if value is None:
            return False
        if not is_int(value):
            self.invalid(path, value, "must be an integer")
            return False
        return True

    def at_least(self, path: str, value: Any, minimum: int) -> None:
        if self.integer(path, value) and value < minimum:
            self.invalid(path, value, f"must be >= {minimum}")

    def non_negative(self, path: str, value: Any) -> None:
        self.at_least(path, value, 0)

    def port_number(self, path: str, value: Any, required: bool = False) -> bool:
        if value is None or value == 0:
            if required:
                self.required(path)
            return False
        if not self.integer(path, value):
            return False
        if not 1 <= value <= 65535:
            self.invalid(path, value, "must be between 1 and 65535, inclusive")
            return False
        return True

    def port_or_name(self, path: str, value: Any) -> None:
        """A port by number (1-65535) or by IANA name, as in probes and targetPort."""
        if isinstance(value, str):
            if value.isdigit():
                self.invalid(path, value, "must be a number or a port name, not a numeric "
                             "string")
                return
            for problem in names.port_name(value):
                self.invalid(path, value, problem)
        elif is_int(value):
            self.port_number(path, value, required=True)
        elif value is None:
            self.required(path)
        else:
            self.invalid(path, value, "must be an integer or a port name")

    def int_or_percent(self, path: str, value: Any) -> bool:
        """`ValidatePositiveIntOrPercent`: a non-negative integer or `N%`."""
        if value is None:
            return True
        if isinstance(value, str):
            if is_percent(value):
                return True
            self.invalid(path, value, "a valid percent string must be a numeric string "
                         "followed by an ending '%' (e.g. '1%' or '93%')")
            return False
        if not is_int(value):
            self.invalid(path, value, "must be an integer or a percentage")
            return False
        if value < 0:
            self.invalid(path, value, "must be >= 0")
            return False
        return True
