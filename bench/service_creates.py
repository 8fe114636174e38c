"""Service creates per second through the API, with 100, 1,000 and 10,000 Services stored.

    PYTHONPATH=src .venv/bin/python bench/service_creates.py [--rounds 7] [--batch 200]
                                                             [--sizes 100 1000 10000]

Hardening issue item 7: each Service create used to deep-copy every stored Service (to find
the ClusterIPs and NodePorts in use), so creates slowed down as Services accumulated (about
100/s falling to 12/s by 2,000 with 8 clients). The goal is a rate flat within 2x from 100 to
10,000 Services.

For each size, an in-process engine (the API server and the EndpointSlice controller, which
reacts to every Service; no proxy, which would open a listener per Service, and no kubelet) is
filled with that many Services through the store, then each round sends `--batch` creates
(`POST .../services`, JSON, as kubectl sends them) from 8 client threads in a separate
process, each on its own kept-alive HTTPS connection, and times them. The round's Services are
deleted again before the next one, so every round starts from the same size. Prints each
round, then median and spread (min-max) per size; `run()` returns rows for bench/run_all.py.
A benchmark, not a test: the figures depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import random
import secrets
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

CLIENTS = 8
NAMESPACE = "default"


def service(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}}


# ---- the client side (a separate process, so its threads do not share the engine's GIL) ----

def client_main(url: str, token: str, ca_path: str, prefix: str, count: int) -> None:
    host, port = url.removeprefix("https://").rsplit(":", 1)
    context = ssl.create_default_context(cafile=ca_path)
    path = f"/api/v1/namespaces/{NAMESPACE}/services"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def worker(index: int) -> None:
        conn = http.client.HTTPSConnection(host, int(port), context=context, timeout=120)
        try:
            for i in range(index, count, CLIENTS):
                conn.request("POST", path, json.dumps(service(f"{prefix}-{i}")), headers)
                response = conn.getresponse()
                body = response.read()
                if response.status != 201:
                    raise SystemExit(f"create failed: {response.status} {body[:200]!r}")
        finally:
            conn.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(worker, range(CLIENTS)))
    print(time.perf_counter() - started)


# ---- the engine side ---------------------------------------------------------------------------

class Engine:
    """The API server and the endpoints controller in a background thread's loop."""

    def __init__(self) -> None:
        from probelab.engine.apiserver.server import ApiServer
        from probelab.engine.controllers.endpoints import EndpointsController
        from probelab.engine.core.context import EngineConfig
        from probelab.engine.core.store import Store
        from probelab.engine.engine import build_context

        self.state_dir = Path(tempfile.mkdtemp(prefix="probelab-bench-"))
        self.token = secrets.token_urlsafe(24)
        config = EngineConfig(port=0, token=self.token, state_dir=self.state_dir, seed=7)
        self.store = Store()
        self.ctx = build_context(config, store=self.store, rng=random.Random(7))
        self.components: list[Any] = [ApiServer(), EndpointsController()]
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Engine:
        self.thread.start()
        self.run(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        shutil.rmtree(self.state_dir, ignore_errors=True)

    async def _start(self) -> None:
        for component in self.components:
            await component.start(self.ctx)

    async def _stop(self) -> None:
        for component in reversed(self.components):
            await component.stop()
        self.store.close_watchers()

    def run(self, coro: Any, timeout_s: float = 600) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def call(self, fn: Any) -> Any:
        async def wrapper() -> Any:
            return fn()
        return self.run(wrapper())

    @property
    def api(self) -> Any:
        return self.components[0]

    def count(self, resource: str) -> int:
        return self.call(lambda: len(self.store.list(resource, NAMESPACE)[0]))

    def fill(self, size: int) -> None:
        """`size` Services straight into the store (with distinct addresses), in batches so the
        controller keeps up; then wait until it has made each one's EndpointSlice."""
        def batch(start: int, stop: int) -> None:
            for i in range(start, stop):
                obj = service(f"stored-{i}")
                ip = f"127.{96 + (i >> 16) % 16}.{(i >> 8) & 255}.{i & 255}"
                obj["spec"].update({"clusterIP": ip, "clusterIPs": [ip], "type": "ClusterIP"})
                obj["metadata"]["namespace"] = NAMESPACE
                self.store.create("services", obj)
        for start in range(0, size, 500):
            self.call(lambda start=start: batch(start, min(size, start + 500)))
        self.settle(size)

    def settle(self, slices: int, timeout_s: float = 600) -> None:
        deadline = time.monotonic() + timeout_s
        while self.count("endpointslices") != slices:
            if time.monotonic() > deadline:
                raise SystemExit("the endpoints controller did not settle")
            time.sleep(0.05)

    def remove(self, prefix: str, size: int) -> None:
        def drop() -> None:
            for svc in self.store.list("services", NAMESPACE)[0]:
                if svc["metadata"]["name"].startswith(prefix):
                    self.ctx.client.delete("services", NAMESPACE, svc["metadata"]["name"])
        self.call(drop)
        self.settle(size)


def measure(size: int, rounds: int, batch: int) -> list[float]:
    rates = []
    with Engine() as engine:
        engine.fill(size)
        ca_path = str(engine.api.ca_path)
        for r in range(rounds):
            prefix = f"round{r}"
            out = subprocess.run(
                [sys.executable, __file__, "--client", engine.api.url, engine.token, ca_path,
                 prefix, str(batch)], check=True, capture_output=True, text=True)
            elapsed = float(out.stdout.strip())
            rates.append(batch / elapsed)
            print(f"  {size:>6} stored, round {r + 1}: {batch} creates in {elapsed:.2f} s = "
                  f"{batch / elapsed:.0f}/s", flush=True)
            engine.remove(prefix, size)
    return rates


def summarize(size: int, rates: list[float]) -> str:
    return (f"{size:>6} stored: median {statistics.median(rates):.0f} creates/s, "
            f"spread {min(rates):.0f}-{max(rates):.0f} over {len(rates)} rounds")


def run(rounds: int = 7, batch: int = 200, sizes: tuple[int, ...] = (100, 1000, 10000)
        ) -> list[dict[str, Any]]:
    rows = []
    medians = {}
    for size in sizes:
        rates = measure(size, rounds, batch)
        medians[size] = statistics.median(rates)
        print(summarize(size, rates), flush=True)
        rows.append({"bench": "service creates", "metric": f"creates/s with {size} Services "
                     f"(median of {rounds}, {CLIENTS} clients)", "value": medians[size],
                     "unit": "1/s"})
    if len(sizes) > 1:
        first, last = medians[sizes[0]], medians[sizes[-1]]
        rows.append({"bench": "service creates", "metric": f"{sizes[-1]} vs {sizes[0]} stored",
                     "value": last, "unit": "1/s", "baseline": f"{sizes[0]} stored",
                     "ratio": last / first})
    return rows


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        url, token, ca_path, prefix, count = sys.argv[2:7]
        client_main(url, token, ca_path, prefix, int(count))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    args = parser.parse_args()
    run(args.rounds, args.batch, tuple(args.sizes))


if __name__ == "__main__":
    main()
