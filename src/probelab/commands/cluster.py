"""`probelab cluster up|down`: the local engine in the foreground, and stopping it from elsewhere.

`up` turns flags into an `EngineConfig`, checks that no engine already serves the same
kubeconfig, runs the engine until a signal, and in between publishes it: a record in the state
folder (`probelab.engine.host.pidfile`) and the kubeconfig context `probelab`
(`probelab.engine.host.kubeconfig`), both removed again when it stops. `down` signals a recorded
engine by pid and waits for it to go. The ready message is printed last, after the kubeconfig
is written, so whoever waits for either can use the engine at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shlex
import shutil
import signal
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click

from probelab.engine.host import kubeconfig, pidfile, watchdog
from probelab.engine.host.pidfile import EngineRecord, Liveness
from probelab.errors import RuntimeFailure, UsageError

if TYPE_CHECKING:
    from probelab.engine.core.context import EngineConfig

POLL_S = 0.1


def parse_images(values: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """`IMAGE=COMMAND` flags as pairs; UsageError naming the first bad one."""
    pairs = []
    for value in values:
        image, sep, cmd = value.partition("=")
        image, cmd = image.strip(), cmd.strip()
        if not sep or not image or not cmd or any(c.isspace() for c in image):
            raise UsageError("--image expects IMAGE=COMMAND (e.g. 'myapp:1.0=python app.py'), "
                             f"got {value!r}")
        try:
            shlex.split(cmd)
        except ValueError as exc:
            raise UsageError(f"--image {image}: cannot split the command: {exc}") from None
        pairs.append((image, cmd))
    return tuple(pairs)


@dataclass
class Publication:
    """The engine's traces outside its process: the kubeconfig context and the pid record."""

    kubeconfig_path: Path
    record_path: Path
    token: str
    show_kubeconfig: bool  # name the file in hints (it is not the one kubectl reads by default)
    api_url: str = ""
    notes: list[str] = field(default_factory=list)
    published: bool = False

    def publish(self, api_url: str, ca_pem: bytes) -> None:
        """Record the engine, then merge its context (the record first, so that whoever sees
        the context can also find the engine to stop it)."""
        self.api_url = api_url

        def add_context(doc: dict) -> dict:
            # Again under the lock: another `up` on this kubeconfig may have won the race.
            _refuse_if_running(self.record_path, self.kubeconfig_path)
            if kubeconfig.has_context(doc):
                old = kubeconfig.server_of(doc) or "?"
                self.notes.append(f'replaced stale context "{kubeconfig.CONTEXT}" in '
                                  f"{self.kubeconfig_path} (it pointed at {old}, which no "
                                  "running engine serves)")
            previous = doc.get("current-context") or None
            record = EngineRecord(
                pid=os.getpid(), start_ticks=pidfile.own_start_ticks(), api_url=api_url,
                kubeconfig=str(self.kubeconfig_path.absolute()), context=kubeconfig.CONTEXT,
                previous_context=previous if previous != kubeconfig.CONTEXT else None,
                started_at=time.time())
            pidfile.write(self.record_path, record)
            self.published = True
            return kubeconfig.merge(doc, api_url, self.token, ca_pem)

        kubeconfig.update(self.kubeconfig_path, add_context)

    def unpublish(self) -> None:
        """Remove the context (only if it is still ours) and the record; safe twice."""
        if not self.published:
            return
        self.published = False
        record = pidfile.read(self.record_path)
        previous = record.previous_context if record else None
        # At stop a folder may have turned read-only (or vanished): say so in one line each,
        # and still do the other half, rather than end the engine's run with a traceback.
        try:
            kubeconfig.update(self.kubeconfig_path,
                              lambda doc: kubeconfig.remove(doc, self.api_url, previous))
        except (OSError, UsageError) as exc:
            _note(f'could not remove context "{kubeconfig.CONTEXT}" from '
                  f"{self.kubeconfig_path}: {_why(exc)}")
        if record is None or record.pid == os.getpid():
            try:
                pidfile.remove(self.record_path)
            except OSError as exc:
                _note(f"could not remove the engine record {self.record_path}: {_why(exc)}")


def ready_message(pub: Publication) -> str:
    kc = f" --kubeconfig {shlex.quote(str(pub.kubeconfig_path))}" if pub.show_kubeconfig else ""
    ctx = kubeconfig.CONTEXT
    return "\n".join([
        f"probelab engine ready (pid {os.getpid()})",
        f"  API server: {pub.api_url}",
        f'  kubeconfig: {pub.kubeconfig_path} (context "{ctx}", now current)',
        f"Use it:  kubectl{kc} --context {ctx} get pods -A",
        f"         probelab service url NAME -n NAMESPACE{kc}",
        f"Stop it: Ctrl-C here, or `probelab cluster down{kc}` from another terminal",
    ])


