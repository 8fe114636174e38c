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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from kubernetes.client.exceptions import ApiException
from rich.console import Console

from probelab.check import analyze, sources
from probelab.check.model import Finding, TimingModel
from probelab.check.run import finding_lines
from probelab.errors import RuntimeFailure, UsageError
from probelab.k8s import labels
from probelab.load.config import parse_url
from probelab.report.model import FAILURE_CLASSES, RunRecord
from probelab.scenario import loaddriver
from probelab.scenario.kube import Cluster, api_client, api_failure, with_node_port
from probelab.scenario.local_engine import CONTEXT, LocalEngine
from probelab.scenario.observer import Observer
from probelab.workloadtest import attribution, diagnosis, drain, output, timeline
from probelab.workloadtest.actions import Step, check_images_mapped, plan_steps, rollout_patch
from probelab.workloadtest.config import Action, TestSettings
from probelab.workloadtest.target import Target, find_target, join_url, node_url, service_url
from probelab.workloadtest.verdict import Limits, ScenarioResult, overall

POLL_S = 0.25
CLEANUP_TIMEOUT_S = 30.0

Objects = list[dict[str, Any]]


@dataclass
class Plan:
    """Everything decided from the input before anything runs."""

    objects: Objects
    target: Target
    steps: list[Step]
    findings: list[Finding]
    # What this run created, in order: all that cleanup deletes (a namespace that existed
    # before, or an object whose create failed, is never ours to delete).
    applied: list[dict[str, Any]] = field(default_factory=list)


def prepare(settings: TestSettings, stdin: TextIO | None,
            unmapped: Callable[[str], bool] = lambda image: False,
            rewrite: Callable[[Objects], Objects] | None = None) -> Plan:
    """Read and decide; raises UsageError (exit 2) on any bad input, having started nothing.
    `unmapped` says whether the local engine lacks a command for an image (a real cluster
    pulls images: not checked); `rewrite` changes the objects before they are applied (the
    demo's --image-repo on a real cluster)."""
    located = sources.locate(sources.read_inputs(list(settings.paths), stdin))
    objects = [item.obj for item in located]
    target = find_target(objects, settings.workload, settings.service, settings.port)
    steps = plan_steps(target, settings.scenarios, settings.new_images)
    if settings.local:
        check_images_mapped(target, settings.new_images, unmapped)
    if settings.profile != "kube-proxy":
        service = next((o for o in objects if o.get("kind") == "Service"
                        and (o.get("metadata") or {}).get("name") == target.service), None)
        kind = ((service or {}).get("spec") or {}).get("type") or "ClusterIP"
        if kind not in ("NodePort", "LoadBalancer"):
            raise UsageError(f"--profile {settings.profile}: service/{target.service} is "
                             f"type {kind}; the profile serves node ports (make it NodePort "
                             "or LoadBalancer)")
    parse_url(f"http://127.0.0.1{settings.path}")  # a path the load can send: one-line error
    if settings.url is not None:
        parse_url(settings.url)
        # Each run re-creates the Service: a NodePort in the URL is pinned so the URL stays valid.
        objects = with_node_port(objects, settings.url)
    if rewrite is not None:
        objects = rewrite(objects)
    model = (TimingModel(lag_s=settings.proxy_lag_s, profile="local engine")
             if settings.local else TimingModel())
    return Plan(objects, target, steps, analyze.check(located, model))


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop for the in-process load when installed; never set as the global policy, so a
    caller's later event loops (tests, an embedding program) stay what they were."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def new_engine(settings: TestSettings, prefix: str) -> LocalEngine | None:
    """The local engine this run will start, or None on a real cluster (--context)."""
    if not settings.local:
        return None
    return LocalEngine(settings.endpoint_delay_s, settings.seed, settings.images, prefix=prefix,
                       min_sync_period_s=settings.min_sync_period_s, profile=settings.profile,
                       lb_deregistration_lag_s=settings.lb_deregistration_lag_s,
                       dataplane=settings.dataplane, nodes=settings.engine_nodes)


def connect(settings: TestSettings, engine: LocalEngine | None, say: Say) -> tuple[Cluster, str]:
    """Start the local engine (when there is one) and reach the cluster the way a real one is
    reached: a kubeconfig context and the official client. Returns the cluster and where."""
    if engine is not None:
        say("starting the local engine")
        engine.start()
        api = api_client(str(engine.kubeconfig), CONTEXT)
    else:
        api = api_client(str(settings.kubeconfig) if settings.kubeconfig else None,
                         settings.context)
    cluster = Cluster(api)
    version = cluster.check_reachable()
    where = "local engine" if engine is not None else f"context {settings.context}"
    return cluster, f"{where} ({version})"


