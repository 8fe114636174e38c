"""The rule catalogue: every rule is a pure function of the inventory and the timing model.

A rule function yields `Hit`s (object, container, field, message with the numbers, fix); the
catalogue adds the rule's ID and default severity, so a rule cannot misspell its own ID. The
"why" paragraph and the upstream source of each rule live here too, and `docs/check.md` lists
the same table (a test keeps the two in step).
"""

from __future__ import annotations

from probelab.check.rules.catalogue import RULES, Hit, Rule, RuleFn, rule

__all__ = ["RULES", "Hit", "Rule", "RuleFn", "load_rules", "rule"]


MODULES = ("schema", "traffic", "probes", "services", "availability")


def load_rules() -> dict[str, Rule]:
    """Every rule in catalogue order (module, then definition), whatever imported them first."""
    from probelab.check.rules import (  # noqa: F401
        availability,
        probes,
        schema,
        services,
        traffic,
    )

    def place(rule: Rule) -> tuple[int, int]:
        module = rule.fn.__module__.rsplit(".", 1)[-1]
        return MODULES.index(module), rule.fn.__code__.co_firstlineno

    return {r.id: r for r in sorted(RULES.values(), key=place)}
