"""`probelab cluster up|down`: a real engine process, its kubeconfig context and its pid record.

End-to-end (each test's docstring lists the steps): up writes a 0600 context the official client
can use, SIGTERM/SIGINT/`down` stop it and remove the context (restoring the previous one),
bad input fails in one line with nothing written, and after `kill -9` the same port and
kubeconfig work again; with pods running, no process outlives the engine however it stops.
IMAGE=COMMAND parsing is table-tested. The engine's record and its watchdog on their own are in
test_host_pidfile.py and test_host_watchdog.py, its start and stop order in
test_engine_lifecycle.py.
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import socket
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from probelab.commands.cluster import Publication, parse_images
from probelab.engine.core import cgroupfs, procfs
from probelab.engine.host import kubeconfig as kc
from probelab.engine.host import pidfile
from probelab.engine.host.pidfile import EngineRecord
from probelab.errors import UsageError
from support.processes import (
    cmdline,
    descendants,
    pid_alive,
    probelab_cmd,
    run_probelab,
    started,
)
from support.sockets import free_port, port_open
from support.waiting import wait_until

USER_CONFIG = {
    "apiVersion": "v1", "kind": "Config",
    "clusters": [{"name": "prod", "cluster": {"server": "https://10.0.0.1:6443"}}],
    "users": [{"name": "admin", "user": {"token": "secret"}}],
    "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "admin"}}],
    "current-context": "prod",
}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A private state folder and no default kubeconfig, so nothing of the user's is touched."""
    out = dict(os.environ)
    out["PROBELAB_STATE_DIR"] = str(tmp_path / "state")
    out["KUBECONFIG"] = str(tmp_path / "default-kubeconfig")
    out.pop("XDG_RUNTIME_DIR", None)
    return out


def has_probelab(path: Path) -> bool:
    try:
        return kc.has_context(kc.load(path))
    except UsageError:  # a half-written file would show here; save() is atomic, so never
        return False


@contextmanager
def engine(kubeconfig: Path, env: dict[str, str], *extra: str) -> Iterator[subprocess.Popen]:
    """`cluster up` on a free port; yields once the context is in `kubeconfig`."""
    argv = probelab_cmd("cluster", "up", "--port", "0", "--kubeconfig", str(kubeconfig), *extra)
    with started(argv, env=env) as proc:
        wait_until(lambda: has_probelab(kubeconfig) or proc.poll() is not None,
                   timeout_s=30, what="the probelab context")
        assert proc.poll() is None, proc.stderr.read()
        yield proc


def core_api(kubeconfig: Path) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig),
                                                          context="probelab"))


def namespaces(kubeconfig: Path) -> set[str]:
    return {ns.metadata.name for ns in core_api(kubeconfig).list_namespace().items}


def record_files(env: dict[str, str]) -> list[Path]:
    return sorted(Path(env["PROBELAB_STATE_DIR"]).glob("engine-*.json"))


def finish(proc: subprocess.Popen, timeout_s: float = 30) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout_s)
    return proc.returncode, out, err


# ---- up, use, stop --------------------------------------------------------------------------

def test_up_serves_the_client_and_sigterm_removes_the_context(tmp_path, env) -> None:
    """Steps: a kubeconfig with the user's own context -> up -> the context is added, current,
    mode 0600, and the official client lists namespaces through it; a wrong token gets 401 ->
    SIGTERM -> exit 0, the user's kubeconfig is back as it was, the record is gone."""
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(USER_CONFIG))
    with engine(path, env) as proc:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        doc = kc.load(path)
        assert doc["current-context"] == "probelab"
        assert doc["contexts"][0] == USER_CONFIG["contexts"][0]
        server = kc.server_of(doc)
        assert server.startswith(("https://127.0.0.1:", "http://127.0.0.1:"))
        assert {"default", "kube-system"} <= namespaces(path)

        wrong = kc.merge(doc, server, "not-the-token", base64_ca(doc))
        (tmp_path / "wrong").write_text(yaml.safe_dump(wrong))
        with pytest.raises(ApiException) as info:
            core_api(tmp_path / "wrong").list_namespace()
        assert info.value.status == 401

        [record_file] = record_files(env)
        assert stat.S_IMODE(record_file.stat().st_mode) == 0o600
        record = pidfile.read(record_file)
        assert (record.pid, record.api_url, record.previous_context) == (proc.pid, server, "prod")

        proc.send_signal(signal.SIGTERM)
        code, out, err = finish(proc)
    assert code == 0, err
    assert "Traceback" not in err
    assert "SIGTERM received" in err
    assert kc.load(path) == USER_CONFIG
    assert record_files(env) == []
    assert not pid_alive(proc.pid)
    port = int(server.rsplit(":", 1)[1])
    assert not port_open("127.0.0.1", port)
    assert f"API server: {server}" in out
    assert "engine stopped" in out


