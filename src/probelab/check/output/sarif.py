"""`--format sarif`: SARIF 2.1.0, the format GitHub code scanning reads.

Each finding is a result located at its file and YAML line (`region.startLine`), so code
scanning annotates the manifest line; the rule catalogue goes into `tool.driver.rules` with the
"why" paragraph and the upstream source; the timing model into the run's `properties`.
Spec: https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html
"""

from __future__ import annotations

import json
from typing import Any

from probelab import __version__
from probelab.check.model import Finding, Severity, TimingModel
from probelab.check.rules import Rule, load_rules

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
DOCS = "docs/check.md"  # in the probelab repository; no URL is invented for it


def _rule(rule: Rule) -> dict[str, Any]:
    return {"id": rule.id, "name": rule.id,
            "shortDescription": {"text": rule.summary},
            "fullDescription": {"text": rule.why},
            "help": {"text": f"{rule.why} Source: {rule.source}. More: {DOCS}#{rule.id}"},
            "defaultConfiguration": {"level": LEVELS[rule.severity]}}


def _uri(file: str) -> str:
    return "stdin" if file == "<stdin>" else file.replace("\\", "/")


def _result(finding: Finding, index: dict[str, int]) -> dict[str, Any]:
    where = "/".join(p for p in (finding.kind, finding.namespace, finding.name,
                                 finding.container) if p)
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(finding.file)}}
    if finding.line:
        physical["region"] = {"startLine": finding.line}
    return {"ruleId": finding.rule, "ruleIndex": index[finding.rule],
            "level": LEVELS[finding.severity],
            "message": {"text": f"{finding.message}. Fix: {finding.fix}."},
            "locations": [{"physicalLocation": physical,
                           "logicalLocations": [{"fullyQualifiedName": where,
                                                 "kind": "object"}]}],
            "properties": {"field": finding.field}}


def document(findings: list[Finding], model: TimingModel) -> dict[str, Any]:
    rules = list(load_rules().values())
    index = {rule.id: i for i, rule in enumerate(rules)}
    return {"$schema": SCHEMA_URI, "version": "2.1.0",
            "runs": [{"tool": {"driver": {"name": "probelab check", "version": __version__,
                                          "rules": [_rule(r) for r in rules]}},
                      "results": [_result(f, index) for f in findings],
                      "properties": {"timingModel": model.as_dict()}}]}


def render(findings: list[Finding], model: TimingModel) -> str:
    return json.dumps(document(findings, model), indent=2) + "\n"
