"""Starts `probelab cluster up` as a child process for the demo, and always stops it.

The engine runs in its own process (and process group) so that the demo's load generator and
the engine's proxy use both cores, and so that the demo reaches it exactly like a real cluster:
through a kubeconfig context. Stopping sends SIGTERM to that PID (the engine then terminates
its pods gracefully) and SIGKILL to the group if it does not exit in time. If this process dies
first (SIGKILL, a crash), the engine sees end of file on its `--stop-with-fd` pipe and stops
the same graceful way by itself.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from probelab.errors import RuntimeFailure

CONTEXT = "probelab"


class LocalEngine:
    def __init__(self, endpoint_delay_s: float, seed: int | None,
                 images: tuple[tuple[str, str], ...] = (), prefix: str = "probelab-demo-",
                 min_sync_period_s: float = 1.0, profile: str = "kube-proxy",
                 lb_deregistration_lag_s: float = 15.0,
                 dataplane: str = "userspace", nodes: int = 1) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.kubeconfig = self._dir / "kubeconfig"
        self.log_path = self._dir / "engine.log"
        self._args = ["--endpoint-delay", str(endpoint_delay_s),
                      "--min-sync-period", str(min_sync_period_s), "--profile", profile,
                      "--lb-deregistration-lag", str(lb_deregistration_lag_s),
                      "--dataplane", dataplane, "--nodes", str(nodes)]
        if seed is not None:
            self._args += ["--seed", str(seed)]
        for image, command in images:  # `probelab cluster up --image IMAGE=COMMAND`
            self._args += ["--image", f"{image}={command}"]
        self.proc: subprocess.Popen | None = None
        self._lifeline: int | None = None  # write end of the engine's --stop-with-fd pipe

    def start(self, timeout_s: float = 30.0) -> None:
        argv = [sys.executable, "-m", "probelab", "cluster", "up", "--port", "0",
                "--kubeconfig", str(self.kubeconfig), *self._args]
        # The engine stops when the write end closes: when we stop it, or when this process
        # dies however it dies (the kernel closes the descriptor), so it never outlives us.
        # os.pipe() descriptors are not inherited: no other child holds the write end.
        read_end, self._lifeline = os.pipe()
        argv += ["--stop-with-fd", str(read_end)]
        log = self.log_path.open("wb")
        try:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         pass_fds=(read_end,))
        finally:
            log.close()
            os.close(read_end)
        deadline = time.monotonic() + timeout_s
        while not self._has_context():
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace").strip().splitlines()[-3:]
                raise RuntimeFailure("the local engine exited: " + " | ".join(tail))
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeFailure(f"the local engine did not start in {timeout_s:.0f} s")
            time.sleep(0.05)

    def _has_context(self) -> bool:
        try:
            return f"name: {CONTEXT}" in self.kubeconfig.read_text()
        except FileNotFoundError:
            return False

    def stop(self, timeout_s: float = 45.0) -> None:
        """Stop the engine (safe twice); SIGKILL its group if it overstays."""
        proc, self.proc = self.proc, None
        lifeline, self._lifeline = self._lifeline, None
        try:
            self._stop(proc, timeout_s)
        finally:
            if lifeline is not None:
                os.close(lifeline)

    @staticmethod
    def _stop(proc: subprocess.Popen | None, timeout_s: float) -> None:
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    def remove_files(self) -> None:
        """Delete the kubeconfig and log folder (after `stop`; kept when the engine still runs)."""
        if self.proc is None:
            shutil.rmtree(self._dir, ignore_errors=True)