def base64_ca(doc: dict) -> bytes:
    data = doc["clusters"][-1]["cluster"].get("certificate-authority-data", "")
    return base64.b64decode(data) if data else b""


def test_ready_message_format(tmp_path, env) -> None:
    """Steps: up -> stdout carries the documented ready lines (the demo and docs rely on
    them) -> SIGINT -> exit 0."""
    path = tmp_path / "kubeconfig"
    with engine(path, env) as proc:
        server = kc.server_of(kc.load(path))
        proc.send_signal(signal.SIGINT)
        code, out, err = finish(proc)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"probelab engine ready (pid {proc.pid})"
    assert lines[1] == f"  API server: {server}"
    assert lines[2] == f'  kubeconfig: {path} (context "probelab", now current)'
    assert lines[3] == f"Use it:  kubectl --kubeconfig {path} --context probelab get pods -A"
    assert lines[5].startswith("Stop it: Ctrl-C here, or `probelab cluster down --kubeconfig")
    assert lines[-1] == f'engine stopped; context "probelab" removed from {path}'
    assert "SIGINT received" in err
    assert not has_probelab(path)


def test_down_stops_the_engine_by_its_record(tmp_path, env) -> None:
    """Steps: up -> `cluster down --kubeconfig K` -> it reports the stop; the engine exited 0
    and removed its context -> a second `down` finds nothing and says so (exit 0)."""
    path = tmp_path / "kubeconfig"
    with engine(path, env) as proc:
        result = run_probelab("cluster", "down", "--kubeconfig", str(path), env=env)
        assert result.returncode == 0, result.stderr
        assert f"stopping engine pid {proc.pid}" in result.stdout
        assert f"engine pid {proc.pid} stopped in" in result.stdout
        assert proc.wait(10) == 0
    assert not has_probelab(path)
    assert record_files(env) == []
    again = run_probelab("cluster", "down", env=env)
    assert again.returncode == 0
    assert "no engine is running" in again.stderr


def test_down_without_a_kubeconfig_stops_every_recorded_engine(tmp_path, env) -> None:
    """Steps: two engines on two kubeconfigs -> `cluster down` -> both exit 0, no record left."""
    a, b = tmp_path / "a", tmp_path / "b"
    with engine(a, env) as first, engine(b, env) as second:
        result = run_probelab("cluster", "down", env=env)
        assert result.returncode == 0, result.stderr
        assert first.wait(10) == 0 and second.wait(10) == 0
    assert not has_probelab(a) and not has_probelab(b)
    assert record_files(env) == []


def test_second_engine_on_the_same_kubeconfig_is_refused(tmp_path, env) -> None:
    """Steps: up -> a second up on the same kubeconfig -> exit 2, one line naming the running
    pid; the first engine keeps serving with an unchanged kubeconfig."""
    path = tmp_path / "kubeconfig"
    with engine(path, env) as proc:
        before = path.read_text()
        result = run_probelab("cluster", "up", "--port", "0", "--kubeconfig", str(path), env=env)
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1
        assert f"pid {proc.pid}" in result.stderr and "cluster down" in result.stderr
        assert path.read_text() == before
        assert "default" in namespaces(path)


# ---- bad input: one line, nothing written ------------------------------------------------------

def test_port_in_use_is_one_line_and_writes_nothing(tmp_path, env) -> None:
    path = tmp_path / "kubeconfig"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = run_probelab("cluster", "up", "--port", str(port), "--kubeconfig", str(path),
                              env=env)
        assert port_open("127.0.0.1", port)  # the other listener was not harmed
    assert result.returncode == 2
    # The engine's first log line (which data plane, and its network) may come first; the
    # error itself is one line, the last.
    lines = result.stderr.splitlines()
    assert lines[-1].startswith("probelab: error:") and str(port) in lines[-1]
    assert all(" INFO probelab.engine: " in line for line in lines[:-1]), result.stderr
    assert not path.exists()
    assert record_files(env) == []


