"""`probelab test` end to end on the local engine: read, decide, start, apply, measure, clean.

The I/O shell around the pure modules. Order matters for the promises of docs/test.md:
every input error (manifests, workload, Service, port, scenarios, `--new-image`) is raised
before the engine starts, so bad input applies nothing; what the run created is deleted and
the engine it started is stopped on success, failure and Ctrl-C (unless `--keep`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from kubernetes.client.exceptions import ApiException
from rich.console import Console

from probelab.check import analyze, sources
from probelab.check.model import Finding, TimingModel
from probelab.check.run import finding_lines
from probelab.errors import RuntimeFailure
from probelab.k8s import labels
from probelab.load.config import parse_url
from probelab.report.model import FAILURE_CLASSES, RunRecord
from probelab.scenario import loaddriver
from probelab.scenario.kube import Cluster, api_client
from probelab.scenario.local_engine import CONTEXT, LocalEngine
from probelab.scenario.main import api_failure
from probelab.scenario.observer import Observer
from probelab.workloadtest import attribution, diagnosis, output, timeline
from probelab.workloadtest.actions import Step, check_images_mapped, plan_steps, rollout_patch
from probelab.workloadtest.config import Action, TestSettings
from probelab.workloadtest.target import Target, find_target, service_url
from probelab.workloadtest.verdict import Limits, ScenarioResult, overall

POLL_S = 0.25
CLEANUP_TIMEOUT_S = 30.0


@dataclass
class Plan:
    """Everything decided from the input before anything runs."""

    objects: list[dict[str, Any]]
    target: Target
    steps: list[Step]
    findings: list[Finding]


def prepare(settings: TestSettings, stdin: TextIO | None,
            unmapped: Callable[[str], bool] = lambda image: False) -> Plan:
    """Read and decide; raises UsageError (exit 2) on any bad input, having started nothing.
    `unmapped` says whether the local engine lacks a command for an image."""
    located = sources.locate(sources.read_inputs(list(settings.paths), stdin))
    objects = [item.obj for item in located]
    target = find_target(objects, settings.workload, settings.service, settings.port)
    steps = plan_steps(target, settings.scenarios, settings.new_images)
    check_images_mapped(target, settings.new_images, unmapped)
    parse_url(f"http://127.0.0.1{settings.path}")  # a path the load can send: one-line error
    model = TimingModel(lag_s=settings.endpoint_delay_s, profile="local engine")
    return Plan(objects, target, steps, analyze.check(located, model))


def run_test(settings: TestSettings, stdin: TextIO | None, console: Console,
             unmapped: Callable[[str], bool] = lambda image: False) -> int:
    plan = prepare(settings, stdin, unmapped)
    target = plan.target
    console.print(f"probelab check: {len(plan.findings) or 'no'} finding(s)")
    for line in finding_lines(plan.findings):
        console.print(f"  {line}", markup=False, highlight=False)
    console.print(f"Testing {target.label} through service/{target.service} port "
                  f"{target.port.label}: {', '.join(s.description for s in plan.steps)}; "
                  f"{settings.rate_rps:g} req/s", highlight=False)
    results: list[ScenarioResult] = []
    interrupted = False
    engine = LocalEngine(settings.endpoint_delay_s, settings.seed, settings.images,
                         prefix="probelab-test-", dataplane=settings.dataplane)
    cluster: Cluster | None = None
    try:
        console.print("Starting the local engine …")
        engine.start()
        cluster = Cluster(api_client(str(engine.kubeconfig), CONTEXT))
        cluster.check_reachable()
        with asyncio.Runner() as runner:
            runner.run(_guarded(cluster, settings, plan, results, _timed(console)))
        rules = {f.rule for f in plan.findings if f.name == target.deployment
                 and (f.namespace or "default") == target.namespace}
        for result in results:
            result.causes = attribution.with_check_rules(result.causes, rules)
    except KeyboardInterrupt:
        interrupted = True
        console.print("[yellow]Interrupted: cleaning up.[/]")
    finally:
        if settings.keep:
            console.print(f"--keep: objects and engine left running; stop with `probelab "
                          f"cluster down --kubeconfig {engine.kubeconfig}`", highlight=False)
        else:
            if cluster is not None:
                _cleanup(cluster, plan, console.print)
            console.print("Stopping the local engine …")
            engine.stop()
            engine.remove_files()
    limits = Limits(settings.max_failures, settings.max_error_rate)
    output.render(target, results, limits, console)
    if settings.json_path is not None:
        output.write_json(target, results, limits, settings.json_path)
    if settings.junit_path is not None:
        output.write_junit(target, results, limits, settings.junit_path,
                           datetime.now(UTC).isoformat(timespec="seconds"))
    if interrupted:
        return 130
    return 0 if overall(results, limits)[0] else 1


Say = Callable[[str], None]


def _timed(console: Console) -> Say:
    """Progress lines with the seconds since the run began, so a CI log shows where the
    time goes."""
    began = time.monotonic()

    def say(text: str) -> None:
        console.print(f"{time.monotonic() - began:6.1f} s  {text}", highlight=False)

    return say


async def _guarded(cluster: Cluster, settings: TestSettings, plan: Plan,
                   results: list[ScenarioResult], say: Say) -> None:
    try:
        await _run_all(cluster, settings, plan, results, say)
    except ApiException as exc:
        raise api_failure(exc) from None


async def _run_all(cluster: Cluster, settings: TestSettings, plan: Plan,
                   results: list[ScenarioResult], say: Say) -> None:
    target = plan.target
    say(f"applying {len(plan.objects)} object(s)")
    await asyncio.to_thread(cluster.apply, plan.objects)
    svc = await asyncio.to_thread(cluster.service, target.namespace, target.service)
    url = service_url(svc, target.port, settings.path)
    broken = ""
    for step in plan.steps:
        label = step.scenario.label
        if broken:
            results.append(ScenarioResult(label, step.description, skipped=broken))
            continue
        say(f"[bold]{label}[/]: waiting for {target.label} to be rolled out and the Service "
            "to answer cleanly")
        not_ready, not_serving = await _ready_and_serving(cluster, settings, target, url)
        if not_ready or not_serving:
            results.append(ScenarioResult(label, step.description, ready_problem=not_ready,
                                          setup_problem=not_serving))
            broken = f"the workload was not ready before {label}"
            continue
        say(f"[bold]{label}[/]: {step.description} under load ({url})")
        result = await _measure(cluster, settings, target, step, url)
        say(f"  {result.requests} requests, {result.failed} failed, "
            f"{result.duration_s:.1f} s")
        results.append(result)
        if result.rollout_s is None:
            broken = f"{label} did not complete its rollout"


async def _ready_and_serving(cluster: Cluster, settings: TestSettings, target: Target,
                             url: str) -> tuple[str, str]:
    """("", "") once the Deployment has its manifest's replicas, fully rolled out, and the
    Service answered cleanly; else why not: (the not-ready pods and their Events, "") or
    ("", the Service that never answered cleanly)."""
    dep = await asyncio.to_thread(cluster.deployment, target.namespace, target.deployment)
    if dep.spec.replicas != target.replicas:  # an earlier scale-down/up: back to the manifest
        await asyncio.to_thread(cluster.scale, target.namespace, target.deployment,
                                target.replicas)
    if not await _wait_rollout(cluster, target, settings.rollout_timeout_s):
        why = await asyncio.to_thread(_not_ready, cluster, target, settings.rollout_timeout_s)
        return why, ""
    try:
        await loaddriver.wait_serving(url, settings.rollout_timeout_s,
                                      settings.request_timeout_s, settings.load_headers)
    except TimeoutError:
        return "", (f"service/{target.service} never answered every request cleanly within "
                    f"{settings.rollout_timeout_s:g} s before the action ({url})")
    return "", ""


async def _wait_rollout(cluster: Cluster, target: Target, timeout_s: float,
                        busy: Callable[[], bool] = lambda: True) -> bool:
    give_up = time.monotonic() + timeout_s
    while not await asyncio.to_thread(cluster.rollout_done, target.namespace,
                                      target.deployment):
        if time.monotonic() > give_up or not busy():
            return False
        await asyncio.sleep(POLL_S)
    return True


def _selector(target: Target) -> str:
    return labels.to_string(target.match_labels)


def _not_ready(cluster: Cluster, target: Target, timeout_s: float) -> str:
    pods = cluster.pod_dicts(target.namespace, _selector(target))
    return diagnosis.not_ready(pods, cluster.events(target.namespace), timeout_s)


async def _measure(cluster: Cluster, settings: TestSettings, target: Target, step: Step,
                   url: str) -> ScenarioResult:
    result = ScenarioResult(step.scenario.label, step.description)
    record = RunRecord(variant=target.label, scenario=result.scenario,
                       keepalive=settings.keepalive, rate_rps=settings.rate_rps)
    t0 = time.time()
    observer = Observer(cluster.api, target.namespace, target.service, t0)
    observer.start()
    stop = asyncio.Event()
    bound_s = settings.warmup_s + settings.rollout_timeout_s + settings.settle_s + 30
    load = loaddriver.LoadRun(url, settings.rate_rps, settings.keepalive,
                              settings.request_timeout_s, max_s=bound_s,
                              headers=settings.load_headers)
    task = asyncio.create_task(load.run(stop), name=f"load {result.scenario}")
    try:
        await _pause(settings.warmup_s, task)
        acted = time.monotonic()
        await asyncio.to_thread(_act, cluster, target, step, settings)
        record.action, record.action_at_s = step.description, time.time() - t0
        if await _wait_rollout(cluster, target, settings.rollout_timeout_s):
            result.rollout_s = time.monotonic() - acted
            record.rollout_done_at_s = time.time() - t0
            await _pause(settings.settle_s, task)
        else:
            result.rollout_problem = await asyncio.to_thread(
                _not_ready, cluster, target, settings.rollout_timeout_s)
    finally:
        stop.set()
        await task
        observer.stop()
    result.duration_s = time.time() - t0
    if load.result is not None:
        loaddriver.fill_record(record, load.result)
        failures = [attribution.Failure(r.start_s, r.outcome.value) for r in load.result.records
                    if r.outcome.value in FAILURE_CLASSES]
    else:
        failures = []
    marks, endpoints = observer.snapshot()
    marks = timeline.this_run(marks)
    record.pod_marks, record.endpoints = marks, endpoints
    result.requests, result.failed, result.totals = record.requests, record.failed, record.totals
    result.resent, result.not_sent = record.resent, record.not_sent
    proxy = [s for s in endpoints if s.source == "proxy"]
    result.causes = attribution.attribute(
        failures, marks, proxy, f"{target.deployment}-",
        attribution.DEFAULT_WINDOW_S + settings.endpoint_delay_s, settings.endpoint_delay_s)
    result.terminations = timeline.terminations(marks, f"{target.deployment}-")
    result.termination_summary = timeline.summary(result.terminations, target.grace_s)
    result.record = record
    return result


async def _pause(seconds: float, task: asyncio.Task) -> None:
    """Let the load run `seconds` (less if it ended: its bound, or an error)."""
    until = time.monotonic() + seconds
    while time.monotonic() < until and not task.done():
        await asyncio.sleep(min(POLL_S, max(0.0, until - time.monotonic())))


def _act(cluster: Cluster, target: Target, step: Step, settings: TestSettings) -> None:
    ns, name = target.namespace, target.deployment
    if step.action in (Action.SCALE_DOWN, Action.SCALE_UP):
        cluster.scale(ns, name, step.replicas)
    elif step.action is Action.ROLLING_UPDATE:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        cluster.patch_deployment(ns, name, rollout_patch(settings.new_images, now))
        _check_containers(cluster, target)
    else:
        pods = [p for p in cluster.pods(ns, _selector(target))
                if not p.metadata.deletion_timestamp]
        if not pods:
            raise RuntimeFailure(f"delete-pod: {target.label} has no pod to delete")
        cluster.delete_pod(ns, sorted(p.metadata.name for p in pods)[0])


def _check_containers(cluster: Cluster, target: Target) -> None:
    """The patch changed images only: the same containers as the manifest (a second one would
    be a bug of ours, and would stall the rollout)."""
    dep = cluster.deployment(target.namespace, target.deployment)
    names = tuple(c.name for c in dep.spec.template.spec.containers)
    if names != target.containers:
        raise RuntimeFailure(f"the rollout patch changed the containers of {target.label} "
                             f"from {target.containers} to {names}")


def _cleanup(cluster: Cluster, plan: Plan, say: Say) -> None:
    """Delete what the run created (namespaces last, so their contents go with them first),
    and wait, bounded, until the workload's pods are gone. Best effort: the engine is stopped
    right after, which ends every pod anyway."""
    say("deleting what the test created")
    target = plan.target
    with contextlib.suppress(Exception):
        for obj in reversed(plan.objects):
            if obj.get("kind") != "Namespace":
                cluster.delete_object(obj)
        deadline = time.monotonic() + CLEANUP_TIMEOUT_S
        while cluster.delete_pods(target.namespace, _selector(target), 0) \
                and time.monotonic() < deadline:
            time.sleep(POLL_S)
        for obj in plan.objects:
            if obj.get("kind") == "Namespace":
                cluster.delete_object(obj)
