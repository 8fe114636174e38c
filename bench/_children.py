"""Child processes of the benchmarks: each in its own process group, stopped by its PID's group
on the way out whatever happened (success, failure, Ctrl-C), SIGTERM first, SIGKILL if needed.
Shared by the bench scripts; `run_all` skips modules whose name starts with `_`."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator


@contextlib.contextmanager
def child(argv: list[str], stop_signal: int = signal.SIGTERM,  # type: ignore[no-untyped-def]
          grace_s: float = 10.0, **popen_kw) -> Iterator[subprocess.Popen]:
    """`stop_signal` to the group if the child still runs on the way out, SIGKILL after
    `grace_s` (a demo gets SIGINT and time to stop the engine it started)."""
    proc = subprocess.Popen(argv, start_new_session=True, **popen_kw)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, stop_signal)
            try:
                proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
