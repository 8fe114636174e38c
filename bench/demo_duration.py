"""Wall time of the full default `probelab demo` (issue 7: at most 150 s; issue 18: 100 s).

    .venv/bin/python bench/demo_duration.py [--rounds N [--src OTHER/src]] [-- EXTRA DEMO FLAGS]

With `--rounds N` the demo runs N times, and with `--src` N times more from another source tree
(say the commit before a change: `git archive REV src | tar -x -C /tmp/base`), alternating
(this tree, the other, this, ...) so that both see the same machine load; it prints each
round, then the median and range of each tree.

Runs `python -m probelab demo --report R --json J` in its own session, exactly as a user would
(default: 2 variants × 2 scenarios, 500 req/s, keep-alive on, the shipped manifests unchanged,
a local engine started and stopped by the demo), and times it from spawn to exit. The JSON gives
each run's own duration, so the rest (engine start and stop, applying, waiting for 10 ready pods,
deleting namespaces) shows as overhead. Ctrl-C or an error sends SIGINT to the demo (it stops its
engine and pods), then SIGKILL to its process group if it overstays. `run()` returns rows for
bench/run_all.py. A benchmark, not a test: the time depends on the machine and its load.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _children as children

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 100.0


def run_demo_process(flags: list[str], timeout_s: float = 3600.0, quiet: bool = False,
                     keep: Path | None = None,
                     src: Path | None = None) -> tuple[float, int, dict | None]:
    """Run `probelab demo FLAGS --json J`; return wall seconds, exit status and the JSON.
    With `keep`, the JSON and the HTML report are written there and stay (for a look at any
    failure afterwards); otherwise they go to a temporary folder."""
    env = {**os.environ, "PYTHONPATH": str(src or ROOT / "src")}
    with tempfile.TemporaryDirectory(prefix="probelab-bench-demo-") as tmp:
        out = keep if keep is not None else Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        json_path, report = out / "demo.json", out / "report.html"
        argv = [sys.executable, "-m", "probelab", "demo", *flags,
                "--report", str(report), "--json", str(json_path)]
        started = time.monotonic()
        # Interrupted or timed out: SIGINT lets the demo stop its engine, as Ctrl-C does.
        with children.child(argv, stop_signal=signal.SIGINT, grace_s=90, env=env,
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL if quiet else None) as proc:
            code = proc.wait(timeout_s)
        wall = time.monotonic() - started
        doc = json.loads(json_path.read_text()) if json_path.exists() else None
    return wall, code, doc


def rows(wall: float, code: int, doc: dict | None) -> list[dict]:
    bench = "demo duration"
    if doc is None:
        raise SystemExit(f"the demo exited {code} without writing its JSON")
    runs = doc["runs"]
    durations = [r["duration_s"] for r in runs]
    verdict = "passed" if code == 0 else f"exit {code}"
    out = [
        {"bench": bench, "metric": f"full default demo, {len(runs)} runs, wall ({verdict})",
         "value": round(wall, 1), "unit": "s", "baseline": f"goal {GOAL_S:.0f} s",
         "ratio": round(wall / GOAL_S, 3)},
        {"bench": bench, "metric": "one run under load (median)",
         "value": round(statistics.median(durations), 1), "unit": "s", "baseline": None,
         "ratio": None},
        {"bench": bench, "metric": "setup/teardown outside the runs' load",
         "value": round(wall - sum(durations), 1), "unit": "s", "baseline": None, "ratio": None},
    ]
    for r in runs:
        failed = r["failed"]
        out.append({"bench": bench,
                    "metric": f"{r['variant']} {r['scenario']}: failed / requests",
                    "value": failed, "unit": f"of {r['requests']}", "baseline": None,
                    "ratio": None})
    return out


def run() -> list[dict]:
    return rows(*run_demo_process([]))


def rounds(count: int, other: Path | None, flags: list[str]) -> None:
    """`count` demos of this tree, alternating with `count` of `other` when given."""
    trees = [ROOT / "src"] + ([other] if other else [])
    walls: dict[Path, list[float]] = {t: [] for t in trees}
    for i in range(count):
        for tree in trees:
            wall, code, doc = run_demo_process(flags, quiet=True, src=tree)
            runs = doc["runs"] if doc else []
            print(f"round {i + 1} {tree}: {wall:.1f} s, exit {code}, failed "
                  f"{[(r['variant'], r['scenario'], r['failed']) for r in runs]}", flush=True)
            walls[tree].append(wall)
    for tree, values in walls.items():
        print(f"{tree}: median {statistics.median(values):.1f} s, range {min(values):.1f}-"
              f"{max(values):.1f} s over {len(values)} rounds")


def main() -> int:
    flags = sys.argv[1:]
    count, other = 0, None
    while flags[:1] in (["--rounds"], ["--src"]):
        if flags[0] == "--rounds":
            count = int(flags[1])
        else:
            other = Path(flags[1]).resolve()
        flags = flags[2:]
    if flags[:1] == ["--"]:
        flags = flags[1:]
    print(f"probelab demo {' '.join(flags)}; {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f}", flush=True)
    if count:
        rounds(count, other, flags)
        return 0
    wall, code, doc = run_demo_process(flags)
    for r in rows(wall, code, doc):
        ratio = f"  ({r['ratio']:.2f}× {r['baseline']})" if r["ratio"] is not None else ""
        print(f"{r['metric']}: {r['value']} {r['unit']}{ratio}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
