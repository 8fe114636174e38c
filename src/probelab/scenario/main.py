"""`probelab demo` end to end: cluster (local engine or kubeconfig context), runs, report.

Owns every process it starts: the local engine is stopped on success, failure and Ctrl-C (the
engine then stops its pods). Returns the exit status: 0 when every withprobes run had zero
failures, 1 otherwise, 130 on Ctrl-C (after writing what ran).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path

from kubernetes.client.exceptions import ApiException
from rich.console import Console
from rich.live import Live
from rich.text import Text

from probelab.errors import ProbelabError, RuntimeFailure
from probelab.report.html import render_html
from probelab.report.model import RunRecord
from probelab.report.summary import verdict
from probelab.report.text import render_table, write_json
from probelab.scenario.config import DemoConfig
from probelab.scenario.kube import Cluster, api_client
from probelab.scenario.local_engine import CONTEXT, LocalEngine
from probelab.scenario.runner import delete_namespaces, plan, run_one


class ProgressLine:
    """One live line: which run, which phase, requests and failures so far."""

    def __init__(self, console: Console, total_runs: int) -> None:
        self.console = console
        self.total = total_runs
        self.index = 0
        self.started = time.monotonic()
        self.live = Live(Text(""), console=console, refresh_per_second=8, transient=True)
        self.last_phase = ""

    def __call__(self, label: str, phase: str, counters: dict) -> None:
        elapsed = time.monotonic() - self.started
        if not self.console.is_terminal:
            # A log, not a live line: each phase once, with the time it began, so a CI log or
            # `| tee` shows where the minutes go.
            if phase != self.last_phase:
                self.last_phase = phase
                self.console.print(f"  {elapsed:6.1f} s  {phase}", highlight=False)
            return
        text = f"[{self.index}/{self.total}] {label}: {phase}"
        if counters:
            text += f" — {counters.get('requests', 0)} requests, {counters.get('failed', 0)} failed"
        self.live.update(Text(f"{text}  ({elapsed:.0f} s)"))


def api_failure(exc: ApiException) -> RuntimeFailure:
    """An API error the demo did not expect, as one line: status, reason and the Status
    message when the body has one."""
    message = ""
    with contextlib.suppress(ValueError, AttributeError):
        message = json.loads(exc.body or "").get("message") or ""
    return RuntimeFailure(f"the Kubernetes API answered {exc.status} {exc.reason}"
                          + (f": {message}" if message else ""))


async def _run_all(cluster: Cluster, config: DemoConfig, local: bool, progress: ProgressLine,
                   records: list[RunRecord]) -> None:
    try:
        await _run_each(cluster, config, local, progress, records)
    except ApiException as exc:
        raise api_failure(exc) from None


async def _run_each(cluster: Cluster, config: DemoConfig, local: bool, progress: ProgressLine,
                    records: list[RunRecord]) -> None:
    for run in plan(config):
        progress.index += 1
        progress.console.print(f"[bold]run {progress.index}/{progress.total}[/]: {run.label}")
        record = await run_one(cluster, config, run, local, progress)
        records.append(record)
        progress.console.print(
            f"  {record.requests} requests, {record.failed} failed, {record.duration_s:.1f} s"
        )
    if not local:
        await delete_namespaces(cluster, config, progress)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop for the in-process load when installed; never set as the global policy, so a
    caller's later event loops (tests, an embedding program) stay what they were."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def print_check(config: DemoConfig, console: Console) -> None:
    """`probelab check` on the manifests about to run, with the local engine's endpoint delay
    as the lag (a real cluster: kube-proxy's default): what the runs will then show."""
    from probelab.check.model import TimingModel
    from probelab.check.run import brief

    local = config.context is None
    model = (TimingModel(lag_s=config.endpoint_delay_s, profile="local engine")
             if local else TimingModel())
    for variant in config.variants:
        path = config.manifests_for(variant)
        found = brief([str(path)], model)
        console.print(f"probelab check {path}: {len(found) or 'no'} finding(s)")
        for line in found:
            console.print(f"  {line}", markup=False, highlight=False)


def run_demo(config: DemoConfig, report_path: Path, json_path: Path | None) -> int:
    console = Console()
    engine: LocalEngine | None = None
    records: list[RunRecord] = []
    started = time.monotonic()
    interrupted = False
    failure: ProbelabError | None = None
    print_check(config, console)
    try:
        if config.context is None:
            console.print("Starting the local engine (probelab cluster up) …")
            engine = LocalEngine(config.endpoint_delay_s, config.seed,
                                 dataplane=config.dataplane)
            engine.start()
            api = api_client(str(engine.kubeconfig), CONTEXT)
        else:
            kubeconfig = str(config.kubeconfig) if config.kubeconfig else None
            api = api_client(kubeconfig, config.context)
        cluster = Cluster(api)
        version = cluster.check_reachable()
        where = "local engine" if engine else f"context {config.context}"
        keepalive = "on" if config.keepalive else "off"
        console.print(f"Cluster: {where} ({version}); {len(plan(config))} runs at "
                      f"{config.rate_rps:.0f} req/s, keep-alive {keepalive}")
        progress = ProgressLine(console, len(plan(config)))
        with progress.live, asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(_run_all(cluster, config, engine is not None, progress, records))
    except KeyboardInterrupt:
        interrupted = True
        console.print("[yellow]Interrupted: stopping and reporting what ran.[/]")
    except ProbelabError as exc:
        if not records:
            raise  # nothing ran: the one-line error is all there is to say
        failure = exc  # a later run failed: the runs already finished are still reported
    finally:
        if engine is not None:
            console.print("Stopping the local engine …")
            engine.stop()
    if not records:
        return 130 if interrupted else 1
    render_table(records, console)
    report_path.write_text(render_html(records))
    console.print(f"Report: {report_path}  (total {time.monotonic() - started:.0f} s)")
    if json_path is not None:
        write_json(records, json_path)
        console.print(f"JSON: {json_path}")
    if interrupted:
        return 130
    if failure is not None:
        console.print(f"[red]Stopped after {len(records)} of {len(plan(config))} runs:[/] "
                      f"{failure}")
        return failure.exit_code
    ok, _ = verdict(records)
    return 0 if ok else 1
