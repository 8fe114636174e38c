"""noprobes failures by class, per data plane and per profile, with the withprobes check, in one
run (the kernel-mode demo issue: which failures a user sees in each mode).

    .venv/bin/python bench/noprobes_by_plane.py [--rounds N] [--scenario SCENARIO]

(SCENARIO: scale-down, the default; rolling-update; all.)

Each round runs `probelab demo --scenario S` (both variants) once per configuration, in the same
order every round so that all configurations alternate through the machine's load:

  userspace/kube-proxy   --dataplane userspace (the demo's default)
  kernel/kube-proxy      --dataplane kernel (skipped, saying why, where netns/nftables are not
                         allowed)
  userspace/ingress-nginx, userspace/cloud-lb   --profile (a profile needs the userspace plane)

and records each noprobes run's failures by class (refused, reset, closed, unreachable, timeout,
5xx, ...) and each withprobes run's failure count (expected 0). It prints every round, then the
median and range of each count per configuration. `run()` returns the rows for bench/run_all.py
(default 7 rounds). A benchmark, not a test: the counts depend on timing and machine load.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from demo_duration import run_demo_process

from probelab.engine.network import choice

CONFIGS: dict[str, list[str]] = {
    "userspace/kube-proxy": ["--dataplane", "userspace"],
    "kernel/kube-proxy": ["--dataplane", "kernel"],
    "userspace/ingress-nginx": ["--dataplane", "userspace", "--profile", "ingress-nginx"],
    "userspace/cloud-lb": ["--dataplane", "userspace", "--profile", "cloud-lb"],
}
CLASSES = ("refused", "reset", "closed", "unreachable", "timeout", "http_5xx", "other")


def kernel_skip_reason() -> str | None:
    decided = choice.decide(choice.KERNEL, choice.facts())
    return decided.reason if decided.error else None


def one(config: str, scenario: str) -> dict[str, dict]:
    """(variant, scenario) → {"failed": n, "totals": {class: n}} for one demo of `config`."""
    _, code, doc = run_demo_process([*CONFIGS[config], "--scenario", scenario], quiet=True)
    if doc is None:
        raise SystemExit(f"{config}: the demo exited {code} without writing its JSON")
    return {f"{r['variant']} {r['scenario']}": {"failed": r["failed"], "totals": r["totals"]}
            for r in doc["runs"]}


def failed_by_class(run: dict) -> dict[str, int]:
    return dict(sorted((k, v) for k, v in run["totals"].items() if k != "ok"))


def measure(rounds: int, scenario: str) -> dict[str, list[dict[str, dict]]]:
    skip = kernel_skip_reason()
    configs = [c for c in CONFIGS if not (c.startswith("kernel") and skip)]
    if skip:
        print(f"kernel/kube-proxy skipped: {skip}", flush=True)
    seen: dict[str, list[dict[str, dict]]] = {c: [] for c in configs}
    for i in range(rounds):
        for config in configs:
            runs = one(config, scenario)
            seen[config].append(runs)
            brief = "; ".join(f"{name}: {r['failed']} {failed_by_class(r)}"
                              for name, r in sorted(runs.items()))
            print(f"round {i + 1} {config}: {brief}", flush=True)
    return seen


def rows(seen: dict[str, list[dict[str, dict]]]) -> list[dict]:
    out = []
    for config, rounds in seen.items():
        names = sorted({n for r in rounds for n in r})
        for name in names:
            got = [r[name] for r in rounds if name in r]
            classes = [c for c in CLASSES if any(g["totals"].get(c) for g in got)]
            for cls in (classes if name.startswith("noprobes") else []) + ["failed"]:
                values = [g["failed"] if cls == "failed" else g["totals"].get(cls, 0)
                          for g in got]
                out.append({"bench": "noprobes by plane",
                            "metric": f"{config} {name}: {cls} (median, range "
                                      f"{min(values)}-{max(values)}, n={len(values)})",
                            "value": statistics.median(values), "unit": "requests",
                            "baseline": None, "ratio": None})
    return out


def run() -> list[dict]:
    return rows(measure(7, "scale-down"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--scenario", default="scale-down",
                        choices=("scale-down", "rolling-update", "all"))
    args = parser.parse_args()
    for r in rows(measure(args.rounds, args.scenario)):
        print(f"{r['metric']}: {r['value']} {r['unit']}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
