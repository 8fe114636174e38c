"""The results on a terminal (rich table, one line per cause), as JSON and as JUnit XML."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from probelab.report.html import render_html
from probelab.report.model import RunRecord
from probelab.report.summary import counted
from probelab.workloadtest import junit
from probelab.workloadtest.target import Target
from probelab.workloadtest.verdict import Limits, ScenarioResult, judge, overall, repeated

TABLE_WIDTH = 110


def render(target: Target, results: list[ScenarioResult], limits: Limits,
           console: Console) -> None:
    if console.width < TABLE_WIDTH and not console.is_terminal:
        console = Console(file=console.file, width=TABLE_WIDTH, no_color=console.no_color,
                          soft_wrap=console.soft_wrap)
    if not results:
        console.print("[bold red]Verdict:[/] no scenario ran", highlight=False)
        return
    rounds = repeated(results)
    table = Table(title=f"probelab test {target.label}", title_justify="left")
    for name in ("scenario", "action", "requests", "failed", "rollout", "result"):
        table.add_column(name, justify="left" if name in ("scenario", "action", "result")
                         else "right")
    for result in results:
        verdict = judge(result, limits)
        rollout = "-" if result.rollout_s is None else f"{result.rollout_s:.1f} s"
        table.add_row(result.name(rounds), result.action, str(result.requests),
                      f"[bold red]{result.failed}[/]" if result.failed else "0", rollout,
                      "[green]pass[/]" if verdict.passed else f"[bold red]FAIL[/] {verdict.kind}")
    console.print(table)
    for result in results:
        verdict = judge(result, limits)
        console.print(f"[bold]{escape(result.name(rounds))}[/]: {escape(verdict.message)}",
                      highlight=False)
        if result.termination_summary:
            console.print(f"  {escape(result.termination_summary)}", highlight=False)
        for cause in result.causes:
            console.print(f"  - {escape(cause.text)}", highlight=False)
        if result.failed and not result.causes:
            what = ", ".join(counted(n, c) for c, n in result.totals.items() if c != "ok")
            console.print(f"  - {what}", highlight=False)
    passed, message = overall(results, limits)
    console.print(f"[bold {'green' if passed else 'red'}]Verdict:[/] {escape(message)}",
                  highlight=False)


def to_json(target: Target, results: list[ScenarioResult], limits: Limits) -> dict:
    passed, message = overall(results, limits)
    scenarios = []
    for result in results:
        verdict = judge(result, limits)
        entry = {k: v for k, v in asdict(result).items() if k not in ("record", "causes")}
        entry.update(passed=verdict.passed, kind=verdict.kind, message=verdict.message,
                     causes=[{**asdict(c), "text": c.text} for c in result.causes],
                     run=result.record.to_json() if result.record is not None else None)
        scenarios.append(entry)
    return {
        "target": {"namespace": target.namespace, "deployment": target.deployment,
                   "replicas": target.replicas, "service": target.service,
                   "port": asdict(target.port)},
        "verdict": {"passed": passed, "message": message},
        "scenarios": scenarios,
    }


def write_json(target: Target, results: list[ScenarioResult], limits: Limits,
               path: Path) -> None:
    path.write_text(json.dumps(to_json(target, results, limits), indent=2))


def records(results: list[ScenarioResult]) -> list[RunRecord]:
    """The runs' records (the load series and pod timeline), named by scenario and round."""
    rounds = repeated(results)
    out = []
    for result in results:
        if result.record is not None:
            result.record.scenario = result.name(rounds)
            out.append(result.record)
    return out


def write_report(target: Target, results: list[ScenarioResult], limits: Limits,
                 path: Path) -> None:
    """The HTML report with the demo's plots, for whatever workload was tested."""
    passed, message = overall(results, limits)
    path.write_text(render_html(records(results), title=f"probelab test {target.label}",
                                verdict=(passed, message), lead=REPORT_LEAD))


REPORT_LEAD = ("Each scenario sends HTTP load at a fixed rate through the workload's Service "
               "while the Deployment rolls out, scales or loses a pod; a scenario passes when "
               "no request failed and the rollout completed.")


def write_junit(target: Target, results: list[ScenarioResult], limits: Limits, path: Path,
                timestamp: str) -> None:
    path.write_text(junit.render(target.label, results, limits, timestamp))
