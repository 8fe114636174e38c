"""The container runtime of the local engine: a container is a host process group.

Each container runs in its own session (so its process group can be signalled as a whole, as a
container's PID namespace would be) with PR_SET_PDEATHSIG=SIGKILL, so it dies with the engine even
when the engine itself is SIGKILLed. The signal is set by util-linux `setpriv --pdeathsig KILL`
when it is installed (the fast vfork path: a Python preexec function forces a full fork, which
blocks the event loop for ~25 ms in an engine-sized process), else by prctl in a preexec function.
Where the kubelet runs pods in cgroups (`cgroups`), the process joins its container's cgroup
before it runs (`in_cgroup_argv`). Its stdout and stderr go through pipes to `containerlog`,
which appends them as CRI log records to the run's file of `core.podlogs`, which the API server
serves as `pods/log`. Exec probes and exec hooks
run the same way, with the container's environment. Used by `kubelet`, `prober` and `lifecycle`.

Note: the parent-death signal fires when the *thread* that forked the child ends, so spawn from
the thread that runs the engine's event loop (as asyncio subprocesses do).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from probelab.engine.kubelet.containerlog import OutputPipes

log = logging.getLogger("probelab.engine.kubelet")

_PR_SET_PDEATHSIG = 1


def _load_libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover - every Linux has a libc
        return None


_LIBC = _load_libc()
SETPRIV = shutil.which("setpriv") if sys.platform.startswith("linux") else None
_EXIT_POLL_S = 0.25  # `exited`: the pidfd wakes it at once; this bounds a missed wake-up
_spawned: set[int] = set()  # pids started here that asyncio still has to wait for
_output: dict[int, OutputPipes] = {}  # pid -> its output pumps, drained when it is reaped
OUTPUT_DRAIN_S = 2.0


def spawned_here(pid: int) -> bool:
    """Whether `pid` is a process this runtime started and will reap itself (so the
    subreaper of `cgroups` must not)."""
    return pid in _spawned


def die_with_parent() -> Callable[[], None] | None:
    """A preexec function that asks the kernel to SIGKILL the child when we die (Linux)."""
    if _LIBC is None:
        return None
    libc = _LIBC
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # we died between fork and prctl: do not outlive us
            os._exit(137)

    return preexec


JOIN_SCRIPT = 'echo $$ > "$0/cgroup.procs" || exit 125; exec "$@"'


def in_cgroup_argv(cgroup: Path, argv: Sequence[str]) -> list[str]:
    """`argv`, started so that it is in `cgroup` before it runs a single instruction of its
    own (no window to fork outside): a shell writes its own pid to cgroup.procs, then execs
    `argv` (same pid). Exit code 125 if it cannot join."""
    return ["/bin/sh", "-c", JOIN_SCRIPT, str(cgroup), *argv]


def signal_group(pid: int, sig: int) -> bool:
    """Send `sig` to the process group led by `pid`; False if nothing is left of it."""
    try:
        os.killpg(pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


Wrap = Callable[[Sequence[str]], list[str]]  # an argv wrapper (the volumes' mount namespace)


async def spawn(argv: Sequence[str], env: Mapping[str, str], log_file: Path | None,
                cwd: str | None = None, capture: bool = False,
                cgroup: Path | None = None, wrap: Wrap | None = None, stdin: bool = False,
                ) -> asyncio.subprocess.Process:
    """Start a process in its own session (and in `cgroup` before it runs, see
    `cgroups.in_cgroup_argv`); output to `log_file` (appended) or, with `capture`, to a pipe.
    `wrap` turns the argv into one that sets the process up first (volumes.mounts, and
    the pod's network namespace: `podnet.PodNet.wrap`). With
    `stdin`, its stdin is a pipe (`proc.stdin`: a container with `stdin: true`), else /dev/null.
    Raises OSError (e.g. FileNotFoundError) when it cannot start."""
    _check_executable(argv, env, cwd)
    if wrap is not None:
        argv = wrap(argv)
    if cgroup is not None:
        argv = in_cgroup_argv(cgroup, argv)
    out: int | object = asyncio.subprocess.DEVNULL
    err: int | object = asyncio.subprocess.STDOUT
    pipes = None
    if capture:
        out = asyncio.subprocess.PIPE
    elif log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        pipes = OutputPipes(log_file)
        out, err = pipes.stdout, pipes.stderr
    preexec = None
    if SETPRIV is not None:
        argv = [SETPRIV, "--pdeathsig", "KILL", "--", *argv]
    else:
        preexec = die_with_parent()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=out, stderr=err, env=dict(env), cwd=cwd,
            start_new_session=True, preexec_fn=preexec,
        )
    except BaseException:
        if pipes is not None:
            pipes.abandon()
        raise
    _spawned.add(proc.pid)
    if pipes is not None:
        pipes.close_write_ends()
        pipes.start(str(proc.pid))
        _output[proc.pid] = pipes
    return proc


async def exited(proc: asyncio.subprocess.Process) -> int:
    """The exit code as soon as the process has ended. Not `proc.wait()`: on Python 3.11 it
    returns only once every pipe is closed too, and a daemon the command started in the
    background holds them (`sh -c 'sleep 600 & echo $!'`)."""
    loop = asyncio.get_running_loop()
    ended = asyncio.Event()
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        pidfd = None
    if pidfd is not None:
        loop.add_reader(pidfd, ended.set)
    try:
        while proc.returncode is None:
            if pidfd is not None and not ended.is_set():
                waiting = asyncio.ensure_future(ended.wait())
                await asyncio.wait([waiting], timeout=_EXIT_POLL_S)
                waiting.cancel()
            else:  # ended (the child watcher reaps it in a moment), or no pidfd: poll
                await asyncio.sleep(_EXIT_POLL_S / 50)
        return proc.returncode
    finally:
        if pidfd is not None:
            loop.remove_reader(pidfd)
            os.close(pidfd)


def _check_executable(argv: Sequence[str], env: Mapping[str, str], cwd: str | None) -> None:
    """Fail as exec would (FileNotFoundError) before any wrapper hides it in an exit code."""
    if not argv:
        raise FileNotFoundError(2, "empty command")
    program = argv[0]
    if "/" in program and cwd and not os.path.isabs(program):
        program = os.path.join(cwd, program)
    found = (os.access(program, os.X_OK) and not os.path.isdir(program) if "/" in program
             else shutil.which(program, path=env.get("PATH", os.defpath)) is not None)
    if not found:
        raise FileNotFoundError(2, "executable file not found", program)


async def reap(proc: asyncio.subprocess.Process) -> int:
    """Wait for the group leader, then kill whatever else is left of its group, and let its
    last output reach the log (bounded: a process that escaped the group may hold the pipe)."""
    try:
        # With a stdin pipe, proc.wait() would also wait for every holder of the pipe to go.
        code = await (exited(proc) if proc.stdin is not None else proc.wait())
        if proc.stdin is not None:
            proc.stdin.close()
        _spawned.discard(proc.pid)
        signal_group(proc.pid, signal.SIGKILL)
    finally:
        pipes = _output.pop(proc.pid, None)
        if pipes is not None:
            await pipes.drain(OUTPUT_DRAIN_S)
    return code


async def run_to_end(argv: Sequence[str], env: Mapping[str, str], timeout_s: float,
                     cwd: str | None = None, cgroup: Path | None = None,
                     wrap: Wrap | None = None) -> tuple[int | None, str]:
    """Run a command (exec probe or hook) with a deadline: (exit code or None on timeout,
    first 10 KiB of its output). The whole group is killed on timeout or cancellation; in
    `cgroup` (its container's), whatever it leaves dies with the container."""
    proc = await spawn(argv, env, None, cwd=cwd, capture=True, cgroup=cgroup, wrap=wrap)

    async def finish() -> tuple[int, bytes]:
        assert proc.stdout is not None
        kept = bytearray()
        while chunk := await proc.stdout.read(65536):
            kept += chunk[: max(0, 10240 - len(kept))]
        return await proc.wait(), bytes(kept)

    try:
        async with asyncio.timeout(timeout_s):  # not wait_for: it can swallow a cancel on 3.11
            code, output = await finish()
        return code, output.decode(errors="replace")
    except TimeoutError:
        return None, ""
    finally:
        signal_group(proc.pid, signal.SIGKILL)
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        _spawned.discard(proc.pid)


def signal_pid(pid: int, sig: int) -> bool:
    """Send `sig` to one process (the container's main process, as a runtime's stop does)."""
    try:
        os.kill(pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


async def spawn_stdio(argv: Sequence[str], env: Mapping[str, str], *, stdin: int,
                      stdout: int, stderr: int, cwd: str | None = None,
                      cgroup: Path | None = None, controlling_tty: bool = False
                      ) -> asyncio.subprocess.Process:
    """Start a process with the given stdio (pipes, or a pty's slave end) in its own session,
    in `cgroup` before it runs and with the parent-death signal, as `spawn` does: exec
    sessions (`kubelet.execsession`). With `controlling_tty`, its stdin (a pty) becomes the
    session's controlling terminal, so a shell gets job control and ^C as in a container."""
    if cgroup is not None:
        argv = in_cgroup_argv(cgroup, argv)
    preexec = None
    if controlling_tty:
        deathsig = die_with_parent()

        def preexec() -> None:
            import fcntl
            import termios
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            if deathsig is not None:
                deathsig()
    elif SETPRIV is not None:
        argv = [SETPRIV, "--pdeathsig", "KILL", "--", *argv]
    else:
        preexec = die_with_parent()
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=stdin, stdout=stdout, stderr=stderr, env=dict(env), cwd=cwd,
        start_new_session=True, preexec_fn=preexec)
    _spawned.add(proc.pid)
    return proc


def forget(pid: int) -> None:
    """A process of `spawn_stdio` was reaped by its owner."""
    _spawned.discard(pid)


def find_executable(program: str, env: Mapping[str, str], cwd: str | None,
                    root: str = "") -> bool:
    """Whether `program` can be executed, looked up as exec would (PATH of `env`), in the file
    system under `root` (a container's `/proc/PID/root` when it has its own mount namespace)."""
    if "/" in program:
        if cwd and not os.path.isabs(program):
            program = os.path.join(cwd, program)
        path = root + program if root else program
        return os.access(path, os.X_OK) and not os.path.isdir(path)
    for folder in env.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(folder or ".", program)
        path = root + candidate if root else candidate
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return True
    return False
