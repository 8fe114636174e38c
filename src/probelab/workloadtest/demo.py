"""`probelab demo`: `probelab test` on the two shipped variants, then the comparison.

One code path: each variant's folder (noprobes/, withprobes/ under deploy/kubernetes or
`--manifests`) is a `probelab test` of whatever workload its manifests hold — the same target
discovery, readiness and serving checks, load, actions, rollout wait and attribution — run on
one cluster (a local engine started once, or a kubeconfig context). The demo adds only the
comparison: the table of both variants, one sentence per run, the HTML report and its verdict
(every withprobes run without a failed request, with its rollout complete and every scheduled
request sent; noprobes is expected to fail).

Exit status: 0 when the withprobes runs passed, 1 otherwise, 2 on bad input, 130 on Ctrl-C
(after writing what ran).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from probelab.errors import ProbelabError
from probelab.report.html import render_html
from probelab.report.model import RunRecord
from probelab.report.summary import verdict
from probelab.report.text import render_table, write_json
from probelab.scenario.config import DemoConfig, Scenario, Variant
from probelab.scenario.kube import with_image_repo
from probelab.workloadtest.config import Action, TestSettings
from probelab.workloadtest.config import Scenario as TestScenario
from probelab.workloadtest.run import (
    Plan,
    cleanup,
    connect,
    guarded,
    loop_factory,
    new_engine,
    prepare,
    run_plan,
    timed,
    with_check_rules,
)
from probelab.workloadtest.verdict import ScenarioResult


def scenarios(config: DemoConfig) -> tuple[TestScenario, ...]:
    """The demo's scenarios as `probelab test` scenarios, rolling update first: it leaves the
    replicas as they were, so the scale-down needs no scale-up back before it (the reverse
    order costs a scale-up and a readiness wait per variant)."""
    out = []
    if Scenario.ROLLING_UPDATE in config.scenarios:
        out.append(TestScenario(Action.ROLLING_UPDATE))
    if Scenario.SCALE_DOWN in config.scenarios:
        out.append(TestScenario(Action.SCALE_DOWN, config.scale_to))
    return tuple(out)


def settings_for(config: DemoConfig, variant: Variant) -> TestSettings:
    """The `probelab test` settings of one variant."""
    return TestSettings(
        paths=(str(config.manifests_for(variant)),), scenarios=scenarios(config),
        rate_rps=config.rate_rps, keepalive=config.keepalive, resend=config.resend,
        warmup_s=config.warmup_s, settle_s=config.settle_s,
        rollout_timeout_s=config.timeout_s, request_timeout_s=config.request_timeout_s,
        endpoint_delay_s=config.endpoint_delay_s, min_sync_period_s=config.min_sync_period_s,
        profile=config.profile, lb_deregistration_lag_s=config.lb_deregistration_lag_s,
        dataplane=config.dataplane,
        seed=config.seed, repeat=config.repeat,
        context=config.context, kubeconfig=config.kubeconfig, url=config.url,
    )


def print_check(config: DemoConfig, console: Console) -> None:
    """`probelab check` on the manifests about to run, with the local engine's endpoint delay
    as the lag (a real cluster: kube-proxy's default): what the runs will then show."""
    from probelab.check.model import TimingModel
    from probelab.check.run import brief

    local = config.context is None
    model = (TimingModel(lag_s=config.proxy_lag_s, profile="local engine")
             if local else TimingModel())
    for variant in config.variants:
        path = config.manifests_for(variant)
        found = brief([str(path)], model)
        console.print(f"probelab check {path}: {len(found) or 'no'} finding(s)")
        for line in found:
            console.print(f"  {line}", markup=False, highlight=False)


def demo_record(variant: Variant, result: ScenarioResult, local: bool) -> RunRecord | None:
    """A test result as a row of the comparison: the variant's name, the scenario's action."""
    record = result.record
    if record is None:
        return None
    record.variant = variant.value
    record.scenario = result.scenario.partition("=")[0]
    record.local_engine = local
    for problem in (result.ready_problem, result.setup_problem, result.rollout_problem):
        if problem:
            record.notes.append(problem)
    return record


def run_demo(config: DemoConfig, report_path: Path, json_path: Path | None,
             unmapped: Callable[[str], bool] = lambda image: False) -> int:
    """`unmapped` says whether the local engine lacks a command for an image."""
    console = Console(soft_wrap=True)
    started = time.monotonic()
    print_check(config, console)
    rewrite = None if config.context is None else (
        lambda objs: with_image_repo(objs, config.image_repo))
    # Every input is read and checked before anything starts (bad input applies nothing).
    plans: list[tuple[Variant, TestSettings, Plan]] = []
    for variant in config.variants:
        settings = settings_for(config, variant)
        plans.append((variant, settings, prepare(
            settings, None, unmapped, rewrite)))
    local = config.context is None
    records: list[RunRecord] = []
    interrupted = False
    failure: ProbelabError | None = None
    engine = new_engine(plans[0][1], "probelab-demo-")
    say = timed(console)
    try:
        cluster, where = connect(plans[0][1], engine, say)
        runs = len(plans) * len(plans[0][2].steps) * config.repeat
        keepalive = "on" if config.keepalive else "off"
        console.print(f"Cluster: {where}; {runs} runs at {config.rate_rps:.0f} req/s, "
                      f"keep-alive {keepalive}", highlight=False)
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            for variant, settings, plan in plans:
                say(f"[bold]{variant.value}[/]: probelab test {settings.paths[0]}")
                results: list[ScenarioResult] = []
                try:
                    runner.run(guarded(run_plan(cluster, settings, plan, results, say)))
                finally:
                    with_check_rules(plan, results)
                    records.extend(r for r in (demo_record(variant, res, local)
                                               for res in results) if r is not None)
                    cleanup(cluster, plan, say, wait=engine is None)
    except KeyboardInterrupt:
        interrupted = True
        console.print("[yellow]Interrupted: stopping and reporting what ran.[/]")
    except ProbelabError as exc:
        if not records:
            raise  # nothing ran: the one-line error is all there is to say
        failure = exc  # a later run failed: the runs already finished are still reported
    finally:
        if engine is not None:
            say("stopping the local engine")
            engine.stop()
            engine.remove_files()
    if not records:
        return 130 if interrupted else 1
    render_table(records, console)
    report_path.write_text(render_html(records))
    console.print(f"Report: {report_path}  (total {time.monotonic() - started:.0f} s)",
                  highlight=False)
    if json_path is not None:
        write_json(records, json_path)
        console.print(f"JSON: {json_path}", highlight=False)
    if interrupted:
        return 130
    if failure is not None:
        console.print(f"[red]Stopped after {len(records)} runs:[/] {failure}")
        return failure.exit_code
    ok, _ = verdict(records)
    return 0 if ok else 1
