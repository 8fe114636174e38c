"""The terminal table of demo runs (rich) and the JSON document."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from probelab.report.model import RunRecord
from probelab.report.summary import row, verdict

# The table needs about this many columns; narrower (a pipe reports 80) squeezes the names.
TABLE_WIDTH = 120


def render_table(runs: Sequence[RunRecord], console: Console) -> None:
    if console.width < TABLE_WIDTH and not console.is_terminal:
        console = Console(file=console.file, width=TABLE_WIDTH, no_color=console.no_color)
    table = Table(title="probelab demo", title_justify="left")
    for name in ("variant", "scenario", "requests", "ok", "refused", "reset", "closed",
                 "unreach.", "timeout", "5xx", "time"):
        table.add_column(name, justify="left" if name in ("variant", "scenario") else "right")
    rows = [row(run) for run in runs]
    for r in rows:
        fails = [r.refused, r.reset, r.closed, r.unreachable, r.timeout, r.http_5xx]
        table.add_row(
            r.variant, r.scenario, str(r.requests), str(r.ok),
            *[f"[bold red]{n}[/]" if n else "0" for n in fails], f"{r.duration_s:.1f} s",
        )
    console.print(table)
    for r in rows:
        console.print(f"[bold]{r.variant} / {r.scenario}[/]: {r.explanation}")
    ok, text = verdict(list(runs))
    console.print(f"[bold {'green' if ok else 'red'}]Verdict:[/] {text}")


def write_json(runs: Sequence[RunRecord], path: Path) -> None:
    ok, text = verdict(list(runs))
    doc = {
        "verdict": {"passed": ok, "message": text},
        "table": [asdict(row(run)) for run in runs],
        "runs": [run.to_json() for run in runs],
    }
    path.write_text(json.dumps(doc, indent=2))
