"""Label selectors: the string form of `?labelSelector=` and the structured form of objects.

Used by the store's list/watch filtering, the controllers (ReplicaSet -> pods, Service -> pods)
and the API server. Rules follow `staging/src/k8s.io/apimachinery/pkg/labels/selector.go`:
`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, comma-separated, all must hold.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum


class Op(Enum):
    IN = "In"  # the value is one of the values
    NOT_IN = "NotIn"  # the key is absent or its value is none of the values
    EXISTS = "Exists"  # the key is present
    DOES_NOT_EXIST = "DoesNotExist"  # the key is absent


@dataclass(frozen=True)
class Requirement:
    key: str
    op: Op
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.op is Op.EXISTS:
            return self.key in labels
        if self.op is Op.DOES_NOT_EXIST:
            return self.key not in labels
        if self.op is Op.IN:
            return self.key in labels and labels[self.key] in self.values
        return self.key not in labels or labels[self.key] not in self.values


@dataclass(frozen=True)
class Selector:
    """All requirements must hold; an empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(req.matches(labels) for req in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


class SelectorError(ValueError):
    """A selector string or structure that cannot be parsed (the API answers 400)."""


_SET_RE = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_EQ_RE = re.compile(r"^\s*([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)\s*$")


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    terms, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(ch)
    terms.append("".join(current))
    return [t for t in terms if t.strip()]


def parse(text: str | None) -> Selector:
    """Parse the string form (`app=web,tier!=db,env in (a,b)`)."""
    if not text or not text.strip():
        return Selector()
    reqs: list[Requirement] = []
    for term in _split_terms(text):
        eq = _EQ_RE.match(term)
        if eq:
            key, op, value = eq.groups()
            reqs.append(Requirement(key, Op.NOT_IN if op == "!=" else Op.IN, frozenset({value})))
            continue
        st = _SET_RE.match(term)
        if not st:
            raise SelectorError(f"unable to parse requirement: {term.strip()!r}")
        bang, key, set_op, values = st.groups()
        if set_op:
            if bang:
                raise SelectorError(f"unable to parse requirement: {term.strip()!r}")
            vals = frozenset(v.strip() for v in values.split(",") if v.strip())
            reqs.append(Requirement(key, Op.IN if set_op == "in" else Op.NOT_IN, vals))
        else:
            reqs.append(Requirement(key, Op.DOES_NOT_EXIST if bang else Op.EXISTS))
    return Selector(tuple(reqs))


def from_label_selector(spec: Mapping | None) -> Selector:
    """The structured form (`matchLabels` + `matchExpressions`) of Deployments and ReplicaSets."""
    if not spec:
        return Selector()
    if not isinstance(spec, Mapping):
        raise SelectorError("selector must be an object")
    reqs = [
        Requirement(str(k), Op.IN, frozenset({str(v)}))
        for k, v in (spec.get("matchLabels") or {}).items()
    ]
    for expr in spec.get("matchExpressions") or []:
        try:
            op = Op(expr["operator"])
            reqs.append(Requirement(expr["key"], op, frozenset(expr.get("values") or ())))
        except (KeyError, TypeError, ValueError) as exc:
            raise SelectorError(f"invalid matchExpressions entry {expr!r}") from exc
    return Selector(tuple(reqs))


def from_map(labels: Mapping[str, str] | None) -> Selector:
    """A Service's plain `selector` map (equality on every key). Empty selects nothing there."""
    return Selector(tuple(Requirement(k, Op.IN, frozenset({v})) for k, v in (labels or {}).items()))


def to_string(labels: Mapping[str, str]) -> str:
    """The selector string kubectl shows for a matchLabels map."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
