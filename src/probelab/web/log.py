"""One log line per phase of simpleweb's life, with how long the phase took.

The lines go to stderr (a pod's log), one per event, in a shape that reads well in
`kubectl logs` and greps well in tests (`simpleweb[pod version]` shortened to `[w 1.0]` here):
    2026-11-25T22:10:03.120Z [w 1.0] +12.004s shutdown: drain delay of 2 s over (2.001 s)
`+12.004s` is the time since the process started; the figure in brackets, when present, is how
long that phase took.
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
        self._start = time.monotonic()

    def __call__(self, phase: str, message: str, seconds: float | None = None) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        took = "" if seconds is None else f" ({seconds:.3f} s)"
        stream = self._stream or sys.stderr
        since = time.monotonic() - self._start
        stream.write(f"{stamp} {self._prefix} +{since:.3f}s {phase}: {message}{took}\n")
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