def _say(message: str) -> None:
    with contextlib.suppress(OSError):  # a closed terminal or pipe must not stop the engine
        click.echo(message)


def _why(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _note(message: str) -> None:
    with contextlib.suppress(OSError):
        click.echo(f"probelab: {message}", err=True)


def _refuse_if_running(record_path: Path, kubeconfig_path: Path) -> None:
    record = pidfile.read(record_path)
    if record is None:
        pidfile.remove(record_path)  # unreadable leftovers
        return
    state = pidfile.check(record)
    if state is Liveness.RUNNING:
        raise UsageError(f"an engine already serves {kubeconfig_path} (pid {record.pid}, "
                         f"{record.api_url}); stop it with `probelab cluster down "
                         f"--kubeconfig {shlex.quote(str(kubeconfig_path))}`")
    _note(f"engine pid {record.pid} ({record.api_url}) is no longer running; "
          "forgetting its record")
    pidfile.remove(record_path)


def check_dataplane(requested: str, profile: str = "kube-proxy") -> str:
    """The data plane to ask the engine for. `--dataplane kernel` where it cannot run is a
    one-line error (exit 2) before anything starts. A `--profile` other than kube-proxy puts
    its frontend on the userspace proxy's NodePort listeners, so it needs the userspace plane:
    `auto` becomes userspace, and `kernel` is an error."""
    from probelab.engine.network import choice

    if profile != "kube-proxy":
        if requested == choice.KERNEL:
            raise UsageError(f"--profile {profile} runs in front of the userspace proxy's "
                             "NodePorts: use --dataplane userspace (or auto)")
        return choice.USERSPACE
    if requested == choice.KERNEL:
        decided = choice.decide(requested, choice.facts())
        if decided.error:
            raise UsageError(decided.reason)
    return requested


def check_lifeline(fd: int) -> None:
    """--stop-with-fd must name an open descriptor that can report end of file (a pipe or a
    socket): anything else would never end, and the engine would not stop with its parent."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        raise UsageError(f"--stop-with-fd {fd}: not an open file descriptor of this "
                         "process") from None
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        raise UsageError(f"--stop-with-fd {fd}: not a pipe or a socket (only those report "
                         "end of file when the other side goes)")


def _run(config: EngineConfig, pub: Publication, verbose: bool,
         lifeline: int | None = None) -> int:
    from probelab.engine.engine import PARENT_GONE, Engine, Outcome  # loads lazily

    engine = Engine(config)

    def ready() -> None:
        pub.publish(engine.api_url, engine.api_ca_pem)
        for note in pub.notes:
            _note(note)
        _say(ready_message(pub))

    def stopping(signame: str) -> None:
        if signame == PARENT_GONE:
            _note("the program that started the engine exited (--stop-with-fd): stopping the "
                  "engine (pods terminate gracefully)")
            return
        _note(f"{signame} received: stopping the engine (pods terminate gracefully; "
              "send it again to force)")

    # Sweeps what pods leave behind and deletes the state folder, even if we are killed.
    guard = watchdog.start(verbose, remove_dir=config.state_dir)
    try:
        outcome = _event_loop_run(engine.run_forever(ready, stopping, lifeline))
    finally:
        pub.unpublish()
        if guard is not None:
            guard.close()
        shutil.rmtree(config.state_dir, ignore_errors=True)
    if outcome is Outcome.FORCED:
        _note("forced stop: pods were killed; exiting now")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)  # components may still hold tasks; the watchdog has killed the pods
    _say(f'engine stopped; context "{kubeconfig.CONTEXT}" removed from {pub.kubeconfig_path}')
    return 0


def _event_loop_run(coro):
    """Run the engine on the standard event loop (the API server's TLS connection tracking
    needs weak references to transports, which uvloop's SSL transports do not allow). After a
    forced stop the loop is left unclosed: closing it would wait for the very tasks the user
    chose not to wait for."""
    from probelab.engine.engine import Outcome

    runner = asyncio.Runner()
    try:
        outcome = runner.run(coro)
    except BaseException:
        runner.close()
        raise
    if outcome is not Outcome.FORCED:
        runner.close()
    return outcome


@click.group(name="cluster")
def command() -> None:
    """Run the local engine: a Kubernetes API on 127.0.0.1 that runs pods as processes.

    \b
    probelab cluster up     start it in the foreground (Ctrl-C stops it)
    probelab cluster down   stop one started elsewhere
    """


@command.command(name="up")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="API server port on 127.0.0.1 (0 picks a free one and prints it).")
@click.option("--kubeconfig", "kubeconfig_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Kubeconfig file to add the context to "
              "(default: first path of $KUBECONFIG, else ~/.kube/config).")
@click.option("--endpoint-delay", "endpoint_delay_s", type=click.FloatRange(min=0, max=30),
              default=0.1, show_default=True,
              help="Latency from an EndpointSlice change to the Service proxy's sync runner "
                   "(s).")
@click.option("--min-sync-period", "min_sync_period_s", type=click.FloatRange(min=0, max=30),
              default=1.0, show_default=True,
              help="kube-proxy's minSyncPeriod: a change syncs at once when none ran "
                   "within this period, else at its end (s).")
@click.option("--profile", type=click.Choice(["kube-proxy", "ingress-nginx", "cloud-lb"]),
              default="kube-proxy", show_default=True,
              help="what serves NodePort traffic: kube-proxy alone, ingress-nginx (an "
                   "HTTP proxy that retries, 502/504) or cloud-lb (keeps sending to removed "
                   "pods for --lb-deregistration-lag).")
@click.option("--lb-deregistration-lag", "lb_deregistration_lag_s",
              type=click.FloatRange(min=0, max=600), default=15.0, show_default=True,
              help="cloud-lb: seconds from an endpoint's removal until the load "
                   "balancer stops sending it new connections.")
@click.option("--image", "images", multiple=True, metavar="IMAGE=COMMAND",
              help="Run IMAGE as COMMAND (repeatable), e.g. 'myapp:1.0=python app.py'.")
@click.option("--seed", type=int, default=None, help="Seed for the engine's random choices.")
@click.option("--max-pods", "max_pods", type=click.IntRange(1, 100000), default=110,
              show_default=True, help="Pods the node runs at once (the kubelet's --max-pods); "
              "more stay Pending with a FailedScheduling \"Too many pods\" Event.")
@click.option("--nodes", type=click.IntRange(1, 16), default=1, show_default=True,
              help="Logical nodes to register (probelab, probelab-2, ...): one machine, one "
              "kubelet, a Node object each with the full capacity; pods are spread over them "
              "and `kubectl drain probelab-2` moves them to the others.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning"]), default="info",
              show_default=True, help="Engine log detail on stderr.")
@click.option("--dataplane", type=click.Choice(["auto", "kernel", "userspace"]), default="auto",
              show_default=True, help="kernel: a network namespace per pod and nftables DNAT "
              "for Services (needs root or CAP_NET_ADMIN); userspace: loopback pod IPs and a "
              "proxy in the engine; auto: kernel where it can run.")
@click.option("--stop-with-fd", "lifeline", type=click.IntRange(min=0), default=None,
              metavar="FD", help="Stop gracefully when this inherited file descriptor reaches "
              "end of file: for a program that starts the engine, which passes a pipe's read "
              "end and keeps the write end; the kernel closes that end when the program dies, "
              "even by SIGKILL, so the engine never outlives it.")
def up(port: int, kubeconfig_path: Path | None, endpoint_delay_s: float,
       min_sync_period_s: float, profile: str, lb_deregistration_lag_s: float,
       images: tuple[str, ...], seed: int | None, max_pods: int, nodes: int, log_level: str,
       dataplane: str, lifeline: int | None) -> None:
    """Start the local engine in the foreground and add the kubeconfig context "probelab".

    Ctrl-C (or SIGTERM, or `probelab cluster down`) terminates every pod gracefully, then
    removes the context. A second Ctrl-C forces an immediate exit.

    \b
    Examples:
      probelab cluster up
      probelab cluster up --port 6443 --kubeconfig ./kubeconfig --endpoint-delay 2
      probelab cluster up --max-pods 50
      probelab cluster up --nodes 3
      probelab cluster up --profile cloud-lb --lb-deregistration-lag 20
    """
    from probelab.engine.core.context import EngineConfig

    image_pairs = parse_images(images)
    dataplane = check_dataplane(dataplane, profile)
    if lifeline is not None:
        check_lifeline(lifeline)
    env, home = os.environ, Path.home()
    kc_path = kubeconfig.default_path(kubeconfig_path, env, home)
    record_path = pidfile.record_path(pidfile.state_dir(env, home), kc_path)
    kubeconfig.load(kc_path)  # a broken kubeconfig fails before anything starts
    _refuse_if_running(record_path, kc_path)
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = secrets.token_urlsafe(32)
    state = Path(tempfile.mkdtemp(prefix="probelab-engine-"))  # pod logs, TLS key
    config = EngineConfig(port=port, endpoint_delay_s=endpoint_delay_s,
                          min_sync_period_s=min_sync_period_s, profile=profile,
                          lb_deregistration_lag_s=lb_deregistration_lag_s, images=image_pairs,
                          seed=seed, token=token, state_dir=state, max_pods=max_pods,
                          nodes=nodes, dataplane=dataplane)
    pub = Publication(kubeconfig_path=kc_path, record_path=record_path, token=token,
                      show_kubeconfig=kubeconfig_path is not None)
    raise SystemExit(_run(config, pub, verbose=log_level == "debug", lifeline=lifeline))


# ---- down ----------------------------------------------------------------------------------

def _wait_gone(record: EngineRecord, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while pidfile.check(record) is Liveness.RUNNING:
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)
    return True


def _clean_after(path: Path, record: EngineRecord) -> None:
    """What a killed engine could not do: drop its context and its record."""
    kc_path = Path(record.kubeconfig)
    removed = []

    def drop(doc: dict) -> dict | None:
        if not (kubeconfig.has_context(doc)
                and kubeconfig.server_of(doc) in (record.api_url, None)):
            return None
        removed.append(True)
        return kubeconfig.remove(doc, record.api_url, record.previous_context)

    if kc_path.exists():  # a temporary kubeconfig may be long gone
        kubeconfig.update(kc_path, drop)
    if removed:
        _note(f'removed stale context "{record.context}" from {kc_path}')
    pidfile.remove(path)


def _stop_one(path: Path, record: EngineRecord, timeout_s: float, force: bool,
              say: Callable[[str], None]) -> None:
    state = pidfile.check(record)
    if state is not Liveness.RUNNING:
        say(f"engine pid {record.pid} ({record.api_url}) was not running")
        _clean_after(path, record)
        return
    say(f"stopping engine pid {record.pid} ({record.api_url}); pods terminate gracefully")
    began = time.monotonic()
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, signal.SIGTERM)
    if not _wait_gone(record, timeout_s):
        if not force:
            raise RuntimeFailure(f"engine pid {record.pid} is still running after "
                                 f"{timeout_s:.0f} s (long grace periods?); run again with "
                                 "--force to kill it")
        say(f"engine pid {record.pid} overstayed {timeout_s:.0f} s: killing it")
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, signal.SIGKILL)
        _wait_gone(record, 10.0)
    if path.exists() or kubeconfig.has_context(kubeconfig.load(Path(record.kubeconfig))):
        _clean_after(path, record)
    say(f"engine pid {record.pid} stopped in {time.monotonic() - began:.1f} s; "
        f'context "{record.context}" removed from {record.kubeconfig}')


@command.command(name="down")
@click.option("--kubeconfig", "kubeconfig_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Stop only the engine serving this kubeconfig "
              "(default: every engine this user started).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0), default=120.0,
              show_default=True, help="Seconds to wait for a graceful stop.")
@click.option("--force", is_flag=True, help="SIGKILL the engine if it overstays --timeout.")
def down(kubeconfig_path: Path | None, timeout_s: float, force: bool) -> None:
    """Stop a running `probelab cluster up` (found by the pid it recorded).

    Sends SIGTERM, so pods terminate gracefully and the context is removed, and waits for the
    engine to exit. An engine that was killed (kill -9) leaves a stale context: `down` removes
    it. Exit 0 also when no engine runs.
    """
    folder = pidfile.state_dir(os.environ, Path.home())
    if kubeconfig_path is not None:
        path = pidfile.record_path(folder, kubeconfig_path.expanduser())
        found = [(path, pidfile.read(path))] if path.exists() else []
    else:
        found = pidfile.all_records(folder)
    records = [(p, r) for p, r in found if r is not None]
    for p, r in found:
        if r is None:
            pidfile.remove(p)
    if not records:
        where = f" for {kubeconfig_path}" if kubeconfig_path is not None else ""
        _note(f"no engine is running{where}; nothing to stop")
        return
    for path, record in records:
        _stop_one(path, record, timeout_s, force, click.echo)
