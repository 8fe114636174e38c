"""`--format github`: workflow commands that GitHub Actions shows as annotations on the file
and line (https://docs.github.com/actions/reference/workflow-commands-for-github-actions)."""

from __future__ import annotations

from probelab.check.model import Finding, Severity, TimingModel

COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(finding: Finding) -> str:
    props = [f"file={_property(finding.file)}"]
    if finding.line:
        props.append(f"line={finding.line}")
    props.append(f"title={_property(finding.rule + ' ' + finding.kind + '/' + finding.name)}")
    return (f"::{COMMANDS[finding.severity]} {','.join(props)}::"
            f"{_data(finding.message)}. Fix: {_data(finding.fix)}.")


def render(findings: list[Finding], model: TimingModel) -> str:
    return "".join(annotation(f) + "\n" for f in findings)
