"""Where the time from `kubectl create` to 10 Ready pods goes, per stage and per pod.

    .venv/bin/python bench/startup_breakdown.py [--dataplane kernel|userspace] [--rounds 3]

Runs the engine of this tree under `--trace` mode: a child process that wraps a few kubelet
functions with timestamps (pod worker start, the pod's network namespace made by
`iproute.add_pod`, the container process spawned, each probe and its result, every status
write, every nftables transaction) and then runs `probelab cluster up` as usual; this script
applies the withprobes manifests like bench/engine_startup.py and prints, for each stage, the
median over the pods (and the last pod) in seconds after `kubectl create` was started. A
diagnostic, not a benchmark of record: the wrappers add a little time of their own.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import engine_startup as es


def traced_engine(out_path: str, argv: list[str]) -> None:
    """In the child: wrap the functions, then run the CLI (never returns normally)."""
    out = open(out_path, "w", buffering=1)  # noqa: SIM115 - lives as long as the process

    def mark(event: str, who: str = "") -> None:
        out.write(f"{time.monotonic():.4f} {event} {who}\n")

    from probelab.engine.kubelet import container, podworker, prober, runtime
    from probelab.engine.network import iproute, nftables
    from probelab.engine.proxy.kernel import plane

    add_pod = iproute.add_pod

    async def traced_add_pod(net, address):  # type: ignore[no-untyped-def]
        mark("netns.begin", address)
        try:
            return await add_pod(net, address)
        finally:
            mark("netns.end", address)

    iproute.add_pod = traced_add_pod
    spawn = runtime.spawn

    async def traced_spawn(*args, **kwargs):  # type: ignore[no-untyped-def]
        proc = await spawn(*args, **kwargs)
        mark("spawned", str(proc.pid))
        return proc

    runtime.spawn = traced_spawn
    run_probe = prober.run_probe

    async def traced_probe(spec, target):  # type: ignore[no-untyped-def]
        mark("probe.begin", target.pod_ip)
        outcome = await run_probe(spec, target)
        mark(f"probe.{outcome.result.value}", target.pod_ip)
        return outcome

    container.prober.run_probe = traced_probe
    nft_run = nftables.run

    def traced_nft(*args, **kwargs):  # type: ignore[no-untyped-def]
        mark("nft.begin")
        try:
            return nft_run(*args, **kwargs)
        finally:
            mark("nft.end")

    plane.nftables.run = traced_nft  # type: ignore[attr-defined]
    worker = podworker.PodWorker
    run = worker._run

    async def traced_run(self):  # type: ignore[no-untyped-def]
        mark("worker.start", self.name)
        await run(self)

    worker._run = traced_run  # type: ignore[method-assign]
    publish = worker.publish

    @functools.wraps(publish)
    def traced_publish(self):  # type: ignore[no-untyped-def]
        publish(self)
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (self.pod.get("status") or {}).get("conditions") or [])
        mark("publish.ready" if ready else "publish", f"{self.name} {self.pod_ip}")

    worker.publish = traced_publish  # type: ignore[method-assign]
    from probelab.cli import main

    sys.argv = ["probelab", *argv]
    main()


def one_round(dataplane: str) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="probelab-bench-breakdown-") as tmp:
        trace = Path(tmp) / "trace"
        real_popen = subprocess.Popen

        def popen(argv, *args, **kwargs):  # type: ignore[no-untyped-def]
            if list(argv[1:3]) == ["-m", "probelab"]:
                argv = [argv[0], __file__, "--child", str(trace), *argv[3:]]
            return real_popen(argv, *args, **kwargs)

        es.subprocess.Popen = popen  # type: ignore[misc]
        try:
            engine = es.Engine(Path(tmp), dataplane=dataplane)
        finally:
            es.subprocess.Popen = real_popen  # type: ignore[misc]
        try:
            engine.wait_ready()
            argv = [es.kubectl(), "--kubeconfig", str(engine.kubeconfig), "--context",
                    "probelab", "create", "-f", str(es.MANIFESTS)]
            t0 = time.monotonic()
            subprocess.run(argv, capture_output=True, check=True, timeout=60)
            client_done = time.monotonic() - t0
            deadline = t0 + 60
            while time.monotonic() < deadline:
                ready = {line.split()[3] for line in trace.read_text().splitlines()
                         if line.split()[1] == "publish.ready"}
                if len(ready) >= es.REPLICAS:
                    break
                time.sleep(0.05)
        finally:
            engine.stop()
        return stages(trace.read_text().splitlines(), t0, client_done)


def stages(lines: list[str], t0: float, client_done: float) -> dict[str, list[float]]:
    """First time of each stage per pod (by IP, or by name for the worker start)."""
    first: dict[str, dict[str, float]] = {}
    name_ip: dict[str, str] = {}
    spawned: list[float] = []
    nft: list[float] = []
    for line in lines:
        parts = line.split()
        t, event, who = float(parts[0]) - t0, parts[1], parts[2:]
        if t < 0:
            continue
        if event == "spawned":
            spawned.append(t)
        elif event == "nft.begin":
            nft.append(t)
        elif event in ("publish", "publish.ready") and len(who) == 2:
            name_ip[who[0]] = who[1]
            first.setdefault(who[1], {}).setdefault(event, t)
        elif event == "worker.start" or who:
            first.setdefault(who[0], {}).setdefault(event, t)
    for name, ip in name_ip.items():  # worker.start was keyed by name
        if name in first:
            first.setdefault(ip, {}).update(first.pop(name))
    out: dict[str, list[float]] = {"kubectl create returned": [client_done]}
    for stage in ("worker.start", "netns.begin", "netns.end", "probe.begin",
                  "probe.Success", "publish.ready"):
        values = sorted(p[stage] for p in first.values() if stage in p)
        if values:
            out[stage] = values
    if spawned:
        out["spawned"] = sorted(spawned)
    out["nft transactions"] = nft
    return out


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        traced_engine(sys.argv[2], sys.argv[3:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataplane", choices=("kernel", "userspace"), default="userspace")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    print(f"{args.rounds} rounds, data plane {args.dataplane}; {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f}; seconds after `kubectl create` started")
    for i in range(args.rounds):
        got = one_round(args.dataplane)
        print(f"round {i + 1}:")
        for stage, values in got.items():
            if stage == "nft transactions":
                print(f"  {stage:24s} {len(values)}")
            elif values:
                print(f"  {stage:24s} first {values[0]:.2f}  median "
                      f"{statistics.median(values):.2f}  last {values[-1]:.2f}  (n={len(values)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
