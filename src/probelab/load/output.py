"""Rendering a load run: the live progress bar, the summary tables, the JSON and CSV files.

Only formatting: the numbers come from `summary.summarize`, the rows from the record log.
The progress bar polls the log's length (no per-request callback) and is shown only when
stderr is a terminal.
"""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from probelab.errors import UsageError
from probelab.load.config import LoadConfig
from probelab.load.fdlimit import fd_note
from probelab.load.outcome import Outcome
from probelab.load.records import RecordLog

CSV_COLUMNS = ("start_s", "latency_ms", "class", "status", "version", "pod", "error")
_STYLE = {Outcome.OK.value: "green"}


async def show_progress(
    console: Console, config: LoadConfig, log: RecordLog, stop: asyncio.Event
) -> None:
    """Update a bar from the log until cancelled; total is -n, else the duration in seconds."""
    loop = asyncio.get_running_loop()
    by_time = config.requests is None
    total = config.duration_s if by_time else config.requests
    start = loop.time()
    columns = [TextColumn("[bold]load"), BarColumn(), TextColumn("{task.description}"),
               TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("", total=total)
        while not stop.is_set():
            done = len(log)
            failed = log.failed
            text = f"{done} requests, {failed} failed"
            progress.update(task, completed=(loop.time() - start) if by_time else done,
                            description=text)
            await asyncio.sleep(0.2)


def render_summary(console: Console, summary: dict[str, Any]) -> None:
    """The end-of-run summary: classes, rates, latency, status codes, versions/pods, errors."""
    head = (f"[bold]{summary['requests']}[/] requests in {summary['elapsed_s']:.2f} s, "
            f"[bold]{summary['rps']:.1f}[/] requests/s, "
            f"{summary['ok']} ok, {summary['failed']} failed")
    if summary["interrupted"]:
        head += " [yellow](interrupted)[/]"
    console.print(head)

    classes = Table(title="Outcomes", title_justify="left")
    classes.add_column("class")
    classes.add_column("requests", justify="right")
    classes.add_column("share", justify="right")
    total = summary["requests"] or 1
    for cls, n in summary["by_class"].items():
        style = _STYLE.get(cls, "red" if n else "dim")
        classes.add_row(cls, str(n), f"{100 * n / total:.1f}%", style=style)
    console.print(classes)

    lat = summary["latency_ms"]
    latency = Table(title="Latency (ms)", title_justify="left")
    for key in ("p50", "p90", "p99", "max"):
        latency.add_column(key, justify="right")
    latency.add_row(*("-" if lat[k] is None else f"{lat[k]:.2f}" for k in ("p50", "p90", "p99",
                                                                          "max")))
    console.print(latency)

    seen = Table(title="Responses", title_justify="left")
    seen.add_column("what")
    seen.add_column("counts")
    seen.add_row("status codes", _counts(summary["status_codes"]))
    seen.add_row("versions", _counts(summary["versions"]))
    seen.add_row("pods", _counts(summary["pods"]))
    console.print(seen)

    if summary["error_examples"]:
        errors = Table(title="Errors (one example per class)", title_justify="left")
        errors.add_column("class", style="red")
        errors.add_column("requests", justify="right")
        errors.add_column("example")
        for cls, message in summary["error_examples"].items():
            errors.add_row(cls, str(summary["by_class"][cls]), message)
        console.print(errors)
    notes = []
    if summary["retried_on_fresh_connection"]:
        notes.append(f"{summary['retried_on_fresh_connection']} requests found their pooled "
                     "connection closed by the server while idle and were sent on a fresh one")
    if summary["resent_after_keepalive_race"]:
        notes.append(f"{summary['resent_after_keepalive_race']} requests met the keep-alive "
                     "race (the server closed their reused connection before any response "
                     "byte) and were sent once more on a new connection; --no-resend counts "
                     "them as failures")
    fd = fd_note(summary["concurrency"], summary["concurrency_used"], summary["fd_limit"])
    if fd is not None:
        notes.append(fd)
    if summary["not_sent_client_error"]:
        notes.append(f"{summary['not_sent_client_error']} requests were not sent because of "
                     f"the client's own error ({summary['client_error_example']}): the "
                     "client's, not the server's, so in no class")
    if summary["abandoned_in_flight"]:
        notes.append(f"{summary['abandoned_in_flight']} requests still in flight at the stop "
                     "were abandoned (not counted)")
    late = schedule_note(summary)
    if late is not None:
        notes.append(late)
    if summary["elapsed_s"] > 1 and (
            summary["client_cpu_s"] > CLIENT_BOUND_SHARE * summary["elapsed_s"]):
        share = 100 * summary["client_cpu_s"] / summary["elapsed_s"]
        notes.append(f"the load generator used {share:.0f}% of a CPU core: the rate and "
                     "latency may be limited by this client, not by the server")
    for note in notes:
        console.print(f"note: {note}")


CLIENT_BOUND_SHARE = 0.9  # of a CPU core: above it, the client is the limit


def schedule_note(summary: dict[str, Any]) -> str | None:
    """What to say about due requests the open model did not send; None when it sent all.

    Those requests are the client's: it did not send them when due, so no server outcome can
    be given to them. Which limit held them back, the client's CPU or its -c connections,
    decides the advice."""
    not_sent, scheduled = summary["not_sent"], summary["scheduled"]
    if not not_sent:
        return None
    if summary["interrupted"]:
        return (f"{not_sent} of {scheduled} requests due were still waiting for a connection "
                "when the run was stopped: not sent, in no class")
    elapsed = summary["elapsed_s"]
    share = summary["client_cpu_s"] / elapsed if elapsed > 0 else 0.0
    if summary["client_bound"] or share >= CLIENT_BOUND_SHARE:
        why = (f"the client itself was the limit, never idle; it used {share:.0%} of a CPU "
               "core: lower --rate, or add --workers")
    else:
        why = f"all {summary['concurrency_used']} connections were busy: raise -c"
    return (f"the client could not keep the schedule: {not_sent} of {scheduled} requests due "
            f"were not sent by the end of the run ({why}). Not sending is the client's doing, "
            "not the server's: those requests are in no class")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in counts.items()) or "-"


def write_json(path: Path, config: LoadConfig, summary: dict[str, Any], started_at: float) -> None:
    doc = {
        "url": config.url,
        "method": config.method,
        "model": "open" if config.rate_rps is not None else "closed",
        "rate_rps": config.rate_rps,
        "concurrency": config.concurrency,
        "keepalive": not config.disable_keepalive,
        "timeout_s": config.timeout_s,
        "started_at": started_at,
        **summary,
    }
    _write(path, lambda f: json.dump(doc, f, indent=2))


def write_csv(path: Path, log: RecordLog) -> None:
    """One row per request, failures included, in the order they finished."""

    def rows(f: Any) -> None:
        out = csv.writer(f)
        out.writerow(CSV_COLUMNS)
        for r in log:
            out.writerow((f"{r.start_s:.6f}", f"{r.latency_s * 1000:.3f}", r.outcome.value,
                          r.status or "", r.version or "", r.pod or "", r.error or ""))

    _write(path, rows, newline="")


def _write(path: Path, fill: Any, newline: str | None = None) -> None:
    try:
        with path.open("w", encoding="utf-8", newline=newline) as f:
            fill(f)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
