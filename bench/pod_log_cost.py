"""What per-line log timestamps cost the engine: its kubelet now reads each container's output
from pipes and writes CRI log records (`engine/kubelet/containerlog.py`), and `pods/log` parses
them back (`engine/core/podlogs.py`).

    .venv/bin/python bench/pod_log_cost.py [--lines 1000000] [--rounds 3]

  * write: a real child process (`yes … | head -n LINES`, ~60-byte lines) writes into the
    kubelet's pipes; the engine CPU time (this process) until every record is on disk, as lines
    per CPU-second;
  * serve: `pods/log`'s parse and render of that file (what `kubectl logs` costs the engine),
    as MB of file per CPU-second, plain and with `--timestamps --since-time`.
Medians of the rounds. A benchmark, not a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from probelab.engine.core import podlogs
from probelab.engine.kubelet.containerlog import OutputPipes

LINE = "a line of about sixty bytes of container output, as apps print"


async def _write(path: Path, lines: int) -> float:
    pipes = OutputPipes(path)
    cpu = time.process_time()
    proc = await asyncio.create_subprocess_exec(
        "sh", "-c", f"yes '{LINE}' | head -n {lines}", stdout=pipes.stdout, stderr=pipes.stderr)
    pipes.close_write_ends()
    pipes.start("bench")
    await proc.wait()
    await pipes.drain(120)
    return time.process_time() - cpu


def _serve(path: Path, options: podlogs.LogOptions) -> float:
    size = path.stat().st_size
    cpu = time.process_time()
    with path.open("rb") as f:
        for lines, _ in podlogs.read_lines(f, 0, size, final=True):
            podlogs.render_lines(lines, options)
    return time.process_time() - cpu


def run(lines: int = 1_000_000, rounds: int = 3) -> list[dict[str, Any]]:
    writes, plain, stamped = [], [], []
    with tempfile.TemporaryDirectory(prefix="probelab-logbench-") as tmp:
        for n in range(rounds):
            path = Path(tmp) / f"{n}.log"
            writes.append(lines / asyncio.run(_write(path, lines)))
            mb = path.stat().st_size / 1e6
            plain.append(mb / _serve(path, podlogs.LogOptions()))
            stamped.append(mb / _serve(path, podlogs.LogOptions(timestamps=True, since_ns=1)))
            path.unlink()
    rows = [
        {"bench": "pod logs", "metric": f"kubelet writes CRI records ({lines} lines, median "
         f"of {rounds})", "value": statistics.median(writes), "unit": "lines/CPU-s"},
        {"bench": "pod logs", "metric": "pods/log parses and serves", "unit": "MB/CPU-s",
         "value": statistics.median(plain)},
        {"bench": "pod logs", "metric": "pods/log with --timestamps --since-time",
         "unit": "MB/CPU-s", "value": statistics.median(stamped)},
    ]
    for row in rows:
        print(f"{row['metric']}: {row['value']:,.0f} {row['unit']}", flush=True)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    run(args.lines, args.rounds)
