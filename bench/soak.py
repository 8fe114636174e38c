"""Soak: is the demo's verdict stable? `probelab demo --repeat N`, keep-alive on and off (issue 8).

    .venv/bin/python bench/soak.py [--repeat 10] [--keepalive both|on|off] [--keep DIR]

Runs the full matrix (noprobes and withprobes × scale-down and rolling-update, the shipped
manifests, 500 req/s) N times with keep-alive on, then N times with it off, each as one
`probelab demo --repeat N --json J` in its own session (see bench/demo_duration.py, which also
stops it by PID on Ctrl-C). From the JSON's records it prints, per keep-alive setting:
  * withprobes: failed requests out of all requests, per scenario (goal: 0 of ≥ 100k, i.e.
    N = 10 at 10k requests a run);
  * noprobes: how many runs showed failures (goal: N/N, the demo's point);
  * the spread (min / median / max) of rollout durations, action to rollout complete;
  * how many withprobes runs had readiness-probe failures (`Unhealthy` Events), and for each
    withprobes run with failed requests those failures: a Service that lost its ready
    endpoints because the pods' probes failed is the product telling the truth, not the engine.
`run()` (for bench/run_all.py) uses N = 2 so that `make bench` stays short; the issue's figures
come from a standalone run. A benchmark, not a test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from demo_duration import run_demo_process

SCENARIOS = ("scale-down", "rolling-update")


def summarize(runs: list[dict]) -> dict:
    """Totals per (variant, scenario) from the demo JSON's run records."""
    out: dict = defaultdict(lambda: {"runs": 0, "requests": 0, "failed": 0, "resent": 0,
                                     "runs_failed": 0, "rollout_s": [], "runs_unready": 0,
                                     "failed_runs": []})
    for r in runs:
        s = out[(r["variant"], r["scenario"])]
        s["runs"] += 1
        s["requests"] += r["requests"]
        s["failed"] += r["failed"]
        s["resent"] += r.get("resent", 0)
        s["runs_failed"] += 1 if r["failed"] else 0
        unready = r.get("readiness_failures") or []
        s["runs_unready"] += 1 if unready else 0
        if r["failed"]:
            s["failed_runs"].append((s["runs"], r["failed"], unready))
        if r.get("action_at_s") is not None and r.get("rollout_done_at_s") is not None:
            s["rollout_s"].append(r["rollout_done_at_s"] - r["action_at_s"])
    return dict(out)


def spread(values: list[float]) -> str:
    if not values:
        return "no completed rollouts"
    return (f"{min(values):.1f} / {statistics.median(values):.1f} / {max(values):.1f} s "
            f"(min / median / max of {len(values)})")


def soak(repeat: int, keepalive: bool, quiet: bool,
         keep: Path | None = None) -> tuple[float, int, dict]:
    flag = "--keepalive" if keepalive else "--no-keepalive"
    print(f"== probelab demo --repeat {repeat} {flag}; {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f}", flush=True)
    wall, code, doc = run_demo_process(
        ["--repeat", str(repeat), flag], quiet=quiet,
        keep=None if keep is None else keep / flag.lstrip("-"))
    if doc is None:
        raise SystemExit(f"probelab demo {flag} exited {code} without writing its JSON")
    return wall, code, summarize(doc["runs"])


def report(repeat: int, keepalive: bool, wall: float, code: int, summary: dict) -> list[dict]:
    setting = "keep-alive on" if keepalive else "keep-alive off"
    bench = f"soak ×{repeat}, {setting}"
    print(f"-- {setting}: {repeat} × 4 runs in {wall:.0f} s, demo exit {code}")
    rows = []
    for scenario in SCENARIOS:
        w = summary.get(("withprobes", scenario))
        if w:
            print(f"  withprobes {scenario}: {w['failed']} failed of {w['requests']} requests "
                  f"({w['runs_failed']}/{w['runs']} runs with failures; {w['resent']} resent "
                  f"after the keep-alive race); rollout {spread(w['rollout_s'])}; "
                  f"{w['runs_unready']}/{w['runs']} runs with readiness-probe failures")
            for number, failed, unready in w["failed_runs"]:
                print(f"    run {number}: {failed} failed; readiness-probe failures: "
                      + ("; ".join(unready[:6]) + (" ..." if len(unready) > 6 else "")
                         if unready else "none"))
            rows.append({"bench": bench, "metric": f"withprobes {scenario}: failed requests",
                         "value": w["failed"], "unit": f"of {w['requests']}",
                         "baseline": "goal 0", "ratio": None})
        n = summary.get(("noprobes", scenario))
        if n:
            print(f"  noprobes {scenario}: {n['runs_failed']}/{n['runs']} runs showed failures "
                  f"({n['failed']} failed of {n['requests']}); rollout {spread(n['rollout_s'])}")
            rows.append({"bench": bench, "metric": f"noprobes {scenario}: runs with failures",
                         "value": n["runs_failed"], "unit": f"of {n['runs']} runs",
                         "baseline": f"goal {n['runs']}/{n['runs']}",
                         "ratio": round(n["runs_failed"] / n["runs"], 3)})
    for (variant, scenario), s in sorted(summary.items()):
        if s["rollout_s"]:
            rows.append({"bench": bench,
                         "metric": f"{variant} {scenario}: rollout duration, median (range "
                                   f"{min(s['rollout_s']):.1f}–{max(s['rollout_s']):.1f} s)",
                         "value": round(statistics.median(s["rollout_s"]), 1), "unit": "s",
                         "baseline": None, "ratio": None})
    return rows


def measure(repeat: int, settings: tuple[bool, ...], quiet: bool,
            keep: Path | None = None) -> list[dict]:
    """One demo per setting; a failed setting is reported as such and the other still runs."""
    results, failures = [], []
    for keepalive in settings:
        try:
            results.append((keepalive, *soak(repeat, keepalive, quiet, keep)))
        except SystemExit as exc:
            print(f"   {exc}", flush=True)
            failures.append((keepalive, str(exc)))
    rows: list[dict] = []
    print()
    for keepalive, wall, code, summary in results:
        rows += report(repeat, keepalive, wall, code, summary)
    for keepalive, why in failures:
        setting = "keep-alive on" if keepalive else "keep-alive off"
        print(f"-- {setting}: no figures: {why}")
        rows.append({"bench": f"soak ×{repeat}, {setting}", "metric": f"no figures: {why}",
                     "value": None, "unit": "", "baseline": None, "ratio": None})
    if not rows:
        raise SystemExit("; ".join(why for _, why in failures))
    return rows


def run() -> list[dict]:
    return measure(2, (True, False), quiet=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10, help="matrix repetitions per setting")
    parser.add_argument("--keepalive", choices=("both", "on", "off"), default="both")
    parser.add_argument("--verbose", action="store_true", help="show the demo's own output")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep each setting's demo JSON and HTML report under DIR")
    args = parser.parse_args()
    if not 1 <= args.repeat <= 100:
        parser.error("--repeat must be between 1 and 100")
    settings = {"both": (True, False), "on": (True,), "off": (False,)}[args.keepalive]
    measure(args.repeat, settings, quiet=not args.verbose, keep=args.keep)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