@pytest.mark.parametrize("args", [
    ["--image", "nocommand"],
    ["--image", "=python app.py"],
    ["--image", "img:1="],
    ["--image", "img:1=python 'unclosed"],
    ["--port", "70000"],
    ["--endpoint-delay", "-1"],
    ["--min-sync-period", "-1"],
    ["--profile", "haproxy"],
    ["--lb-deregistration-lag", "-5"],
])
def test_bad_flags_are_one_line_and_write_nothing(tmp_path, env, args) -> None:
    path = tmp_path / "kubeconfig"
    result = run_probelab("cluster", "up", "--kubeconfig", str(path), *args, env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert not path.exists()


def test_malformed_kubeconfig_is_refused_before_starting(tmp_path, env) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text("clusters: [\n")
    result = run_probelab("cluster", "up", "--kubeconfig", str(path), env=env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "not valid YAML" in result.stderr
    assert path.read_text() == "clusters: [\n"
    assert record_files(env) == []


# ---- after kill -9 ------------------------------------------------------------------------------

def test_after_sigkill_the_same_port_and_kubeconfig_work_again(tmp_path, env) -> None:
    """Steps: up on port P -> kill -9 -> the process is gone and the context and record are
    stale -> up on port P with the same kubeconfig -> it says what it replaced, the client
    works with the new context -> SIGTERM -> clean."""
    path = tmp_path / "kubeconfig"
    port = free_port()
    argv = probelab_cmd("cluster", "up", "--port", str(port), "--kubeconfig", str(path))
    with started(argv, env=env) as first:
        wait_until(lambda: has_probelab(path), timeout_s=30, what="first context")
        old = kc.load(path)
        first.kill()
        first.wait(10)
    assert not pid_alive(first.pid)
    assert kc.load(path) == old  # kill -9 leaves the context behind
    assert len(record_files(env)) == 1

    with started(argv, env=env) as second:
        wait_until(lambda: (has_probelab(path) and kc.load(path) != old)
                   or second.poll() is not None,
                   timeout_s=30, what="the replaced context")
        assert second.poll() is None, second.stderr.read()
        assert kc.server_of(kc.load(path)).endswith(f":{port}")
        assert "default" in namespaces(path)
        second.send_signal(signal.SIGTERM)
        code, _, err = finish(second)
    assert code == 0, err
    assert f"engine pid {first.pid}" in err and "no longer running" in err
    assert 'replaced stale context "probelab"' in err
    assert not has_probelab(path)
    assert record_files(env) == []


def test_down_after_sigkill_removes_the_stale_context(tmp_path, env) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(USER_CONFIG))
    with engine(path, env) as proc:
        proc.kill()
        proc.wait(10)
    result = run_probelab("cluster", "down", "--kubeconfig", str(path), env=env)
    assert result.returncode == 0, result.stderr
    assert "was not running" in result.stdout
    assert "removed stale context" in result.stderr
    doc = kc.load(path)
    assert not kc.has_context(doc) and doc["current-context"] == "prod"
    assert record_files(env) == []


def test_down_never_signals_a_pid_that_is_not_the_engine(tmp_path, env) -> None:
    """Steps: a record whose pid now belongs to another program (a sleeping child of ours) ->
    `down` -> that program still runs; the record is dropped as stale."""
    state = Path(env["PROBELAB_STATE_DIR"])
    path = tmp_path / "kubeconfig"
    with started(["sleep", "60"]) as other:
        record = EngineRecord(pid=other.pid, start_ticks=None, api_url="https://127.0.0.1:1",
                              kubeconfig=str(path), context="probelab", previous_context=None,
                              started_at=0.0)
        pidfile.write(pidfile.record_path(state, path), record)
        result = run_probelab("cluster", "down", env=env)
        assert result.returncode == 0, result.stderr
        assert other.poll() is None
    assert record_files(env) == []


# ---- no orphans with pods running (issue 8) -------------------------------------------------

# A pod whose main process (the shell) has a child of its own: the parent-death signal reaches
# only the shell, so the sleep is what the watchdog must catch after a kill -9.
FORKING_IMAGE = "forker:1=sh -c 'sleep 900; true'"
STUBBORN_IMAGE = "stubborn:1=sh -c 'trap \"\" TERM; sleep 901; true'"




def engine_state_dir(procs: set[int]) -> Path:
    """The folder the watchdog was told to delete (pod logs, TLS key); it exists now."""
    [argv] = [cmdline(p).split() for p in procs if "probelab.engine.host.watchdog" in cmdline(p)]
    state = Path(argv[argv.index("--remove") + 1])
    assert state.is_dir()
    return state


def deploy(kubeconfig: Path, image: str, replicas: int, grace_s: int = 5) -> None:
    api = config.new_client_from_config(config_file=str(kubeconfig))
    client.AppsV1Api(api).create_namespaced_deployment("default", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "pods"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "pods"}},
                 "template": {"metadata": {"labels": {"app": "pods"}}, "spec": {
                     "terminationGracePeriodSeconds": grace_s,
                     "containers": [{"name": "main", "image": image}]}}}})


