"""IntOrString scaling: maxSurge rounds up, maxUnavailable rounds down, never both zero."""

from __future__ import annotations

import pytest

from probelab.k8s.intstr import resolve_fenceposts, scaled_value


@pytest.mark.parametrize(("value", "total", "up", "result"), [
    (3, 10, True, 3), ("25%", 10, True, 3), ("25%", 10, False, 2), ("25%", 4, False, 1),
    ("0%", 10, True, 0), ("100%", 7, False, 7), ("1%", 1, True, 1), ("1%", 1, False, 0),
    (0, 10, False, 0), ("25%", 4, True, 1), ("25%", 3, True, 1), ("25%", 3, False, 0),
    ("10%", 5, True, 1), ("10%", 5, False, 0), ("33%", 100, True, 33), ("50%", 0, True, 0),
])
def test_scaled_value(value: int | str, total: int, up: bool, result: int) -> None:
    assert scaled_value(value, total, round_up=up) == result


@pytest.mark.parametrize("value", ["25", "x%", True, None, 1.5, "abc", "25.5%", "-1%"])
def test_scaled_value_rejects_non_counts(value: object) -> None:
    with pytest.raises(ValueError, match="IntOrString"):
        scaled_value(value, 10, round_up=True)  # type: ignore[arg-type]


@pytest.mark.parametrize(("surge", "unavailable", "desired", "result"), [
    ("25%", "25%", 10, (3, 2)),
    ("25%", "25%", 3, (1, 0)),
    ("25%", "25%", 1, (1, 0)),
    ("25%", "25%", 0, (0, 1)),
    (0, "10%", 5, (0, 1)),  # both zero after rounding: maxUnavailable becomes 1
    (1, 1, 3, (1, 1)),
    (0, 0, 3, (0, 1)),
    (1, 0, 10, (1, 0)), (0, 1, 10, (0, 1)), ("0%", "0%", 10, (0, 1)),
    ("10%", "10%", 5, (1, 0)), ("100%", "0%", 4, (4, 0)), (2, "50%", 5, (2, 2)),
])
def test_resolve_fenceposts(surge: int | str, unavailable: int | str, desired: int,
                            result: tuple[int, int]) -> None:
    assert resolve_fenceposts(surge, unavailable, desired) == result
