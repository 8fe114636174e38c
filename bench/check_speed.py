"""`probelab check` speed: 1,000 manifest files, checked in process and through the CLI.

    .venv/bin/python bench/check_speed.py [--files 1000] [--rounds 7]

The files are the corpus (tests/fixtures/check/, real-world mistakes) copied round-robin into a
temporary folder, each copy in its own namespace so Services and budgets only see their own
pods. Every round times:
  * in process (wall and CPU time): read the folder, parse, locate, run every rule, attach
    YAML lines, render JSON (what `probelab check DIR --format json` does once Python runs);
  * CLI: `probelab check DIR --format json --fail-on none` as a child process, wall time,
    interpreter start and imports included.
Median and spread (min-max) over the rounds, and the time per object. kube-score and kube-linter
are Go binaries that no package registry reachable here ships (`pip download --no-deps
kube-linter` finds nothing), so there is no side-by-side ratio; the figures are absolute.
`run()` returns rows for bench/run_all.py.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from probelab.check import analyze, sources  # noqa: E402
from probelab.check.model import TimingModel  # noqa: E402
from probelab.check.output import json_out  # noqa: E402

CORPUS = ROOT / "tests" / "fixtures" / "check"


def write_files(folder: Path, count: int) -> int:
    """`count` manifest files in `folder`; returns the number of objects written."""
    fixtures = sorted(CORPUS.glob("*.yaml"))
    objects = 0
    for i in range(count):
        docs = [d for d in yaml.safe_load_all(fixtures[i % len(fixtures)].read_text()) if d]
        for doc in docs:
            for obj in doc.get("items", [doc]) if doc.get("kind") == "List" else [doc]:
                obj.setdefault("metadata", {})["namespace"] = f"ns-{i:04d}"
                objects += 1
        (folder / f"m{i:04d}.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return objects


def in_process(folder: Path) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, findings): CPU time is the steadier figure on a shared
    machine, wall time what a user waits."""
    started, cpu = time.perf_counter(), time.process_time()
    located = sources.locate(sources.read_inputs([str(folder)]))
    findings = analyze.check(located, TimingModel())
    json_out.render(findings, TimingModel())
    return time.perf_counter() - started, time.process_time() - cpu, len(findings)


def cli(folder: Path) -> float:
    probelab = Path(sys.executable).parent / "probelab"
    started = time.perf_counter()
    subprocess.run([str(probelab), "check", str(folder), "--format", "json", "--fail-on",
                    "none"], check=True, capture_output=True, timeout=600)
    return time.perf_counter() - started


def spread(values: list[float]) -> str:
    return f"{min(values):.3f}-{max(values):.3f}"


def measure(files: int, rounds: int) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="probelab-check-bench-") as tmp:
        folder = Path(tmp)
        objects = write_files(folder, files)
        inner, cpu, outer, findings = [], [], [], 0
        for _ in range(rounds):
            seconds, used, findings = in_process(folder)
            inner.append(seconds)
            cpu.append(used)
            outer.append(cli(folder))
    med_in, med_cpu, med_out = (statistics.median(v) for v in (inner, cpu, outer))
    name = "check speed"
    return [
        {"bench": name, "metric": f"{files} files, {objects} objects, {findings} findings: "
         f"in process (median of {rounds}, spread {spread(inner)} s)", "value": med_in,
         "unit": "s"},
        {"bench": name, "metric": f"in process, CPU time (median of {rounds}, spread "
         f"{spread(cpu)} s)", "value": med_cpu, "unit": "s"},
        {"bench": name, "metric": f"CLI wall, Python start included (median of {rounds}, "
         f"spread {spread(outer)} s)", "value": med_out, "unit": "s"},
        {"bench": name, "metric": "in process, CPU per object", "value": med_cpu / objects * 1e6,
         "unit": "us"},
        {"bench": name, "metric": "in process, CPU per file", "value": med_cpu / files * 1e3,
         "unit": "ms"},
    ]


def run() -> list[dict]:
    return measure(1000, 7)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    if args.rounds < 1 or args.files < 1:
        parser.error("--files and --rounds must be >= 1")
    for row in measure(args.files, args.rounds):
        print(f"{row['metric']}: {row['value']:.3f} {row['unit']}")


if __name__ == "__main__":
    main()