def pod_processes(engine_pid: int, marker: str, count: int) -> set[int]:
    """Every descendant of the engine once `count` of them run a command line starting with
    `marker` (the pods' sleeps, not the shells that started them)."""
    def ready() -> set[int]:
        procs = descendants(engine_pid)
        return procs if sum(cmdline(p).startswith(marker) for p in procs) == count else set()

    return wait_until(ready, timeout_s=60, what=f"{count} pod processes")


def test_sigkill_of_the_engine_with_pods_leaves_no_process(tmp_path, env) -> None:
    """Steps: up on port P -> 3 pods whose shells each started a sleep; the watchdog has noted
    their sessions -> kill -9 the engine -> every process it had started (shells, sleeps, the
    watchdog) is gone -> up again on port P with the same kubeconfig serves the client."""
    path = tmp_path / "kubeconfig"
    log = tmp_path / "stderr"
    port = free_port()
    argv = probelab_cmd("cluster", "up", "--port", str(port), "--kubeconfig", str(path),
                        "--image", FORKING_IMAGE, "--log-level", "debug")
    with log.open("w") as err, started(argv, env=env, stderr=err) as proc:
        wait_until(lambda: has_probelab(path), timeout_s=30, what="context")
        deploy(path, "forker:1", replicas=3)
        procs = pod_processes(proc.pid, "sleep 900", 3)
        shells = [p for p in procs if cmdline(p).startswith("sh ")]
        sleeps = {p for p in procs if cmdline(p).startswith("sleep 900")}
        assert len(shells) == 3 and len(sleeps) == 3
        state = engine_state_dir(procs)
        assert any((state / "logs").iterdir())  # the pods' logs
        wait_until(lambda: all(f"noted session {p}\n" in log.read_text() for p in shells),
                   what="the watchdog to note the pods")
        proc.kill()
        proc.wait(10)
        wait_until(lambda: not any(pid_alive(p) for p in procs), timeout_s=15,
                   what="the engine's processes to go")
    # The sleeps never get a parent-death signal: the watchdog must be what killed them. The
    # shells may have died of theirs before its sweep looked, so they are not counted here.
    [killed_line] = [line for line in log.read_text().splitlines()
                     if line.startswith("probelab watchdog: killed pids ")]
    killed = {int(p) for p in killed_line.rsplit(" pids ", 1)[1].split()}
    assert sleeps <= killed, (sleeps, killed)
    assert killed <= procs
    wait_until(lambda: not state.exists(), what="the state folder to go")
    stale = kc.load(path)
    argv = probelab_cmd("cluster", "up", "--port", str(port), "--kubeconfig", str(path))
    with started(argv, env=env) as again:
        wait_until(lambda: kc.load(path) != stale or again.poll() is not None, timeout_s=30,
                   what="the new context")
        assert kc.server_of(kc.load(path)).endswith(f":{port}")
        assert "default" in namespaces(path)
        again.send_signal(signal.SIGTERM)
        assert finish(again)[0] == 0


@pytest.mark.parametrize("how", ["kill -9", "Ctrl-C"])
def test_a_pod_process_that_left_its_session_dies_with_the_engine(tmp_path, env, how) -> None:
    """Steps: up -> a pod whose shell started `setsid sleep` (own session, re-parented to
    init: no parent-death signal, no group or session the kubelet or the watchdog knew) ->
    kill -9 the engine (the watchdog kills it with the engine's cgroup tree or, without
    cgroups, as a descendant it noted) or Ctrl-C (the kubelet kills its pods' cgroups) ->
    nothing of the pod is left, nor the tree."""
    path = tmp_path / "kubeconfig"
    marker = f"sleep 7773.{os.getpid()}{len(how)}"
    image = f"escaper:1=sh -c '( setsid {marker} & ); exec sleep 3600'"
    argv = probelab_cmd("cluster", "up", "--port", "0", "--kubeconfig", str(path),
                        "--image", image)
    escapees: set[int] = set()
    try:
        with started(argv, env=env) as proc:
            wait_until(lambda: has_probelab(path), timeout_s=30, what="context")
            tree = cgroupfs.engine_tree(proc.pid)
            deploy(path, "escaper:1", replicas=2)

            def running() -> set[int]:
                found = {int(p) for p in os.listdir("/proc")
                         if p.isdigit() and cmdline(int(p)).strip() == marker}
                return found if len(found) == 2 else set()

            escapees = wait_until(running, timeout_s=60, what="the escaped sleeps")
            assert all(procfs.read_stat(p).ppid != proc.pid for p in escapees)
            if how == "kill -9":
                proc.kill()
            else:
                proc.send_signal(signal.SIGINT)
            proc.wait(30)
            wait_until(lambda: not any(pid_alive(p) for p in escapees), timeout_s=15,
                       what=f"the escaped sleeps to die after the engine's {how}")
        if tree is not None:
            wait_until(lambda: not tree.exists(), what="the engine's cgroup tree to go")
    finally:
        for pid in escapees:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_sigterm_with_pods_terminates_them_and_leaves_nothing(tmp_path, env) -> None:
    path = tmp_path / "kubeconfig"
    with engine(path, env, "--image", FORKING_IMAGE) as proc:
        deploy(path, "forker:1", replicas=2)
        procs = pod_processes(proc.pid, "sleep 900", 2)
        state = engine_state_dir(procs)
        proc.send_signal(signal.SIGTERM)
        code, _, err = finish(proc)
    assert code == 0, err
    assert not any(pid_alive(p) for p in procs)
    assert not state.exists()
    assert not has_probelab(path)