def run_test(settings: TestSettings, stdin: TextIO | None, console: Console,
             unmapped: Callable[[str], bool] = lambda image: False) -> int:
    plan = prepare(settings, stdin, unmapped)
    target = plan.target
    console.print(f"probelab check: {len(plan.findings) or 'no'} finding(s)")
    for line in finding_lines(plan.findings):
        console.print(f"  {line}", markup=False, highlight=False)
    rounds = f", {settings.repeat} times" if settings.repeat > 1 else ""
    console.print(f"Testing {target.label} through service/{target.service} port "
                  f"{target.port.label}: {', '.join(s.description for s in plan.steps)}"
                  f"{rounds}; {settings.rate_rps:g} req/s", highlight=False)
    results: list[ScenarioResult] = []
    interrupted = False
    engine = new_engine(settings, "probelab-test-")
    cluster: Cluster | None = None
    say = timed(console)
    try:
        cluster, where = connect(settings, engine, say)
        say(f"cluster: {where}")
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(guarded(run_plan(cluster, settings, plan, results, say)))
        with_check_rules(plan, results)
    except KeyboardInterrupt:
        interrupted = True
        console.print("[yellow]Interrupted: cleaning up.[/]")
    finally:
        if settings.keep:
            how = (f"stop with `probelab cluster down --kubeconfig {engine.kubeconfig}`"
                   if engine is not None else "delete them with kubectl")
            console.print(f"--keep: objects left running; {how}", highlight=False)
        else:
            if cluster is not None:
                cleanup(cluster, plan, say, wait=engine is None)
            if engine is not None:
                say("stopping the local engine")
                engine.stop()
                engine.remove_files()
    limits = Limits(settings.max_failures, settings.max_error_rate)
    output.render(target, results, limits, console)
    if settings.json_path is not None:
        output.write_json(target, results, limits, settings.json_path)
    if settings.junit_path is not None:
        output.write_junit(target, results, limits, settings.junit_path,
                           datetime.now(UTC).isoformat(timespec="seconds"))
    if settings.report_path is not None and results:
        output.write_report(target, results, limits, settings.report_path)
        console.print(f"Report: {settings.report_path}", highlight=False)
    if interrupted:
        return 130
    return 0 if overall(results, limits)[0] else 1


def with_check_rules(plan: Plan, results: list[ScenarioResult]) -> None:
    """Each cause names the `probelab check` finding of this workload that predicts it."""
    target = plan.target
    rules = {f.rule for f in plan.findings if f.name == target.deployment
             and (f.namespace or "default") == target.namespace}
    for result in results:
        result.causes = attribution.with_check_rules(result.causes, rules)


Say = Callable[[str], None]


def timed(console: Console) -> Say:
    """Progress lines with the seconds since the run began, so a CI log shows where the
    time goes."""
    began = time.monotonic()

    def say(text: str) -> None:
        console.print(f"{time.monotonic() - began:6.1f} s  {text}", highlight=False)

    return say


async def guarded(work: Any) -> None:
    """An API error nobody expected ends the run as one line, not a traceback."""
    try:
        await work
    except ApiException as exc:
        raise api_failure(exc) from None


async def resolve_url(cluster: Cluster, settings: TestSettings, target: Target) -> str:
    """Where this machine sends the load: --url, else the local engine's loopback ClusterIP
    (or NodePort on 127.0.0.1), else a real cluster's NodePort on a node's address."""
    if settings.url is not None:
        return join_url(settings.url, settings.path)
    svc = await asyncio.to_thread(cluster.service, target.namespace, target.service)
    if settings.local:
        return service_url(svc, target.port, settings.path,
                           node_port_only=settings.profile != "kube-proxy")
    nodes = await asyncio.to_thread(cluster.node_addresses)
    return node_url(svc, target.port, nodes, settings.path)


