"""Requests/s through the engine's service proxy versus straight to one backend, side by side.

    .venv/bin/python bench/proxy_vs_direct.py [--backend web|python|nginx] [--duration-s 5]
        [--connections 50] [--rounds 3] [--loop auto|asyncio|uvloop]

Starts one backend on a pod address (127.244.0.10): the sample service (`probelab web`), a
minimal keep-alive HTTP server on uvloop (`python`), or nginx with a private config (`nginx`,
Debian's package; `apt-get install -y nginx wrk` if missing). Starts the real `ServiceProxy` in a
child process (this script with `--serve-proxy`: a Store with one NodePort Service and one
EndpointSlice, on the chosen loop), then runs wrk against the backend and against the NodePort,
alternating, `--rounds` times each, with the same duration and connections. Prints every run,
the medians and the ratio (the issue's goal: proxied ≥ 0.6× direct). Processes are pinned with
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


class _Http(asyncio.Protocol):
    """Answers every request head with a fixed keep-alive response (no body parsing needed)."""

    def connection_made(self, transport):
        self.transport = transport
        self.pending = b""

    def data_received(self, data):
        data = self.pending + data
        n = data.count(b"\r\n\r\n")
        self.pending = data[data.rfind(b"\r\n\r\n") + 4:] if n else data
        if n:
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
def serve_proxy(node_port: int, backend_port: int, loop_kind: str) -> None:
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
        await proxy.start(build_context(EngineConfig(endpoint_delay_s=0), store=store))
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
def wrk(url: str, duration_s: int, connections: int, cpu: str | None) -> float:
    argv = pinned(["wrk", "-t1", f"-c{connections}", f"-d{duration_s}s", url], cpu)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 30)
    match = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    if not match:
        raise SystemExit(f"wrk failed: {out.stdout}{out.stderr}")
    errors = re.search(r"Socket errors:.*|Non-2xx.*", out.stdout)
    if errors:
        print(f"    wrk: {errors.group(0)}")
    return float(match.group(1))


def measure(backend: str, duration_s: int, connections: int, rounds: int, loop: str,
            cpus_arg: str) -> tuple[float, float]:
    """Median requests/s direct and through the proxy, measured alternately in one run."""
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install -y wrk")
    cpus: list[str | None] = cpus_arg.split(",") if cpus_arg else [None, None, None]
    backend_port, node_port = free_port(POD_IP), free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")}
    with tempfile.TemporaryDirectory(prefix="probelab-bench-") as tmp, \
            child(pinned(backend_argv(backend, backend_port, Path(tmp)), cpus[0]),
                  env=env), \
            child(pinned([sys.executable, __file__, "--serve-proxy", str(node_port),
                          str(backend_port), loop], cpus[1]), env=env):
        wait_port(POD_IP, backend_port)
        wait_port("127.0.0.1", node_port)
        print(f"backend {backend} on {POD_IP}:{backend_port}, proxy NodePort {node_port}; "
              f"wrk -t1 -c{connections} -d{duration_s}s; cpus backend,proxy,wrk = "
              f"{cpus_arg or 'unpinned'}; {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
        direct, proxied = [], []
        for i in range(rounds):
            direct.append(wrk(f"http://{POD_IP}:{backend_port}/", duration_s,
                              connections, cpus[2]))
            proxied.append(wrk(f"http://127.0.0.1:{node_port}/", duration_s,
                               connections, cpus[2]))
            print(f"  round {i + 1}: direct {direct[-1]:9.0f} req/s   "
                  f"proxied {proxied[-1]:9.0f} req/s   ratio {proxied[-1] / direct[-1]:.2f}")
        d, q = statistics.median(direct), statistics.median(proxied)
        print(f"median: direct {d:.0f} req/s, proxied {q:.0f} req/s, ratio {q / d:.2f} "
              f"(goal ≥ 0.60)")
        return d, q


def run() -> list[dict]:
    """Rows for `bench/run_all.py`: the proxy against direct, python backend, 3 rounds, on the
    standard asyncio loop (what `probelab cluster up` runs) and on uvloop (what it could run
    if its API server's TLS allowed it)."""
    rows = []
    for loop_kind, what in (("asyncio", "asyncio loop, as in the engine"),
                            ("uvloop", "uvloop")):
        direct, proxied = measure("python", 5, 50, 3, loop_kind, "0,1,1")
        rows += [
            {"bench": "service proxy",
             "metric": f"requests/s direct (wrk -c50; {loop_kind} round)",
             "value": direct, "unit": "req/s", "baseline": None, "ratio": None},
            {"bench": "service proxy", "metric": f"requests/s through NodePort ({what})",
             "value": proxied, "unit": "req/s", "baseline": "direct", "ratio": proxied / direct},
        ]
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=["web", "python", "nginx"], default="python")
    p.add_argument("--duration-s", type=int, default=5)
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--loop", choices=["auto", "asyncio", "uvloop"], default="auto",
                   help="event loop of the proxy process (auto: uvloop when installed)")
    p.add_argument("--cpus", default="0,1,1",
                   help="taskset CPUs for backend,proxy,wrk ('' to leave unpinned)")
    p.add_argument("--serve-proxy", nargs=3, metavar=("NODE_PORT", "BACKEND_PORT", "LOOP"),
                   help=argparse.SUPPRESS)
    p.add_argument("--serve-backend", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve_proxy:
        serve_proxy(int(args.serve_proxy[0]), int(args.serve_proxy[1]), args.serve_proxy[2])
        return
    if args.serve_backend:
        serve_backend(args.serve_backend)
        return
    measure(args.backend, args.duration_s, args.connections, args.rounds, args.loop,
            args.cpus)


if __name__ == "__main__":
    main()