def test_second_signal_forces_past_a_pod_that_ignores_sigterm(tmp_path, env) -> None:
    """Steps: a pod that ignores SIGTERM with a 120 s grace period -> SIGTERM (the engine waits
    for the grace period) -> SIGINT -> exit 130 at once, no pod process left, context gone."""
    path = tmp_path / "kubeconfig"
    log = tmp_path / "stderr"
    argv = probelab_cmd("cluster", "up", "--port", "0", "--kubeconfig", str(path),
                        "--image", STUBBORN_IMAGE)
    with log.open("w") as err, started(argv, env=env, stderr=err) as proc:
        wait_until(lambda: has_probelab(path), timeout_s=30, what="context")
        deploy(path, "stubborn:1", replicas=1, grace_s=120)
        procs = pod_processes(proc.pid, "sleep 901", 1)
        proc.send_signal(signal.SIGTERM)
        wait_until(lambda: "SIGTERM received" in log.read_text(), what="the graceful stop")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130
    assert "forced stop" in log.read_text()
    wait_until(lambda: not any(pid_alive(p) for p in procs), timeout_s=10, what="pods to go")
    assert not has_probelab(path)
    assert record_files(env) == []


# ---- pure rules ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("values", "expected"), [
    ([], ()),
    (["app:1=python app.py"], (("app:1", "python app.py"),)),
    (["a=x=y", "b = run "], (("a", "x=y"), ("b", "run"))),
])
def test_parse_images(values, expected) -> None:
    assert parse_images(values) == expected


@pytest.mark.parametrize("value", ["x", "=cmd", "img=", "two words=cmd", "i=run 'open"])
def test_parse_images_rejects(value) -> None:
    with pytest.raises(UsageError):
        parse_images([value])


def test_a_read_only_state_dir_at_stop_is_one_line_per_trace(tmp_path, monkeypatch,
                                                              capsys) -> None:
    """Hardening item 8: what cannot be removed at stop is said in one line, not a traceback
    (as root, a read-only folder is simulated by the removals failing with EACCES/EROFS)."""
    kubeconfig_path, record_path = tmp_path / "kubeconfig", tmp_path / "state" / "r.json"
    pub = Publication(kubeconfig_path, record_path, token="t", show_kubeconfig=False)
    pub.publish("https://127.0.0.1:6443", b"ca")
    assert record_path.exists()

    def read_only(*_args, **_kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(pidfile, "remove", read_only)
    monkeypatch.setattr(kc, "update", lambda *_: (_ for _ in ()).throw(
        UsageError(f"cannot write kubeconfig {kubeconfig_path}: Read-only file system")))
    pub.unpublish()  # no exception
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f'probelab: could not remove context "probelab" from {kubeconfig_path}: cannot write '
        f"kubeconfig {kubeconfig_path}: Read-only file system",
        f"probelab: could not remove the engine record {record_path}: Read-only file system"]


@pytest.mark.parametrize("command", [("cluster", "up"), ("demo",), ("test",)])
def test_the_proxy_timing_and_profile_flags_are_documented(command) -> None:
    result = run_probelab(*command, "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for flag in ("--endpoint-delay", "--min-sync-period", "--profile",
                 "--lb-deregistration-lag"):
        assert flag in text, (command, flag)
    assert "kube-proxy|ingress-nginx|cloud-lb" in text
    assert "minSyncPeriod" in text
