"""Runs every benchmark in `bench/` in one go and prints one table of side-by-side figures.

    .venv/bin/python bench/run_all.py [--only NAME ...] [--no-save]

A benchmark is a module `bench/NAME.py` with `run() -> list[dict]`; each row has `bench`,
`metric`, `value`, `unit`, and optionally `baseline` (the row it is compared with) and `ratio`.
Ratios are measured inside one benchmark run, side by side, so they compare like with like on
whatever the machine is doing at that moment; absolute numbers are for orientation only.
A benchmark that cannot run here (a missing tool, say) is listed as skipped with its reason.
The table is also written to `bench/RESULTS.md` with a description of the machine.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import platform
import sys
import time
import traceback
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))


def discover() -> list[Path]:
    skip = ("run_all", "_")
    return sorted(p for p in HERE.glob("*.py") if not p.stem.startswith(skip))


def load_run(path: Path):
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, "run", None)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (f"{os.cpu_count()} cores ({cpu}){mem}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return ""
    return f"{value:,.{digits}f}" if abs(value) < 1e6 else f"{value:,.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="benchmark module names to run")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/RESULTS.md")
    args = parser.parse_args()
    console = Console()
    rows: list[dict] = []
    skipped: list[tuple[str, str]] = []
    for path in discover():
        if args.only and path.stem not in args.only:
            continue
        console.rule(f"[bold]{path.stem}")
        started = time.monotonic()
        try:
            run = load_run(path)
            if run is None:
                skipped.append((path.stem, "no run() function"))
                continue
            got = run()
        except KeyboardInterrupt:
            console.print("interrupted")
            return 130
        except SystemExit as exc:
            skipped.append((path.stem, str(exc.code)))
            continue
        except Exception as exc:  # a broken benchmark must not hide the others
            traceback.print_exc()
            skipped.append((path.stem, f"{type(exc).__name__}: {exc}"))
            continue
        console.print(f"{path.stem}: {len(got)} rows in {time.monotonic() - started:.0f} s")
        rows.extend(got)

    table = Table(title="probelab benchmarks (one run, ratios side by side)")
    for col in ("bench", "metric", "value", "unit", "vs", "ratio"):
        table.add_column(col, justify="right" if col in ("value", "ratio") else "left")
    for r in rows:
        ratio = r.get("ratio")
        table.add_row(r["bench"], r["metric"], fmt(r["value"]), r["unit"], r.get("baseline") or "",
                      f"{ratio:.2f}×" if ratio is not None else "")
    console.print(table)
    for name, why in skipped:
        console.print(f"[yellow]skipped {name}: {why}")

    if not args.no_save and not args.only:
        when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines = ["# Benchmark results", "", f"Last `make bench`: {when}, on {machine()}.", "",
                 "Ratios compare figures measured side by side in the same run; absolute values "
                 "depend on the machine and its load. The soak runs here with N = 2 per "
                 "keep-alive setting to keep `make bench` short; the issue's N = 10 soak "
                 "(`bench/soak.py --repeat 10`, about 50 minutes) and its figures are in "
                 "docs/bench.md.", "",
                 "| bench | metric | value | unit | vs | ratio |", "|---|---|---:|---|---|---:|"]
        for r in rows:
            ratio = r.get("ratio")
            lines.append(f"| {r['bench']} | {r['metric']} | {fmt(r['value'])} | {r['unit']} | "
                         f"{r.get('baseline') or ''} | "
                         f"{f'{ratio:.2f}×' if ratio is not None else ''} |")
        for name, why in skipped:
            lines.append(f"\nSkipped `{name}`: {why}")
        (HERE / "RESULTS.md").write_text("\n".join(lines) + "\n")
        console.print(f"saved {HERE / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
