"""Run every rule over the loaded objects and place the findings in the input.

Pure apart from the lazy YAML composing behind `Located.line`: the objects come in, findings
with file and line go out, ordered by object (input order) and worst first within an object.
"""

from __future__ import annotations

from dataclasses import replace

from probelab.check.model import Finding, Severity, TimingModel
from probelab.check.rules import load_rules
from probelab.check.sources import Located
from probelab.check.workloads import IGNORE_ANNOTATION, TEMPLATE_AT, Obj, inventory, mapping


def ignored_rules(obj: Obj) -> set[str]:
    """Rule IDs listed in `probelab.io/check-ignore` on the object or its pod template."""
    metas = [obj.get("metadata")]
    template = mapping(obj.get("spec")).get("template") if TEMPLATE_AT.get(
        str(obj.get("kind"))) else None
    if isinstance(template, dict):
        metas.append(template.get("metadata"))
    found: set[str] = set()
    for meta in metas:
        notes = meta.get("annotations") if isinstance(meta, dict) else None
        value = notes.get(IGNORE_ANNOTATION) if isinstance(notes, dict) else None
        if isinstance(value, str):
            found.update(part.strip() for part in value.split(",") if part.strip())
    return found


def findings_for(objects: list[Obj], model: TimingModel) -> list[Finding]:
    """Every rule's findings, minus the ignored ones, in report order (no positions)."""
    inv = inventory(objects)
    found: list[Finding] = []
    for rule in load_rules().values():
        found.extend(rule.run(inv, model))
    ignores = {i: ignored_rules(obj) for i, obj in enumerate(objects)}
    kept = [f for f in found if f.rule not in ignores.get(f.document, set())]
    return sorted(kept, key=lambda f: (f.document, -f.severity, f.rule, f.field))


def check(located: list[Located], model: TimingModel) -> list[Finding]:
    """Findings with their file and line."""
    findings = findings_for([item.obj for item in located], model)
    return [replace(f, file=located[f.document].source.name,
                    line=located[f.document].line(f.field)) for f in findings]


def worst(findings: list[Finding]) -> Severity | None:
    return max((f.severity for f in findings), default=None)
