"""One demo run and the whole matrix: apply, wait ready, load, act, wait, settle, collect, clean.

The steps of a run, each logged as a phase on the progress display:
1. delete a leftover namespace of an earlier run, apply the variant's manifests;
2. wait until every replica is ready, find the service URL;
3. start the watches and the load at a fixed rate (open model);
4. after the warm-up, act: scale 10 -> 3, or set the image to 2.0;
5. wait until the rollout is complete and no old pod is left, then the settle time;
6. stop the load, stop the watches, build the RunRecord;
7. remove the Deployment and Service (pods with grace 0: the load is over, nothing to
   protect) but keep the namespace for the next run; `delete_namespaces` removes the
   namespaces once every run is done.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from probelab.errors import RuntimeFailure
from probelab.k8s.manifests import load_manifests
from probelab.report.model import RunRecord
from probelab.scenario import loaddriver
from probelab.scenario.config import (
    APP_NAME,
    CONTAINER,
    NAMESPACES,
    DemoConfig,
    Scenario,
    Variant,
)
from probelab.scenario.kube import (
    Cluster,
    service_url,
    wait_for,
    with_image_repo,
    with_node_port,
)
from probelab.scenario.observer import Observer

Progress = Callable[[str, str, dict], None]  # (run label, phase, counters)


@dataclass
class RunPlan:
    variant: Variant
    scenario: Scenario

    @property
    def label(self) -> str:
        return f"{self.variant.value}/{self.scenario.value}"


def plan(config: DemoConfig) -> list[RunPlan]:
    """The runs in order: every variant x scenario, `repeat` times."""
    return [RunPlan(v, s) for _ in range(config.repeat)
            for v in config.variants for s in config.scenarios]


def _ready(cluster: Cluster, ns: str) -> bool:
    return cluster.rollout_done(ns, APP_NAME)


async def run_one(cluster: Cluster, config: DemoConfig, run: RunPlan, local: bool,
                  progress: Progress) -> RunRecord:
    ns = NAMESPACES[run.variant]
    label = run.label
    objs = with_image_repo(load_manifests([config.manifests_for(run.variant)]), config.image_repo)
    objs = with_node_port(objs, config.url)

    progress(label, "cleaning up an earlier run", {})
    await asyncio.to_thread(cluster.clear_namespace, ns, config.timeout_s)
    progress(label, "applying manifests", {})
    await asyncio.to_thread(cluster.apply, objs)
    progress(label, "waiting for all replicas to be ready", {})
    await asyncio.to_thread(wait_for, lambda: _ready(cluster, ns), config.timeout_s,
                            f"deployment {ns}/{APP_NAME} ready")
    url = config.url
    if url is None:
        svc = await asyncio.to_thread(cluster.service, ns, APP_NAME)
        nodes = [] if local else await asyncio.to_thread(cluster.node_addresses)
        url = service_url(svc, nodes, local)

    progress(label, "waiting until the service answers every request", {})
    try:
        await loaddriver.wait_serving(url, config.timeout_s, config.request_timeout_s)
    except TimeoutError as exc:
        raise RuntimeFailure(f"{label}: {exc}") from None

    record = RunRecord(variant=run.variant.value, scenario=run.scenario.value,
                       keepalive=config.keepalive, rate_rps=config.rate_rps, local_engine=local)
    t0 = time.time()
    observer = Observer(cluster.api, ns, APP_NAME, t0)
    observer.start()
    stop = asyncio.Event()
    load = loaddriver.LoadRun(url, config.rate_rps, config.keepalive,
                              config.request_timeout_s, max_s=config.timeout_s + 60,
                              resend=config.resend)
    load_task = asyncio.create_task(load.run(stop), name=f"load {label}")
    try:
        await _act_and_wait(cluster, config, run, ns, record, t0, load, progress, load_task)
    finally:
        stop.set()
        progress(label, "stopping load", load.counters())
        await load_task
        observer.stop()
    record.duration_s = time.time() - t0
    loaddriver.fill_record(record, load.result)
    marks, endpoints = observer.snapshot()
    record.pod_marks = [m for m in marks if m.t_s >= -0.5]
    record.endpoints = endpoints
    progress(label, "removing the deployment", load.counters())
    await asyncio.to_thread(cluster.clear_namespace, ns, config.timeout_s)
    return record


async def _act_and_wait(cluster: Cluster, config: DemoConfig, run: RunPlan, ns: str,
                        record: RunRecord, t0: float, load: loaddriver.LoadRun,
                        progress: Progress, load_task: asyncio.Task) -> None:
    label = run.label
    deadline = time.monotonic() + config.warmup_s
    while time.monotonic() < deadline and not load_task.done():
        progress(label, "warming up", load.counters())
        await asyncio.sleep(0.25)
    if run.scenario is Scenario.SCALE_DOWN:
        record.action = f"scale to {config.scale_to}"
        await asyncio.to_thread(cluster.scale, ns, APP_NAME, config.scale_to)
    else:
        record.action = f"image {config.new_version}"
        image = f"{config.image_repo}:{config.new_version}"
        await asyncio.to_thread(cluster.set_image, ns, APP_NAME, CONTAINER, image)
    record.action_at_s = time.time() - t0
    give_up = time.monotonic() + config.timeout_s
    while not await asyncio.to_thread(cluster.rollout_done, ns, APP_NAME):
        if time.monotonic() > give_up:
            record.notes.append(f"rollout not complete after {config.timeout_s:.0f} s")
            break
        progress(label, f"{record.action}: waiting for the rollout", load.counters())
        await asyncio.sleep(0.25)
    else:
        record.rollout_done_at_s = time.time() - t0
    settle_until = time.monotonic() + config.settle_s
    # Each run sends at least rate x min_load_s requests (10k by default), counted, not timed:
    # the open-model load keeps its schedule, so this ends about when the time would.
    wanted = int(config.rate_rps * config.min_load_s)
    give_up = time.monotonic() + config.min_load_s + config.timeout_s
    while (time.monotonic() < settle_until or load.counters()["requests"] < wanted) \
            and time.monotonic() < give_up and not load_task.done():
        progress(label, "settling", load.counters())
        await asyncio.sleep(0.25)


async def delete_namespaces(cluster: Cluster, config: DemoConfig, progress: Progress) -> None:
    """After the last run, the variants' namespaces go too, so that a real cluster is left as
    the demo found it (the local engine is stopped anyway)."""
    for ns in sorted({NAMESPACES[v] for v in config.variants}):
        progress("cleanup", f"deleting namespace {ns}", {})
        await asyncio.to_thread(cluster.delete_namespace, ns, config.timeout_s, 0)