async def run_plan(cluster: Cluster, settings: TestSettings, plan: Plan,
                   results: list[ScenarioResult], say: Say) -> None:
    """Apply the objects, then run every scenario (`repeat` rounds of the list, in order),
    appending each result as it completes (so an interrupted run reports what ran)."""
    target = plan.target
    say(f"applying {len(plan.objects)} object(s)")
    for obj in plan.objects:
        if obj.get("kind") == "Namespace" and not await asyncio.to_thread(
                cluster.namespace_gone, _name(obj)):
            continue  # used as it is, and left as it was found
        await asyncio.to_thread(cluster.apply, [obj])
        plan.applied.append(obj)
    url = await resolve_url(cluster, settings, target)
    broken = ""
    for round_ in range(1, settings.repeat + 1):
        for step in plan.steps:
            label = step.scenario.label
            name = label + (f" #{round_}" if settings.repeat > 1 else "")
            if broken:
                results.append(ScenarioResult(label, step.description, skipped=broken,
                                              round=round_))
                continue
            say(f"[bold]{name}[/]: waiting for {target.label} to be rolled out and the "
                "Service to answer cleanly")
            not_ready, not_serving = await _ready_and_serving(cluster, settings, target, url)
            if not_ready or not_serving:
                results.append(ScenarioResult(label, step.description, ready_problem=not_ready,
                                              setup_problem=not_serving, round=round_))
                broken = f"the workload was not ready before {name}"
                continue
            if step.action is Action.DRAIN:
                problem = await asyncio.to_thread(_drain_problem, cluster, target)
                if problem:
                    say(f"[bold]{name}[/]: not run: {problem}")
                    results.append(ScenarioResult(label, step.description, skipped=problem,
                                                  round=round_))
                    continue
            say(f"[bold]{name}[/]: {step.description} under load ({url})")
            result = await _measure(cluster, settings, target, step, url)
            result.round = round_
            say(f"  {result.requests} requests, {result.failed} failed, "
                f"{result.duration_s:.1f} s")
            results.append(result)
            if result.rollout_s is None:
                broken = f"{name} did not complete its rollout"


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
                              resend=settings.resend, headers=settings.load_headers)
    task = asyncio.create_task(load.run(stop), name=f"load {result.scenario}")
    cordoned: list[str] = []  # nodes this scenario cordoned: uncordoned whatever happens
    try:
        await _pause(settings.warmup_s, task)
        acted = time.monotonic()
        if step.action is Action.DRAIN:
            record.action, record.action_at_s = step.description, time.time() - t0
            result.rollout_problem = await _drain(cluster, target, settings, cordoned, acted)
        else:
            await asyncio.to_thread(_act, cluster, target, step, settings)
            record.action, record.action_at_s = step.description, time.time() - t0
        left_s = settings.rollout_timeout_s - (time.monotonic() - acted)
        if result.rollout_problem:
            pass  # the drain itself failed: no rollout to wait for
        elif await _wait_rollout(cluster, target, max(0.0, left_s)):
            result.rollout_s = time.monotonic() - acted
            record.rollout_done_at_s = time.time() - t0
            await _pause(settings.settle_s, task)
        else:
            result.rollout_problem = await asyncio.to_thread(
                _not_ready, cluster, target, settings.rollout_timeout_s)
    finally:
        for node in cordoned:  # after the replacements were Ready, or on failure / Ctrl-C
            with contextlib.suppress(Exception):
                cluster.set_unschedulable(node, False)
        stop.set()
        await task
        observer.stop()
    result.duration_s = record.duration_s = time.time() - t0
    if load.result is not None:
        loaddriver.fill_record(record, load.result)
        failures = [attribution.Failure(r.start_s, r.outcome.value) for r in load.result.records
                    if r.outcome.value in FAILURE_CLASSES]
    else:
        failures = []
    with contextlib.suppress(Exception):  # evidence only: a failed list must not fail the run
        record.readiness_failures = diagnosis.readiness_failures(
            await asyncio.to_thread(cluster.events, target.namespace), t0)
    marks, endpoints = observer.snapshot()
    marks = timeline.this_run(marks)
    record.pod_marks, record.endpoints = marks, endpoints
    result.requests, result.failed, result.totals = record.requests, record.failed, record.totals
    result.resent, result.not_sent = record.resent, record.not_sent
    proxy = [s for s in endpoints if s.source == "proxy"]
    result.causes = attribution.attribute(
        failures, marks, proxy, f"{target.deployment}-",
        attribution.DEFAULT_WINDOW_S + settings.proxy_lag_s, settings.proxy_lag_s)
    result.terminations = timeline.terminations(marks, f"{target.deployment}-")
    result.termination_summary = timeline.summary(result.terminations, target.grace_s)
    result.record = record
    return result


async def _pause(seconds: float, task: asyncio.Task) -> None:
    """Let the load run `seconds` (less if it ended: its bound, or an error)."""
    until = time.monotonic() + seconds
    while time.monotonic() < until and not task.done():
        await asyncio.sleep(min(POLL_S, max(0.0, until - time.monotonic())))


