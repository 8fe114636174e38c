"""The Prometheus text exposition format, written by hand from plain numbers.

Why not prometheus-client: importing it costs about 3 MiB of the service's memory, and its
per-request `observe` (a lock and a child lookup per call) was 4 % of a request's time; the
service only needs a few counters written out at scrape time. The output is byte-for-byte what
prometheus-client 0.26 wrote for the same values (tests/test_web_metrics.py compares the two and
parses ours with prometheus-client's own parser).

Format: https://prometheus.io/docs/instrumenting/exposition_formats/ (text format 0.0.4):
`# HELP`, `# TYPE`, then `name{label="value",...} value` lines, labels sorted by name.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable

CONTENT_TYPE = b"text/plain; version=1.0.0; charset=utf-8"  # what prometheus-client 0.26 sends

Sample = tuple[str, dict[str, str], float]  # name (with suffix), labels, value


def go_float(value: float) -> str:
    """A sample value as Go (and so Prometheus) prints it: Python's repr, except that Go writes
    an exponent once there are more than 6 digits before the point (prometheus-client's
    utils.floatToGoString, which the old service used)."""
    d = float(value)
    if math.isinf(d):
        return "+Inf" if d > 0 else "-Inf"
    if math.isnan(d):
        return "NaN"
    s = repr(d)
    dot = s.find(".")
    if d > 0 and dot > 6:
        mantissa = f"{s[0]}.{s[1:dot]}{s[dot + 1:]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return s


def _label_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def family(name: str, help_text: str, kind: str, samples: Iterable[Sample]) -> str:
    """One metric family: its HELP and TYPE lines and its samples."""
    help_text = help_text.replace("\\", r"\\").replace("\n", r"\n")
    lines = [f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n"]
    for sample_name, labels, value in samples:
        if labels:
            inner = ",".join(f'{k}="{_label_value(v)}"' for k, v in sorted(labels.items()))
            lines.append(f"{sample_name}{{{inner}}} {go_float(value)}\n")
        else:
            lines.append(f"{sample_name} {go_float(value)}\n")
    return "".join(lines)


def gauge(name: str, help_text: str, value: float, labels: dict[str, str] | None = None) -> str:
    return family(name, help_text, "gauge", [(name, labels or {}, value)])


# ---- process_* (what prometheus-client's ProcessCollector exported) -------------------------
def process_families(stat: bytes, limits: bytes, open_fds: int, ticks: float, pagesize: int,
                     boot_time_s: float) -> str:
    """Memory, CPU, start time and descriptors of a process from its /proc/PID/stat and
    /proc/PID/limits (proc(5)); pure, so a test can feed it a fixed stat line."""
    parts = stat.rsplit(b")", 1)[-1].split()  # after the command name, which may hold spaces
    out = [
        gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", float(parts[20])),
        gauge("process_resident_memory_bytes", "Resident memory size in bytes.",
              float(parts[21]) * pagesize),
        gauge("process_start_time_seconds",
              "Start time of the process since unix epoch in seconds.",
              float(parts[19]) / ticks + boot_time_s),
        family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
               "counter", [("process_cpu_seconds_total", {},
                            float(parts[11]) / ticks + float(parts[12]) / ticks)]),
        gauge("process_open_fds", "Number of open file descriptors.", open_fds),
    ]
    for line in limits.splitlines():
        if line.startswith(b"Max open file"):
            out.append(gauge("process_max_fds", "Maximum number of open file descriptors.",
                             float(line.split()[3])))
            break
    return "".join(out)


def _boot_time_s() -> float:
    try:
        with open("/proc/stat", "rb") as stat:
            for line in stat:
                if line.startswith(b"btime "):
                    return float(line.split()[1])
    except OSError:
        pass
    return 0.0


class ProcessStats:
    """This process's process_* families, read at scrape time; empty where /proc is missing."""

    def __init__(self) -> None:
        self._boot_time_s = _boot_time_s()
        self._ticks = float(os.sysconf("SC_CLK_TCK"))
        self._pagesize = os.sysconf("SC_PAGE_SIZE")

    def render(self) -> str:
        if not self._boot_time_s:
            return ""
        try:
            with open("/proc/self/stat", "rb") as f:
                stat = f.read()
            with open("/proc/self/limits", "rb") as f:
                limits = f.read()
            open_fds = len(os.listdir("/proc/self/fd"))
        except OSError:
            return ""
        return process_families(stat, limits, open_fds, self._ticks, self._pagesize,
                                self._boot_time_s)
