"""One container of one pod, as the kubelet runs it: start, probe, restart, kill.

A `ContainerRunner` loops: resolve the image and environment, wait out any restart back-off,
start the process, run its probe workers, and wait until the process exits, a liveness/startup
probe asks for a kill, or the pod terminates. Kills follow the plan of `termination` (Killing →
preStop bounded by the grace → SIGTERM → the rest of the grace, ≥ 2 s → SIGKILL), each step an
Event with the real moment in `eventTime` (engine-only reasons PreStopHookStarted,
StopSignalSent, Killed, ContainerExited, read by the demo's observer). Decisions come from the
pure modules `probe_rules`, `restart`, `termination`, `command`; the owner is `podworker`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from probelab.engine.core import podlogs
from probelab.engine.kubelet import command, diagnose, lifecycle, podsources, prober, runtime
from probelab.engine.kubelet.images import missing_message
from probelab.engine.kubelet.node import Node
from probelab.engine.kubelet.pod import PodHandle
from probelab.engine.kubelet.probe_rules import (
    Gate,
    ProbeSpec,
    ProbeType,
    Result,
    container_probes,
    container_ready,
    container_started,
    initial_state,
    next_probe_at,
    next_probe_state,
    probe_gate,
)
from probelab.engine.kubelet.prober import Target
from probelab.engine.kubelet.restart import (
    Backoff,
    backoff_wait,
    exit_code_of,
    exit_reason,
    next_backoff,
    should_restart,
)
from probelab.engine.kubelet.status import HOST_IP, ContainerView, Exit, State
from probelab.engine.kubelet.termination import (
    KillReason,
    grace_period_s,
    killing_message,
    plan_kill,
    stop_timeout_s,
)
from probelab.engine.kubelet.volumes import mounts
from probelab.engine.kubelet.volumes import setup as volume_setup

log = logging.getLogger("probelab.engine.kubelet")
PROBE_STOP_S = 2.0  # how long a cancelled probe task may take to finish
# A container that cannot start yet (CreateContainerConfigError, a volume not set up) is tried
# again this often; the kubelet retries at its pod worker's back-off (about 10 s) and on pod
# updates, the engine a little sooner so a ConfigMap created afterwards is picked up quickly.
RETRY_S = 2.0


class ContainerRunner:
    def __init__(self, pod: PodHandle, node: Node, spec: dict[str, Any]) -> None:
        self.handle = pod
        self.node = node
        self.spec = spec
        self.name = str(spec.get("name", ""))
        self.image = str(spec.get("image", ""))
        self.probes: dict[ProbeType, ProbeSpec] = container_probes(spec)
        self.prestop = (spec.get("lifecycle") or {}).get("preStop")
        self.state = State.WAITING
        self.reason, self.message = "ContainerCreating", ""
        self.started_at: float | None = None
        self.exit: Exit | None = None
        self.last_exit: Exit | None = None
        self.restart_count = 0
        self.container_id = ""
        self.results: dict[ProbeType, Result] = {}
        self.proc: asyncio.subprocess.Process | None = None
        self.backoff: Backoff | None = None
        self.kill_request = asyncio.Event()
        self.kill_reason = KillReason.LIVENESS
        self.started_event = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.probing = False  # probe loops run while True; cleared when the process ends
        self.cgroup: Path | None = None  # where its processes run (cgroup mode)
        self.target: Target | None = None  # env, mounts... of the last start (for preStop)
        self.execs: set[Any] = set()  # running `kubectl exec` sessions (execsession.py)
        self._mounted = False  # started with volume mounts (probes and hooks enter them)

    # ---- what status is made of ------------------------------------------------------------
    @property
    def started(self) -> bool:
        startup = self.results.get(ProbeType.STARTUP) if ProbeType.STARTUP in self.probes else None
        return container_started(self.state is State.RUNNING, startup)

    def view(self) -> ContainerView:
        running = self.state is State.RUNNING
        readiness = (self.results.get(ProbeType.READINESS)
                     if ProbeType.READINESS in self.probes else None)
        return ContainerView(
            name=self.name, image=self.image, state=self.state, reason=self.reason,
            message=self.message, started_at=self.started_at, exit=self.exit,
            last_exit=self.last_exit, restart_count=self.restart_count,
            container_id=self.container_id, started=self.started,
            ready=container_ready(running, self.started, readiness),
        )

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.returncode is None else None

    def _event(self, reason: str, message: str, warning: bool = False,
               repeat: bool = False) -> None:
        self.node.event(self.handle.pod, reason, message, warning=warning, container=self.name,
                        repeat=repeat)

    def _pod_ref(self) -> str:
        w = self.handle
        return f"{w.name}_{w.namespace}({w.uid})"

    # ---- the loop ----------------------------------------------------------------------------
    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(
            self._run(), name=f"kubelet-container-{self.handle.namespace}/{self.handle.name}/"
                              f"{self.name}")

    async def _run(self) -> None:
        w = self.handle
        try:
            while not w.termination.requested.is_set():
                prepared = self._prepare()
                if prepared is None:
                    if self.reason == "ErrImagePull":
                        await w.termination.requested.wait()
                        return
                    with contextlib.suppress(TimeoutError):  # retried as the kubelet does
                        async with asyncio.timeout(RETRY_S):
                            await w.termination.requested.wait()
                    continue
                if self.last_exit is not None and not await self._wait_backoff():
                    return
                if self.node.stopping:  # the engine stops: no start, no restart
                    await w.termination.requested.wait()
                    return
                exit_ = await self._run_once(*prepared)
                if w.termination.requested.is_set() or not should_restart(w.restart_policy,
                                                                exit_.exit_code):
                    await w.termination.requested.wait()
                    return
                self.last_exit, self.exit = exit_, None
        finally:
            self.kill_now(record=False)

    def _prepare(self) -> tuple[list[str], dict[str, str], Target] | None:
        """argv, env and probe target of the next run, or None (waiting with a reason)."""
        w = self.handle
        entrypoint = self.node.images.resolve(self.image)
        if entrypoint is None:
            message = missing_message(self.image)
            self._set_waiting("ErrImagePull", message)
            self._event("Failed", message, warning=True)
            return None
        sources = podsources.fetch(self.node.store, w.pod, self.node.state_dir)
        warnings: list[tuple[str, str]] = []
        try:
            env = command.container_env(w.pod, self.spec, w.pod_ip, HOST_IP, sources=sources,
                                        warnings=warnings)
        except command.EnvError as exc:
            self._set_waiting("CreateContainerConfigError", str(exc))
            self._event("Failed", f"Error: {exc}", warning=True, repeat=True)
            return None
        for reason, message in warnings:
            self._event(reason, message, warning=True, repeat=True)
        workdir = self.spec.get("workingDir")
        cwd = workdir if workdir and Path(workdir).is_dir() else None
        mounted = volume_setup.for_container(w, self.node, self.spec, env, cwd)
        if isinstance(mounted, str):  # a volume is not set up (yet): ContainerCreating
            self._set_waiting("ContainerCreating", "")
            return None
        wrap, extra_env = mounted
        env.update(extra_env)
        argv = command.argv(entrypoint, [], self.spec, env)
        self._mounted = wrap is not None
        self.target = Target(w.pod_ip, prober.container_ports(self.spec), env, cwd,
                             wrap=self._with_net(wrap))
        return argv, env, self.target

    def _with_net(self, wrap: runtime.Wrap | None) -> runtime.Wrap | None:
        """`wrap` (the mounts) run inside the pod's network namespace (kernel data plane)."""
        podnet = self.node.podnet
        prefix = tuple(podnet.wrap(self.handle.pod_ip)) if podnet is not None else ()
        if not prefix:
            return wrap

        def wrapped(argv: Sequence[str]) -> list[str]:
            return [*prefix, *(wrap(argv) if wrap is not None else argv)]

        return wrapped

    def _set_waiting(self, reason: str, message: str) -> None:
        self.state, self.reason, self.message = State.WAITING, reason, message
        self.handle.publish()

    async def _wait_backoff(self) -> bool:
        """Wait out the restart back-off; False if the pod started terminating meanwhile."""
        assert self.last_exit is not None
        clock = self.node.clock
        finished = self.last_exit.finished_at
        wait = backoff_wait(self.backoff, finished, clock.now())
        if wait > 0:
            assert self.backoff is not None
            self._set_waiting("CrashLoopBackOff",
                              f"back-off {self.backoff.delay_s:g}s restarting failed "
                              f"container={self.name} pod={self._pod_ref()}")
            self._event("BackOff", f"Back-off restarting failed container {self.name} in pod "
                                   f"{self._pod_ref()}", warning=True, repeat=True)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self.handle.termination.requested.wait()
                return False
        self.backoff = next_backoff(self.backoff, finished, clock.now())
        return True

    async def _run_once(self, argv: list[str], env: dict[str, str], target: Target) -> Exit:
        """Start the process and see it to its end; returns how it ended."""
        w, clock, loop = self.handle, self.node.clock, asyncio.get_running_loop()
        if self.last_exit is not None:
            self.restart_count += 1
        self._event("Pulled", f'Container image "{self.image}" already present on machine')
        self.container_id = f"probelab://{uuid.uuid4().hex}"
        started_at = clock.now()
        log_file = podlogs.start_run_log(self.node.state_dir, w.uid, self.name,
                                         self.restart_count)
        try:
            log_start = log_file.stat().st_size if log_file is not None else 0
        except OSError:
            log_start = 0
        try:
            self.cgroup = self.node.containment.place(w.uid, self.name)
            target = replace(target, cgroup=self.cgroup)
            proc = await runtime.spawn(argv, env, log_file, cwd=target.cwd, cgroup=self.cgroup,
                                       wrap=target.wrap,
                                       stdin=self.spec.get("stdin") is True)
        except OSError as exc:
            message = f"failed to start container process {argv[0]!r}: {exc.strerror or exc}"
            self._event("Failed", f"Error: {message}", warning=True)
            return self._exited(Exit(128, "StartError", started_at, clock.now(),
                                     self.container_id, message))
        self.proc = proc
        if self._mounted:  # probes and hooks enter the mount namespace it runs in
            entered = mounts.enter(proc.pid, target.cwd)
            target = replace(target, wrap=self._with_net(entered) if entered else target.wrap)
        self.target = target
        self.node.live.add(proc.pid)
        self.node.containment.started((w.uid, self.name), proc.pid, w.pod_ip)
        self._event("Created", f"Created container: {self.name}")
        self._event("Started", f"Started container {self.name}")
        self.state, self.reason, self.message = State.RUNNING, "", ""
        self.started_at, self.exit = started_at, None
        self.results = {t: initial_state(t).result for t in self.probes}
        self.kill_request, self.started_event = asyncio.Event(), asyncio.Event()
        w.publish()
        started_mono = loop.time()
        exit_task = loop.create_task(runtime.reap(proc), name=f"reap-{proc.pid}")
        self.probing = True
        probes = [loop.create_task(self._probe_loop(spec, target, started_mono),
                                   name=f"probe-{spec.type.value}-{w.name}/{self.name}")
                  for spec in self.probes.values()]
        try:
            await self._until_exit_or_kill(exit_task)
            code = exit_task.result()
        finally:
            self.probing = False  # a probe that missed its cancel still stops at its next turn
            for task in probes:
                task.cancel()
            # Bounded: a probe that failed to stop must never keep the pod from terminating.
            if probes:
                _done, stuck = await asyncio.wait(probes, timeout=PROBE_STOP_S)
                if stuck:
                    log.warning("%d probe task(s) of %s/%s did not stop in %.0fs",
                                len(stuck), w.name, self.name, PROBE_STOP_S)
            if not exit_task.done():
                runtime.signal_group(proc.pid, signal.SIGKILL)
                await asyncio.gather(exit_task, return_exceptions=True)
            # As a container's PID namespace ends with its init: whatever the main process
            # started dies with it, wherever it moved to (cgroups.py).
            self.node.containment.kill((w.uid, self.name))
            self._kill_execs()
            self.node.live.discard(proc.pid)
            self.proc = None
        exit_code, sig = exit_code_of(code)
        how = f" (signal {signal.Signals(sig).name})" if sig else ""
        self._event("ContainerExited", f"Container {self.name} exited with code {exit_code}{how}")
        if exit_code != 0 and self.node.podnet is None and log_file is not None:
            self._diagnose_exit(log_file, log_start)
        return self._exited(Exit(exit_code, exit_reason(exit_code), started_at, clock.now(),
                                 self.container_id))

    def _diagnose_exit(self, log_file: Path, start: int) -> None:
        """A failed exit the local engine causes (a port taken on the shared loopback): a
        Warning Event that says why and what to do. Reads only this run's output (from
        `start`)."""
        try:
            with log_file.open("rb") as f:
                f.seek(max(start, f.seek(0, 2) - 4096))
                tail = diagnose.read_tail(f.read())
        except OSError:
            return
        message = diagnose.bind_conflict(tail, self.name)
        if message is not None:
            self._event("PortInUse", message, warning=True, repeat=True)

    def _exited(self, exit_: Exit) -> Exit:
        self.state, self.exit, self.results = State.TERMINATED, exit_, {}
        self.handle.publish()
        return exit_

    async def _until_exit_or_kill(self, exit_task: asyncio.Task[int]) -> None:
        w = self.handle
        waits = [asyncio.ensure_future(w.termination.requested.wait()),
                 asyncio.ensure_future(self.kill_request.wait())]
        try:
            await asyncio.wait([exit_task, *waits], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
        if exit_task.done():
            return
        if w.termination.requested.is_set():
            reason = w.termination.reason
            grace = grace_period_s(w.pod, reason)
        else:
            reason = self.kill_reason
            probe = self.spec.get("livenessProbe" if reason is KillReason.LIVENESS
                                  else "startupProbe")
            grace = grace_period_s(w.pod, reason, probe)
        await self._kill(exit_task, reason, grace)

    async def _kill(self, exit_task: asyncio.Task[int], reason: KillReason, grace: int) -> None:
        """killContainer: Killing, preStop within the grace, stop signal, SIGKILL when over."""
        w, loop = self.handle, asyncio.get_running_loop()
        assert self.proc is not None
        pid = self.proc.pid
        self._event("Killing", killing_message(self.name, reason))
        plan = plan_kill(grace, self.prestop is not None)
        began = loop.time()

        def grace_end() -> float:
            return w.termination.grace_end(began, plan.grace_s)

        if plan.run_prestop:
            self._event("PreStopHookStarted", f"Running the preStop hook of container "
                                              f"{self.name} (up to {plan.hook_budget_s}s)")
            target = replace(self.target or Target(w.pod_ip, wrap=self._with_net(None)),
                             cgroup=self.cgroup)
            hook = loop.create_task(lifecycle.run_prestop(
                self.prestop, target, self.name, f"{w.name}_{w.namespace}", plan.hook_budget_s))
            if await self._wait_for(hook, grace_end):
                failure = hook.result() if not hook.exception() else str(hook.exception())
                if failure:
                    self._event("FailedPreStopHook", failure, warning=True)
            else:
                hook.cancel()
                await asyncio.gather(hook, return_exceptions=True)
                log.info("preStop hook of %s/%s not completed in grace period", w.name,
                         self.name)
        signalled = loop.time()
        timeout = stop_timeout_s(plan, signalled - began, grace_end() - signalled)
        if exit_task.done():
            return
        runtime.signal_pid(pid, signal.SIGTERM)
        self._event("StopSignalSent", f"Sent SIGTERM to container {self.name}; SIGKILL in "
                                      f"{timeout}s if it is still running")

        def kill_at() -> float:
            return w.termination.kill_at(signalled, timeout)

        if not await self._wait_for(exit_task, kill_at):
            self._kill_everything(pid)
            self._event("Killed", f"Container {self.name} did not stop within "
                                  f"{loop.time() - signalled:.0f}s of SIGTERM: sent SIGKILL",
                        warning=True)
            await asyncio.wait([exit_task])

    async def _wait_for(self, task: asyncio.Task[Any], deadline: Callable[[], float]) -> bool:
        """Wait for `task` until `deadline()` (loop time), which a second, shorter delete may
        bring forward; True if the task finished in time."""
        loop = asyncio.get_running_loop()
        while not task.done():
            left = deadline() - loop.time()
            if left <= 0:
                return False
            changed = asyncio.ensure_future(self.handle.termination.changed())
            try:
                await asyncio.wait([task, changed], timeout=left,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                changed.cancel()
        return True

    def _kill_everything(self, pid: int) -> None:
        """SIGKILL the process group of `pid` and every other process of this container."""
        runtime.signal_group(pid, signal.SIGKILL)
        self.node.containment.kill((self.handle.uid, self.name))
        self._kill_execs()

    # ---- exec sessions: processes started in the container by `pods/exec` --------------------
    def exec_started(self, session: Any) -> None:
        """An exec runs in this container: it dies with it (and with the engine)."""
        self.execs.add(session)
        self.node.live.add(session.pid)

    def exec_ended(self, session: Any) -> None:
        self.execs.discard(session)
        self.node.live.discard(session.pid)

    def _kill_execs(self) -> None:
        """As a container's exec processes end with its PID namespace."""
        for session in list(self.execs):
            session.kill()

    def kill_now(self, record: bool = True) -> None:
        """SIGKILL the container's process group at once (the pod object vanished)."""
        pid = self.pid
        if pid is None:
            return
        self._kill_everything(pid)
        if record:
            self._event("Killed", f"Pod deleted: sent SIGKILL to container {self.name}",
                        warning=True)

    # ---- probes ------------------------------------------------------------------------------
    async def _probe_loop(self, spec: ProbeSpec, target: Target, started_mono: float) -> None:
        """One probe worker (worker.go run/doProbe): wait, ask the gate, probe, count."""
        loop, w = asyncio.get_running_loop(), self.handle
        state = initial_state(spec.type)
        last: float | None = None
        while self.probing:
            now = loop.time()
            gate = probe_gate(spec, running_for_s=now - started_mono, started=self.started,
                              terminating=w.termination.requested.is_set())
            if gate is Gate.STOP:
                return
            if gate is Gate.WAIT:
                delay = started_mono + spec.initial_delay_s - now
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    await self._wait_any(self.started_event, w.termination.requested)
                continue
            at = next_probe_at(spec, started_mono, last, now)
            if at > now:
                await asyncio.sleep(at - now)
                continue
            last = now
            outcome = await prober.run_probe(spec, target)
            if outcome.result is Result.FAILURE:
                self._event("Unhealthy", f"{spec.type.value} probe failed: {outcome.message}",
                            warning=True, repeat=True)
            elif outcome.warning:
                self._event("ProbeWarning", f"{spec.type.value} probe warning: "
                                            f"{outcome.message}", warning=True)
            new = next_probe_state(state, outcome.result, spec)
            if new.result is not state.result:
                self.results[spec.type] = new.result
                if spec.type is ProbeType.STARTUP and new.result is Result.SUCCESS:
                    self.started_event.set()
                w.publish()
            state = new
            if state.on_hold:
                self.kill_reason = (KillReason.LIVENESS if spec.type is ProbeType.LIVENESS
                                    else KillReason.STARTUP)
                self.kill_request.set()
                return

    @staticmethod
    async def _wait_any(*events: asyncio.Event) -> None:
        waits = [asyncio.ensure_future(e.wait()) for e in events]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
