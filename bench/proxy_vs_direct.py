"""Requests/s through the engine's service proxy versus straight to one backend, side by side.

    .venv/bin/python bench/proxy_vs_direct.py [--backend web|python|nginx] [--duration-s 5]
        [--connections 50] [--rounds 7] [--proxies before,after]
        [--mode both|keepalive|close]

Starts one backend on a pod address (127.244.0.10): the sample service (`probelab web`), a
minimal keep-alive HTTP server on uvloop (`python`), or nginx with a private config (`nginx`,
Debian's package; `apt-get install -y nginx wrk` if missing). Starts the real `ServiceProxy` in a
child process per variant (this script with `--serve-proxy`: a Store with one NodePort Service
and one EndpointSlice): `before`, the splice on the engine's asyncio loop as it was, and
`after`, the engine on asyncio with the splice in its own process on uvloop (what the engine
runs now); then runs wrk against the backend and against each NodePort, alternating,
`--rounds` times each, with the same duration and connections: with keep-alive
(many requests per connection: the splice's cost) and with `Connection: close` (one request
per connection: the accept, the connect to the pod and the teardown), one after the other in
each round. Prints every run, then per mode the median, the spread (min-max) and the ratio
proxied/direct, side by side (the issue's goal: proxied ≥ 0.6× direct). Processes are pinned with
taskset when it exists (`--cpus` backend,proxy,wrk). Every child is stopped by PID at the end.
A benchmark, not a test: numbers depend on the machine and on whatever else runs on it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _children as children

POD_IP = "127.244.0.10"
CLUSTER_IP = "127.96.0.10"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n\r\nok\n"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(host: str, port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on {host}:{port} after {timeout_s}s")


def pinned(argv: list[str], cpu: str | None) -> list[str]:
    return ["taskset", "-c", cpu, *argv] if cpu is not None and shutil.which("taskset") else argv


child = children.child


# ---- backends ------------------------------------------------------------------------------
def backend_argv(kind: str, port: int, workdir: Path) -> list[str]:
    if kind == "web":
        return [sys.executable, "-m", "probelab", "web", "--host", POD_IP, "--port", str(port),
                "--admin-port", str(free_port(POD_IP))]
    if kind == "python":
        return [sys.executable, __file__, "--serve-backend", str(port)]
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    conf = workdir / "nginx.conf"
    conf.write_text(
        f"daemon off; master_process off; worker_processes 1; pid {workdir}/nginx.pid;\n"
        f"error_log {workdir}/error.log;\nevents {{ worker_connections 4096; }}\n"
        f"http {{ access_log off; client_body_temp_path {workdir}/body;\n"
        f"  proxy_temp_path {workdir}/proxy; fastcgi_temp_path {workdir}/fcgi;\n"
        f"  uwsgi_temp_path {workdir}/uwsgi; scgi_temp_path {workdir}/scgi;\n"
        f"  keepalive_requests 1000000;\n"
        f"  server {{ listen {POD_IP}:{port}; location / {{ return 200 \"ok\\n\"; }} }} }}\n"
    )
    return [nginx, "-p", str(workdir), "-c", str(conf)]


CLOSE_RESPONSE = RESPONSE.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)


class _Http(asyncio.Protocol):
    """Answers every request head with a fixed response (no body parsing needed); a request
    with `Connection: close` gets that header back and the connection closed, as any HTTP/1.1
    server does (wrk then opens a new connection for the next request)."""

    def connection_made(self, transport):
        self.transport = transport
        self.pending = b""

    def data_received(self, data):
        data = self.pending + data
        n = data.count(b"\r\n\r\n")
        self.pending = data[data.rfind(b"\r\n\r\n") + 4:] if n else data
        if not n:
            return
        if b"connection: close" in data.lower():
            self.transport.write(CLOSE_RESPONSE)
            self.transport.close()
            return
        self.transport.write(RESPONSE * n)


def serve_backend(port: int) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Http, POD_IP, port, backlog=1024)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        server.close()
    _run(main(), "auto")


# ---- the proxy child ---------------------------------------------------------------------
def serve_proxy(node_port: int, backend_port: int, loop_kind: str, where: str) -> None:
    from probelab.engine.core.context import EngineConfig
    from probelab.engine.core.store import Store
    from probelab.engine.engine import build_context
    from probelab.engine.proxy.component import ServiceProxy

    async def main() -> None:
        store = Store()
        store.create("namespaces", {"metadata": {"name": "default"}})
        store.create("services", {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "bench", "namespace": "default"},
            "spec": {"type": "NodePort", "clusterIP": CLUSTER_IP, "ports": [
                {"name": "http", "port": free_port(CLUSTER_IP), "nodePort": node_port,
                 "protocol": "TCP"}]}})
        store.create("endpointslices", {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "bench-x", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "bench"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [POD_IP], "conditions": {"ready": True}}],
            "ports": [{"name": "http", "port": backend_port, "protocol": "TCP"}]})
        proxy = ServiceProxy()
        await proxy.start(build_context(EngineConfig(endpoint_delay_s=0, proxy_process=where),
                                        store=store))
        loop = asyncio.get_running_loop()
        print(f"proxy on {type(loop).__module__}.{type(loop).__name__}", flush=True)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await proxy.stop()
    _run(main(), loop_kind)


def _run(coro, loop_kind: str) -> None:
    factory = None
    if loop_kind in ("auto", "uvloop"):
        try:
            import uvloop
            factory = uvloop.new_event_loop
        except ImportError:
            if loop_kind == "uvloop":
                raise
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(coro)


# ---- measuring -----------------------------------------------------------------------------
MODES = {"keepalive": (), "close": ("-H", "Connection: close")}


def wrk(url: str, duration_s: int, connections: int, cpu: str | None,
        mode: str = "keepalive") -> float:
    argv = pinned(["wrk", "-t1", f"-c{connections}", f"-d{duration_s}s", *MODES[mode], url],
                  cpu)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 30)
    match = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    if not match:
        raise SystemExit(f"wrk failed: {out.stdout}{out.stderr}")
    errors = re.search(r"Socket errors:.*|Non-2xx.*", out.stdout)
    if errors:
        print(f"    wrk: {errors.group(0)}")
    return float(match.group(1))


def spread(values: list[float]) -> str:
    return f"{min(values):.0f}-{max(values):.0f}"


# The proxy variants a run can put side by side: label -> (engine loop, where it splices).
PROXIES = {
    "before": ("asyncio", "engine"),  # the splice on the engine's own asyncio loop
    "after": ("asyncio", "child"),  # the engine on asyncio, the splice in its process on uvloop
    "uvloop-engine": ("uvloop", "engine"),  # the old layout with the whole engine on uvloop
}


def measure(backend: str, duration_s: int, connections: int, rounds: int,
            proxies: tuple[str, ...], cpus_arg: str, modes: tuple[str, ...] = ("keepalive",)
            ) -> dict[str, dict[str, float]]:
    """Median requests/s direct and through each proxy variant per mode, measured alternately
    in one run (each round, for each mode: direct, then every proxy in turn)."""
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install -y wrk")
    cpus: list[str | None] = cpus_arg.split(",") if cpus_arg else [None, None, None]
    backend_port = free_port(POD_IP)
    node_ports = {name: free_port() for name in proxies}
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")}
    with contextlib.ExitStack() as stack, \
            tempfile.TemporaryDirectory(prefix="probelab-bench-") as tmp:
        stack.enter_context(child(pinned(backend_argv(backend, backend_port, Path(tmp)),
                                         cpus[0]), env=env))
        for name in proxies:  # the splicer child inherits the pinning of its engine
            loop, where = PROXIES[name]
            stack.enter_context(child(pinned(
                [sys.executable, __file__, "--serve-proxy", str(node_ports[name]),
                 str(backend_port), loop, where], cpus[1]), env=env))
        wait_port(POD_IP, backend_port)
        for port in node_ports.values():
            wait_port("127.0.0.1", port)
        print(f"backend {backend} on {POD_IP}:{backend_port}, proxies {node_ports}; "
              f"wrk -t1 -c{connections} -d{duration_s}s; cpus backend,proxy,wrk = "
              f"{cpus_arg or 'unpinned'}; {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
        runs: dict[str, dict[str, list[float]]] = {
            m: {k: [] for k in ("direct", *proxies)} for m in modes}
        for i in range(rounds):
            for mode in modes:
                got = runs[mode]
                got["direct"].append(wrk(f"http://{POD_IP}:{backend_port}/", duration_s,
                                         connections, cpus[2], mode))
                for name in proxies:
                    got[name].append(wrk(f"http://127.0.0.1:{node_ports[name]}/", duration_s,
                                         connections, cpus[2], mode))
                d = got["direct"][-1]
                print(f"  round {i + 1} {mode:9}: direct {d:9.0f} req/s   " + "   ".join(
                    f"{name} {got[name][-1]:9.0f} ({got[name][-1] / d:.2f})"
                    for name in proxies), flush=True)
        out: dict[str, dict[str, float]] = {}
        print(f"{rounds} rounds; median req/s (min-max), ratio to direct"
              + (f"; {proxies[-1]}/{proxies[0]}" if len(proxies) > 1 else ""))
        for mode in modes:
            got = runs[mode]
            med = {k: statistics.median(v) for k, v in got.items()}
            cells = [f"direct {med['direct']:8.0f} ({spread(got['direct'])})"]
            cells += [f"{name} {med[name]:8.0f} ({spread(got[name])}) "
                      f"{med[name] / med['direct']:.2f}x" for name in proxies]
            if len(proxies) > 1:
                gain = [a / b for a, b in zip(got[proxies[-1]], got[proxies[0]], strict=True)]
                cells.append(f"{proxies[-1]}/{proxies[0]} {med[proxies[-1]] / med[proxies[0]]:.2f}"
                             f" (per round {min(gain):.2f}-{max(gain):.2f})")
            print(f"{mode:10} " + " | ".join(cells))
            out[mode] = med
        return out


def run() -> list[dict]:
    """Rows for `bench/run_all.py`: direct, the splice on the engine's asyncio loop (before),
    and the splice in its own process on uvloop (after, what the engine runs), python backend,
    3 rounds."""
    rows = []
    results = measure("python", 5, 50, 3, ("before", "after"), "0,1,1", tuple(MODES))
    for mode, med in results.items():
        rows.append({"bench": "service proxy",
                     "metric": f"requests/s direct (wrk -c50, {mode})",
                     "value": med["direct"], "unit": "req/s", "baseline": None, "ratio": None})
        for name, what in (("before", "splice on the engine's asyncio loop"),
                           ("after", "splice in its own process on uvloop")):
            rows.append({"bench": "service proxy",
                         "metric": f"requests/s through NodePort ({mode}; {what})",
                         "value": med[name], "unit": "req/s", "baseline": "direct",
                         "ratio": med[name] / med["direct"]})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=["web", "python", "nginx"], default="python")
    p.add_argument("--duration-s", type=int, default=5)
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--mode", choices=["both", *MODES], default="both",
                   help="keep-alive connections, Connection: close, or both (side by side)")
    p.add_argument("--proxies", default="before,after",
                   help="proxy variants side by side, from " + ", ".join(PROXIES)
                   + " (before: the splice on the engine's asyncio loop; after: in its own "
                   "process on uvloop)")
    p.add_argument("--cpus", default="0,1,1",
                   help="taskset CPUs for backend,proxy,wrk ('' to leave unpinned)")
    p.add_argument("--serve-proxy", nargs=4,
                   metavar=("NODE_PORT", "BACKEND_PORT", "LOOP", "WHERE"),
                   help=argparse.SUPPRESS)
    p.add_argument("--serve-backend", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve_proxy:
        serve_proxy(int(args.serve_proxy[0]), int(args.serve_proxy[1]), args.serve_proxy[2],
                    args.serve_proxy[3])
        return
    if args.serve_backend:
        serve_backend(args.serve_backend)
        return
    modes = tuple(MODES) if args.mode == "both" else (args.mode,)
    proxies = tuple(p for p in args.proxies.split(",") if p)
    unknown = [p for p in proxies if p not in PROXIES]
    if unknown or not proxies:
        raise SystemExit(f"unknown proxy variant {', '.join(unknown) or '(none)'}: "
                         f"pick from {', '.join(PROXIES)}")
    measure(args.backend, args.duration_s, args.connections, args.rounds, proxies,
            args.cpus, modes)


if __name__ == "__main__":
    main()
