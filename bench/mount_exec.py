"""What a container's volume mounts cost per process start: a plain exec, the mount-namespace
wrapper with the mountPath bound in place, the wrapper that builds a root of its own (overlay of
/ + chroot, for a mountPath missing on the host), and an exec that enters a running container's
namespace (`nsenter --mount --root`, what exec probes and hooks do).

    .venv/bin/python bench/mount_exec.py [--rounds 30]

Needs root (mount namespaces); prints nothing to measure otherwise. Each figure is the median
wall time of `--rounds` runs of `sh -c 'cat FILE'` (the file at its mountPath). A benchmark, not a
test: the figures depend on the machine and on whatever else runs on it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from probelab.engine.kubelet.volumes import mounts


def timed(argv: list[str], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, timeout=60)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def measure(rounds: int) -> list[dict]:
    why_not = mounts.available()
    if why_not is not None:
        print(f"skipped: {why_not}", file=sys.stderr)
        return []
    with tempfile.TemporaryDirectory(prefix="probelab-mount-bench-") as tmp:
        root = Path(tmp)
        for name in ("vol", "here", "s1", "s2", "s3"):
            (root / name).mkdir()
        (root / "vol" / "config.yaml").write_text("v: 1\n")
        in_place = [mounts.Mount(str(root / "vol"), str(root / "here"), True)]
        missing_path = f"/probelab-bench-{time.monotonic_ns()}/app"
        own_root = [mounts.Mount(str(root / "vol"), missing_path, True)]
        rows = {
            "plain exec": timed(["sh", "-c", f"cat {root}/vol/config.yaml"], rounds),
            "namespace, bound in place": timed(mounts.wrap(
                in_place, root / "s1", ["sh", "-c", f"cat {root}/here/config.yaml"], "/"), rounds),
            "namespace, own root (overlay + chroot)": timed(mounts.wrap(
                own_root, root / "s2", ["sh", "-c", f"cat {missing_path}/config.yaml"], "/"),
                rounds),
        }
        with subprocess.Popen(mounts.wrap(own_root, root / "s3", ["sleep", "120"], "/")) as main:
            try:
                time.sleep(0.5)
                enter = mounts.enter(main.pid, "/")
                if enter is not None:
                    rows["enter a running container (nsenter)"] = timed(
                        enter(["sh", "-c", f"cat {missing_path}/config.yaml"]), rounds)
            finally:
                main.kill()
    return [{"bench": "mount exec", "metric": f"{name} (median of {rounds})", "value": value,
             "unit": "ms"} for name, value in rows.items()]


def run() -> list[dict]:
    return measure(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    for row in measure(args.rounds):
        print(f"{row['metric']}: {row['value']:.1f} {row['unit']}")


if __name__ == "__main__":
    main()
