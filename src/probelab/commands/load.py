"""`probelab load URL`: translate hey-style flags into a LoadConfig, run it, print the summary.

Ctrl-C (or SIGTERM) only sets the stop event: requests in flight get a moment to finish and the
summary of what ran is still printed and written. A second Ctrl-C stops at once.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path

import click
from rich.console import Console

from probelab.errors import RuntimeFailure, UsageError
from probelab.load.config import DEFAULT_CONCURRENCY, DEFAULT_REQUESTS, LoadConfig, parse_header
from probelab.load.output import render_summary, show_progress, write_csv, write_json
from probelab.load.records import RecordLog
from probelab.load.runner import LoadResult, loop_factory, run_load
from probelab.load.summary import summarize_run
from probelab.load.workers import run_workers, worker_configs

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """`30s`, `2m`, `1m30s`, `500ms`, `1h` or plain seconds (`45`, `2.5`) → seconds."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        parts = _DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise UsageError(f"invalid duration {text!r}: use e.g. 30s, 2m, 1m30s or 45") from None
        seconds = sum(float(n) * _UNIT_S[u] for n, u in parts)
    if not seconds > 0 or seconds != seconds or seconds == float("inf"):
        raise UsageError(f"invalid duration {text!r}: must be positive")
    return seconds


@click.command(name="load")
@click.argument("url")
@click.option("-n", "requests", type=int, default=None,
              help=f"Total requests (default {DEFAULT_REQUESTS}; with -z: no count limit "
                   "unless given).")
@click.option("-c", "concurrency", type=int, default=DEFAULT_CONCURRENCY, show_default=True,
              help="Connections / requests in flight at most.")
@click.option("-z", "duration", default=None, metavar="DURATION",
              help="Run for this long: 30s, 2m, 1m30s or plain seconds.")
@click.option("--rate", "rate", type=float, default=None,
              help="Total requests per second, open model: sent on schedule even when the "
                   "server is slow; latency counts from the scheduled time. Absent: -c "
                   "workers back to back.")
@click.option("-t", "--timeout", "timeout", type=float, default=10.0, show_default=True,
              help="Seconds for connect + response of each request.")
@click.option("-m", "--method", "method", default="GET", show_default=True)
@click.option("-H", "headers", multiple=True, metavar="'NAME: VALUE'",
              help="Extra request header (repeatable).")
@click.option("--disable-keepalive", is_flag=True, help="A new connection for every request.")
@click.option("--no-resend", is_flag=True,
              help="Report the keep-alive race as failures: by default a GET/HEAD whose reused "
                   "connection the server closed before any response byte is sent once more "
                   "on a new connection (counted), as hey and browsers do.")
@click.option("--workers", "workers", type=int, default=1, show_default=True,
              help="Processes that share the load (like wrk's -t), for more than one core "
                   "can send; -c, -n and --rate are totals, split between them.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the summary and the per-second series as JSON.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write one row per request (failures included) as CSV.")
@click.option("--fail-on-error", is_flag=True, help="Exit 1 if any request failed.")
@click.option("--no-progress", is_flag=True, help="No progress bar, even on a terminal.")
def command(url: str, requests: int | None, concurrency: int, duration: str | None,
            rate: float | None, timeout: float, method: str, headers: tuple[str, ...],
            disable_keepalive: bool, no_resend: bool, workers: int, json_path: Path | None,
            csv_path: Path | None,
            fail_on_error: bool, no_progress: bool) -> None:
    """Send HTTP load to URL and classify every failed request.

    Every request ends as ok, http_4xx, http_5xx, refused, reset, closed, timeout or other.
    Errors never stop the run; Ctrl-C stops it and still prints the summary.
    """
    duration_s = parse_duration(duration) if duration is not None else None
    if requests is None and duration_s is None:
        requests = DEFAULT_REQUESTS
    config = LoadConfig(
        url=url, requests=requests, concurrency=concurrency, duration_s=duration_s,
        rate_rps=rate, timeout_s=timeout, method=method.upper(),
        headers=tuple(parse_header(h) for h in headers), disable_keepalive=disable_keepalive,
        resend_reused=not no_resend,
    )
    for path in (json_path, csv_path):
        if path is not None:
            _check_writable(path)
    console = Console(stderr=True)
    show_bar = console.is_terminal and not no_progress
    if workers != 1:
        worker_configs(config, workers)  # bad input fails here, before anything starts
        result = run_workers(config, workers)
    else:
        result = _run(config, console, show_bar)
    summary = summarize_run(result)
    if json_path is not None:
        write_json(json_path, config, summary, result.started_at)
    if csv_path is not None:
        write_csv(csv_path, result.records)
    render_summary(Console(), summary)
    if fail_on_error and summary["failed"]:
        raise RuntimeFailure(f"{summary['failed']} of {summary['requests']} requests failed")


def _check_writable(path: Path) -> None:
    """Fail before the run, not after it, when an output file cannot be written."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"cannot write {path}: no directory {parent}")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"cannot write {path}: permission denied")


def _run(config: LoadConfig, console: Console, show_bar: bool) -> LoadResult:
    async def main() -> LoadResult:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        current = asyncio.current_task()
        presses = [0]

        def on_signal() -> None:
            presses[0] += 1
            if presses[0] > 1 and current is not None:
                current.cancel()  # second Ctrl-C: stop at once
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        log = RecordLog()
        bar_done = asyncio.Event()
        bar = None
        if show_bar:
            bar = loop.create_task(show_progress(console, config, log, bar_done),
                                   name="load-progress")
        try:
            return await run_load(config, stop_event=stop, log=log,
                                  notify=lambda note: console.print(f"note: {note}"))
        finally:
            bar_done.set()
            if bar is not None:
                await asyncio.gather(bar, return_exceptions=True)
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            return runner.run(main())
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
