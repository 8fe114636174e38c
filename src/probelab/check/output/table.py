"""The terminal view: one table per object, objects with the worst findings first, each row
with its fix, and a last line with the counts and the timing model they were computed with."""

from __future__ import annotations

from itertools import groupby

from rich.console import Console
from rich.table import Table

from probelab.check.model import Finding, Severity, TimingModel
from probelab.check.output.json_out import summary

STYLES = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def model_line(model: TimingModel) -> str:
    return (f"timing model: lag {model.lag_s:g} s ({model.profile}), margin "
            f"{model.margin_s:g} s, Kubernetes {model.version}")


def print_table(findings: list[Finding], model: TimingModel, console: Console) -> None:
    groups = [list(g) for _, g in groupby(findings, key=lambda f: f.document)]
    groups.sort(key=lambda g: (-max(f.severity for f in g), g[0].document))
    for group in groups:
        first = group[0]
        title = (f"{first.kind} {first.namespace}/{first.name}  "
                 f"[dim]{first.file}[/]")
        table = Table(title=title, title_justify="left", show_lines=True, expand=True)
        table.add_column("severity", no_wrap=True)
        table.add_column("rule", no_wrap=True)
        table.add_column("finding, field and fix", ratio=1, overflow="fold")
        for f in group:
            where = f"{f.field}" + (f" (line {f.line})" if f.line else "")
            table.add_row(f"[{STYLES[f.severity]}]{f.severity}[/]", f.rule,
                          f"{f.message}\n[dim]{where}[/]\n[green]fix:[/] {f.fix}")
        console.print(table)
    counts = summary(findings)
    text = ", ".join(f"{n} {name}" for name, n in counts.items())
    verdict = "no findings" if not findings else text
    console.print(f"{verdict}; {model_line(model)}")
