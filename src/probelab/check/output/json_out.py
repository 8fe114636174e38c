"""`--format json`: a stable schema (`version` changes when a field is removed or renamed).

{"version": 1, "timing_model": {...}, "summary": {"error": n, "warning": n, "info": n},
 "findings": [{rule, severity, kind, namespace, name, container, field, message, fix,
               file, line}]}
"""

from __future__ import annotations

import json

from probelab.check.model import Finding, Severity, TimingModel

SCHEMA_VERSION = 1


def summary(findings: list[Finding]) -> dict[str, int]:
    return {str(s): sum(1 for f in findings if f.severity is s) for s in reversed(Severity)}


def render(findings: list[Finding], model: TimingModel) -> str:
    return json.dumps({"version": SCHEMA_VERSION, "timing_model": model.as_dict(),
                       "summary": summary(findings),
                       "findings": [f.as_dict() for f in findings]}, indent=2) + "\n"
