"""One log line per phase of simpleweb's life, with how long the phase took.

The lines go to stderr (a pod's log), one per event, in a shape that reads well in
`kubectl logs` and greps well in tests:
    2026-11-25T22:10:03.120Z simpleweb[pod-a 1.0] shutdown: SIGTERM received (+0.000 s)
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import TextIO


class PhaseLog:
    def __init__(self, pod_name: str, app_version: str, stream: TextIO | None = None) -> None:
        self._prefix = f"simpleweb[{pod_name} {app_version}]"
        self._stream = stream

    def __call__(self, phase: str, message: str, seconds: float | None = None) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        took = "" if seconds is None else f" ({seconds:.3f} s)"
        stream = self._stream or sys.stderr
        stream.write(f"{stamp} {self._prefix} {phase}: {message}{took}\n")
        stream.flush()


class Stopwatch:
    """Seconds since it was made (or last `lap`), for the timing of each logged phase."""

    def __init__(self) -> None:
        self._start = self._lap = time.monotonic()

    def lap(self) -> float:
        now = time.monotonic()
        took, self._lap = now - self._lap, now
        return took

    def total(self) -> float:
        return time.monotonic() - self._start
