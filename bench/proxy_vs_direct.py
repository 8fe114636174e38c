"""Requests/s through the engine's service proxy versus straight to one backend, side by side.

    .venv/bin/python bench/proxy_vs_direct.py [--backend web|python|nginx] [--duration-s 5]
        [--connections 50] [--rounds 7] [--loop auto|asyncio|uvloop]
        [--mode both|keepalive|close]

Starts one backend on a pod address (127.244.0.10): the sample service (`probelab web`), a
minimal keep-alive HTTP server on uvloop (`python`), or nginx with a private config (`nginx`,
Debian's package; `apt-get install -y nginx wrk` if missing). Starts the real `ServiceProxy` in a
child process (this script with `--serve-proxy`: a Store with one NodePort Service and one
EndpointSlice, on the chosen loop), then runs wrk against the backend and against the NodePort,
alternating, `--rounds` times each, with the same duration and connections: with keep-alive
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


def measure(backend: str, duration_s: int, connections: int, rounds: int, loop: str,
            cpus_arg: str, modes: tuple[str, ...] = ("keepalive",)
            ) -> dict[str, tuple[float, float]]:
    """Median requests/s direct and through the proxy per mode, measured alternately in one
    run (each round: direct then proxied, for each mode in turn)."""
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
        direct: dict[str, list[float]] = {m: [] for m in modes}
        proxied: dict[str, list[float]] = {m: [] for m in modes}
        for i in range(rounds):
            for mode in modes:
                direct[mode].append(wrk(f"http://{POD_IP}:{backend_port}/", duration_s,
                                        connections, cpus[2], mode))
                proxied[mode].append(wrk(f"http://127.0.0.1:{node_port}/", duration_s,
                                         connections, cpus[2], mode))
                d, q = direct[mode][-1], proxied[mode][-1]
                print(f"  round {i + 1} {mode:9}: direct {d:9.0f} req/s   "
                      f"proxied {q:9.0f} req/s   ratio {q / d:.2f}", flush=True)
        out = {}
        print(f"{'mode':10} {'direct median (min-max)':>26} {'proxied median (min-max)':>26} "
              f"{'ratio':>6}  ({rounds} rounds, goal ≥ 0.60)")
        for mode in modes:
            d, q = statistics.median(direct[mode]), statistics.median(proxied[mode])
            print(f"{mode:10} {d:10.0f} ({spread(direct[mode]):>13}) "
                  f"{q:10.0f} ({spread(proxied[mode]):>13}) {q / d:6.2f}")
            out[mode] = (d, q)
        return out


def run() -> list[dict]:
    """Rows for `bench/run_all.py`: the proxy against direct, python backend, 3 rounds, on the
    standard asyncio loop (what `probelab cluster up` runs) and on uvloop (what it could run
    if its API server's TLS allowed it)."""
    rows = []
    for loop_kind, what in (("asyncio", "asyncio loop, as in the engine"),
                            ("uvloop", "uvloop")):
        for mode, (direct, proxied) in measure("python", 5, 50, 3, loop_kind, "0,1,1",
                                               tuple(MODES)).items():
            rows += [
                {"bench": "service proxy",
                 "metric": f"requests/s direct (wrk -c50, {mode}; {loop_kind} round)",
                 "value": direct, "unit": "req/s", "baseline": None, "ratio": None},
                {"bench": "service proxy",
                 "metric": f"requests/s through NodePort ({mode}; {what})",
                 "value": proxied, "unit": "req/s", "baseline": "direct",
                 "ratio": proxied / direct},
            ]
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=["web", "python", "nginx"], default="python")
    p.add_argument("--duration-s", type=int, default=5)
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--mode", choices=["both", *MODES], default="both",
                   help="keep-alive connections, Connection: close, or both (side by side)")
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
    modes = tuple(MODES) if args.mode == "both" else (args.mode,)
    measure(args.backend, args.duration_s, args.connections, args.rounds, args.loop,
            args.cpus, modes)


if __name__ == "__main__":
    main()
