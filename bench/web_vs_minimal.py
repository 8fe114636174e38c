"""Requests/s of the sample service next to a minimal aiohttp app and nginx, same body size.

    .venv/bin/python bench/web_vs_minimal.py [--duration-s 3] [--connections 50] [--rounds 3]

What simpleweb's extras cost (stats page rendering, counters, Prometheus metrics, identity
headers, the drain hook): `probelab web` serves `GET /`; a minimal aiohttp app (this script with
`--serve-minimal`) answers a fixed body of the same length; nginx (Debian's package, if installed)
does the same with `return 200`. Each server runs on its own, wrk (`-t1`) measures them in turn,
`--rounds` times, and the medians are compared. Servers and wrk are pinned to different CPUs when
`taskset` exists. Every child is stopped by PID at the end. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _children as children

HOST = "127.0.0.1"
SRC = Path(__file__).resolve().parent.parent / "src"
SERVER_CPU, WRK_CPU = "0", "1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def pinned(argv: list[str], cpu: str) -> list[str]:
    many = (os.cpu_count() or 1) > 1
    return ["taskset", "-c", cpu, *argv] if many and shutil.which("taskset") else argv


def wait_http(port: int, timeout_s: float = 20) -> bytes:
    """The body of GET / once the server answers it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 1) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            if data.startswith(b"HTTP/1.1 200"):
                return data.partition(b"\r\n\r\n")[2]
        time.sleep(0.05)
    raise SystemExit(f"nothing answers on {HOST}:{port}")


def child(argv: list[str]):  # type: ignore[no-untyped-def]
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return children.child(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def serve_minimal(port: int, body_len: int) -> None:
    """The baseline: aiohttp with one handler and nothing else."""
    from aiohttp import web

    body = b"x" * (body_len - 1) + b"\n"

    async def index(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/", index)
    web.run_app(app, host=HOST, port=port, access_log=None, print=None)


def nginx_argv(port: int, body_len: int, workdir: Path) -> list[str] | None:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                      else None)
    if nginx is None:
        return None
    body = "x" * (body_len - 1) + "\\n"
    (workdir / "nginx.conf").write_text(
        f"daemon off; master_process off; worker_processes 1; pid {workdir}/nginx.pid;\n"
        f"error_log {workdir}/error.log;\nevents {{ worker_connections 4096; }}\n"
        f"http {{ access_log off; client_body_temp_path {workdir}/body;\n"
        f"  proxy_temp_path {workdir}/proxy; fastcgi_temp_path {workdir}/fcgi;\n"
        f"  uwsgi_temp_path {workdir}/uwsgi; scgi_temp_path {workdir}/scgi;\n"
        f"  keepalive_requests 1000000; default_type text/plain;\n"
        f"  server {{ listen {HOST}:{port}; location / {{ return 200 \"{body}\"; }} }} }}\n")
    return [nginx, "-p", str(workdir), "-c", str(workdir / "nginx.conf")]


def wrk(port: int, duration_s: int, connections: int) -> float:
    argv = pinned(["wrk", "-t1", f"-c{connections}", f"-d{duration_s}s",
                   f"http://{HOST}:{port}/"], WRK_CPU)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 30)
    match = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    if not match:
        raise SystemExit(f"wrk failed: {out.stdout}{out.stderr}")
    return float(match.group(1))


def measure(duration_s: int, connections: int, rounds: int) -> dict[str, float]:
    """Median requests/s per server; servers run one at a time so they do not share the CPU."""
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install -y wrk")
    port = free_port()
    web_argv = [sys.executable, "-m", "probelab", "web", "--host", HOST, "--port", str(port),
                "--admin-port", str(free_port())]
    with child(pinned(web_argv, SERVER_CPU)):
        body_len = len(wait_http(port))
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="probelab-bench-") as tmp:
        servers = {
            "probelab web": web_argv,
            "minimal aiohttp": [sys.executable, __file__, "--serve-minimal", str(port),
                                str(body_len)],
            "nginx": nginx_argv(port, body_len, Path(tmp)),
        }
        for _ in range(rounds):
            for name, argv in servers.items():
                if argv is None:
                    continue
                with child(pinned(argv, SERVER_CPU)):
                    wait_http(port)
                    results.setdefault(name, []).append(wrk(port, duration_s, connections))
    return {name: statistics.median(values) for name, values in results.items()}


def run(duration_s: int = 3, connections: int = 50, rounds: int = 3) -> list[dict]:
    """Baselines first (no ratio), then probelab web against each (ratio = web / baseline)."""
    medians = measure(duration_s, connections, rounds)
    web = medians.pop("probelab web")
    bench = "sample service"
    rows = [{"bench": bench, "metric": f"requests/s {name}, same body (wrk -c{connections})",
             "value": round(value), "unit": "req/s", "baseline": None, "ratio": None}
            for name, value in medians.items()]
    rows += [{"bench": bench, "metric": f"requests/s probelab web GET / (wrk -c{connections})",
              "value": round(web), "unit": "req/s", "baseline": name,
              "ratio": round(web / value, 3)} for name, value in medians.items()]
    return rows


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-minimal":
        serve_minimal(int(sys.argv[2]), int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration-s", type=int, default=3, choices=range(1, 61),
                        metavar="1-60")
    parser.add_argument("--connections", type=int, default=50, choices=range(1, 1001),
                        metavar="1-1000")
    parser.add_argument("--rounds", type=int, default=3, choices=range(1, 21), metavar="1-20")
    args = parser.parse_args()
    for row in run(args.duration_s, args.connections, args.rounds):
        ratio = f"  ({row['ratio']:.2f}x {row['baseline']})" if row["ratio"] is not None else ""
        print(f"{row['bench']}: {row['metric']}: {row['value']:g} {row['unit']}{ratio}")


if __name__ == "__main__":
    main()
