"""An engine started for one run (`probelab demo`, `probelab test`) never outlives the run.

`scenario.local_engine.LocalEngine` passes the engine a pipe's read end (`cluster up
--stop-with-fd`) and keeps the write end; when the starting process dies, even by SIGKILL, the
kernel closes that end and the engine stops gracefully by itself. Before this, a demo killed
with SIGTERM or SIGKILL left its engine and pods running until someone ran `cluster down`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from probelab.engine.engine import PARENT_GONE, StopRequests
from support.processes import pid_alive, run_probelab, started
from support.waiting import wait_until


def test_end_of_file_on_the_lifeline_is_a_graceful_stop_request() -> None:
    async def scenario() -> tuple[str, bool]:
        read_end, write_end = os.pipe()
        os.set_blocking(read_end, False)
        requests = StopRequests(lifeline=read_end)
        loop = asyncio.get_running_loop()
        requests.install(loop)
        try:
            os.write(write_end, b"x")  # bytes are not a stop request; only end of file is
            os.close(write_end)
            await asyncio.wait_for(requests.graceful.wait(), 10)
            return requests.first_signal, requests.forced.is_set()
        finally:
            requests.uninstall(loop)
            os.close(read_end)

    assert asyncio.run(scenario()) == (PARENT_GONE, False)


PARENT = textwrap.dedent("""
    import sys, time
    from probelab.scenario.local_engine import LocalEngine

    engine = LocalEngine(0.1, None, dataplane="userspace")
    engine.start()
    print(engine.proc.pid, engine.kubeconfig, engine.log_path, flush=True)
    time.sleep(600)  # killed by the test long before
""")


def test_an_engine_stops_by_itself_when_the_program_that_started_it_is_killed() -> None:
    with started([sys.executable, "-c", PARENT]) as parent:
        assert parent.stdout is not None
        line = parent.stdout.readline().split()
        assert len(line) == 3, parent.stderr.read() if parent.stderr else line
        engine_pid, kubeconfig, log = int(line[0]), Path(line[1]), Path(line[2])
        assert pid_alive(engine_pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        wait_until(lambda: not pid_alive(engine_pid), timeout_s=60,
                   what="the engine to stop after its parent was killed")
    text = log.read_text()
    assert "the program that started the engine exited" in text, text
    assert "engine stopped" in text, text  # the graceful path: the context was removed
    assert "name: probelab" not in kubeconfig.read_text()


def test_stop_with_fd_must_be_an_open_pipe(tmp_path: Path) -> None:
    kubeconfig = str(tmp_path / "kubeconfig")
    closed = run_probelab("cluster", "up", "--kubeconfig", kubeconfig, "--stop-with-fd", "999")
    assert closed.returncode == 2, closed.stderr
    assert "--stop-with-fd 999: not an open file descriptor" in closed.stderr
    assert len(closed.stderr.strip().splitlines()) == 1, closed.stderr
    with (tmp_path / "plain").open("w") as plain:
        not_pipe = run_probelab("cluster", "up", "--kubeconfig", kubeconfig,
                                "--stop-with-fd", str(plain.fileno()),
                                pass_fds=(plain.fileno(),))
    assert not_pipe.returncode == 2, not_pipe.stderr
    assert "not a pipe or a socket" in not_pipe.stderr
    assert not Path(kubeconfig).exists()  # nothing was started


def test_a_stopped_engine_leaves_no_descriptor_behind() -> None:
    """The write end is closed on stop: a long-running program that starts engines in turn
    (the demo runs one per profile) does not accumulate pipes."""
    code = textwrap.dedent("""
        import os
        from probelab.scenario.local_engine import LocalEngine

        before = len(os.listdir("/proc/self/fd"))
        engine = LocalEngine(0.1, None, dataplane="userspace")
        engine.start()
        engine.stop()
        engine.remove_files()
        print(len(os.listdir("/proc/self/fd")) - before)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"
