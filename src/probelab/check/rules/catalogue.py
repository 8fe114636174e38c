"""What a rule is: a pure function of the inventory and the timing model, registered with its
ID, default severity, summary, "why" paragraph and upstream source.

A rule function yields `Hit`s (object, container, field, message with the numbers, fix); the
catalogue adds the rule's ID and default severity, so a rule cannot misspell its own ID.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from probelab.check.model import Finding, Severity, TimingModel
from probelab.check.workloads import Inventory, Ref


@dataclass(frozen=True)
class Hit:
    ref: Ref
    container: str | None
    field: str
    message: str
    fix: str
    severity: Severity | None = None  # None: the rule's default


RuleFn = Callable[[Inventory, TimingModel], Iterator[Hit]]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    summary: str
    why: str
    source: str
    fn: RuleFn

    def run(self, inv: Inventory, model: TimingModel) -> list[Finding]:
        return [Finding(self.id, hit.severity if hit.severity is not None else self.severity,
                        hit.ref.kind, hit.ref.namespace, hit.ref.name, hit.container, hit.field,
                        hit.message, hit.fix, document=hit.ref.index)
                for hit in self.fn(inv, model)]


RULES: dict[str, Rule] = {}


def rule(rule_id: str, severity: Severity, summary: str, *, source: str, why: str
         ) -> Callable[[RuleFn], RuleFn]:
    """Register a rule function under its ID."""
    def register(fn: RuleFn) -> RuleFn:
        if rule_id in RULES:
            raise ValueError(f"rule {rule_id} registered twice")
        RULES[rule_id] = Rule(rule_id, severity, summary, " ".join(why.split()), source, fn)
        return fn
    return register