async def _drain(cluster: Cluster, target: Target, settings: TestSettings,
                 cordoned: list[str], started: float) -> str:
    """`kubectl drain` of the nodes that run the workload's pods, one node at a time as a
    node upgrade goes: cordon it (appending it to `cordoned` first, so the caller uncordons
    even after an error), evict its pods through the Eviction API (a pod a PDB protects is
    tried again every 5 s), wait for the replacements to be Ready on the other nodes, uncordon
    it; all within --rollout-timeout. Returns "" or why the drain could not finish."""
    ns = target.namespace
    pods = await asyncio.to_thread(cluster.pod_dicts, ns, _selector(target))
    nodes = {str((n.get("metadata") or {}).get("name")): n
             for n in await asyncio.to_thread(cluster.node_dicts)}
    for node in drain.nodes_of(pods):
        if (nodes.get(node, {}).get("spec") or {}).get("unschedulable"):
            continue  # cordoned before the test: left as it was found
        cordoned.append(node)
        await asyncio.to_thread(cluster.set_unschedulable, node, True)
        current = await asyncio.to_thread(cluster.pod_dicts, ns, _selector(target))
        problem = await _evict_all(cluster, ns, drain.pods_on(current, node), settings,
                                   started)
        if problem:
            return problem
        left_s = settings.rollout_timeout_s - (time.monotonic() - started)
        if not await _wait_rollout(cluster, target, max(0.0, left_s)):
            # A failure of its own: the nodes after this one were never drained, so a rollout
            # that completes late must not pass the scenario.
            why = await asyncio.to_thread(_not_ready, cluster, target,
                                          settings.rollout_timeout_s)
            return f"drain stopped at node {node}: {why}"
        await asyncio.to_thread(cluster.set_unschedulable, node, False)
        cordoned.remove(node)
    return ""


async def _evict_all(cluster: Cluster, ns: str, names: list[str], settings: TestSettings,
                     started: float) -> str:
    """Evict `names` as `kubectl drain` does: all at once, then every 5 s those a PDB kept."""
    left = names
    while left:
        answers = {name: await asyncio.to_thread(cluster.evict, ns, name,
                                                 drain.eviction_body(ns, name))
                   for name in left}
        left, failure = drain.pending(left, answers)
        if failure:
            return f"drain: {failure}"
        if left and time.monotonic() - started + drain.RETRY_S > settings.rollout_timeout_s:
            return (f"drain: a PodDisruptionBudget still refused the eviction (429) of "
                    f"{', '.join(left)} after {settings.rollout_timeout_s:g} s")
        if left:
            await asyncio.sleep(drain.RETRY_S)
    return ""


def _drain_problem(cluster: Cluster, target: Target) -> str:
    """Why a drain cannot be measured on this cluster ("" when it can): checked through
    discovery and the nodes, before the load starts."""
    if not cluster.serves_core("nodes") or not cluster.serves_core("pods/eviction"):
        return drain.unmeasurable(False, [], [])
    pods = cluster.pod_dicts(target.namespace, _selector(target))
    return drain.unmeasurable(True, cluster.node_dicts(), pods)


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


def cleanup(cluster: Cluster, plan: Plan, say: Say, wait: bool = False) -> None:
    """Delete what the run created, and only that (namespaces last, so their contents go
    with them first), and wait, bounded, until the workload's pods are gone. Best effort: a
    local engine is stopped right after, which ends every pod anyway."""
    say("deleting what the test created")
    try:
        _delete_applied(cluster, plan, wait)
    except Exception as exc:  # best effort, but said: the user may have to clean up
        say(f"cleanup incomplete: {exc}")


def _delete_applied(cluster: Cluster, plan: Plan, wait: bool) -> None:
    target = plan.target
    for obj in reversed(plan.applied):
        if obj.get("kind") != "Namespace":
            cluster.delete_object(obj)
    deadline = time.monotonic() + CLEANUP_TIMEOUT_S
    ours = any(o.get("kind") == "Deployment" and _name(o) == target.deployment
               for o in plan.applied)
    while ours and cluster.delete_pods(target.namespace, _selector(target), 0) \
            and time.monotonic() < deadline:
        time.sleep(POLL_S)
    names = [_name(o) for o in plan.applied if o.get("kind") == "Namespace"]
    for obj in plan.applied:
        if obj.get("kind") == "Namespace":
            cluster.delete_object(obj)
    # A cluster we did not start is left as found: its namespaces gone, not terminating
    # (the local engine is stopped right after, which ends everything anyway).
    deadline = time.monotonic() + CLEANUP_TIMEOUT_S
    while wait and not all(cluster.namespace_gone(n) for n in names) \
            and time.monotonic() < deadline:
        time.sleep(POLL_S)


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))
