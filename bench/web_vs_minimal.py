"""Requests/s of the sample service next to nginx, a minimal aiohttp app and (optionally) uvicorn.

    .venv/bin/python bench/web_vs_minimal.py [--duration-s 3] [--connections 50] [--rounds 7]
        [--old-src DIR] [--uvicorn] [--no-install]

What simpleweb costs next to the fastest server there is (nginx, Debian's package, one worker,
`return 200` with a body of the same length: the goal is at least 0.4x of it) and next to a
minimal aiohttp app with one handler and the same body (this script with `--serve-minimal`).
`--old-src DIR` adds another probelab source tree as a contestant, e.g. the aiohttp-based
service from before (`git archive 69b8092 src | tar -x -C /tmp/old`, then `--old-src
/tmp/old/src`). `--uvicorn` adds uvicorn under a bare ASGI app with the same body (installed
with pip into a scratch directory on first use; not a dependency of probelab).

Each server runs alone, pinned to CPU 0 with taskset; wrk (`-t1`) runs on CPU 1. Every round
runs every server once, in turn, so a burst of load from elsewhere hits all of them; medians
and the spread (min-max) over `--rounds` are printed, and the median of the per-round ratios;
the same for the server's CPU time per request (from /proc), steadier on a busy machine.
wrk and nginx are installed with apt-get when missing (as root, unless `--no-install`). Every
child is stopped by PID at the end. A benchmark, not a test.
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
from load_vs_wrk import ensure_tools

HOST = "127.0.0.1"
SRC = Path(__file__).resolve().parent.parent / "src"
SERVER_CPU, WRK_CPU = "0", "1"
UVICORN_DIR = Path(tempfile.gettempdir()) / "probelab-bench-uvicorn"


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


def child(argv: list[str], path: str = str(SRC)):  # type: ignore[no-untyped-def]
    env = {**os.environ, "PYTHONPATH": path}
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


def serve_uvicorn(port: int, body_len: int) -> None:
    """uvicorn (httptools + uvloop) under a bare ASGI app: the well-kept server's ceiling."""
    import uvicorn

    body = b"x" * (body_len - 1) + b"\n"
    start = {"type": "http.response.start", "status": 200,
             "headers": [(b"content-type", b"text/plain; charset=utf-8")]}
    done = {"type": "http.response.body", "body": body}

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        await send(start)
        await send(done)

    uvicorn.run(app, host=HOST, port=port, loop="uvloop", http="httptools", log_level="error",
                access_log=False, lifespan="off")


def ensure_uvicorn() -> None:
    """pip install uvicorn into a scratch directory once (not into the project's venv)."""
    if (UVICORN_DIR / "uvicorn").is_dir():
        return
    print(f"installing uvicorn into {UVICORN_DIR} ...", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target",
                    str(UVICORN_DIR), "uvicorn"], check=True, timeout=600)


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


def wrk(port: int, duration_s: int, connections: int) -> tuple[float, int]:
    """Requests/s and the number of requests answered."""
    argv = pinned(["wrk", "-t1", f"-c{connections}", f"-d{duration_s}s",
                   f"http://{HOST}:{port}/"], WRK_CPU)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 30)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    count = re.search(r"(\d+) requests in", out.stdout)
    if not rate or not count:
        raise SystemExit(f"wrk failed: {out.stdout}{out.stderr}")
    return float(rate.group(1)), int(count.group(1))


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (proc(5), fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(duration_s: int, connections: int, rounds: int, old_src: str | None = None,
            uvicorn: bool = False) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Requests/s and server CPU microseconds per request, per server and round. Servers run one
    at a time so they do not share the CPU, and every round runs each of them once
    (alternating), so noise spreads over all. CPU time per request is the steadier figure on a
    busy machine: time the server waits for its core does not count in it."""
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install -y wrk (or run as root without "
                         "--no-install)")
    port = free_port()
    web_argv = [sys.executable, "-m", "probelab", "web", "--host", HOST, "--port", str(port),
                "--admin-port", str(free_port())]
    with child(pinned(web_argv, SERVER_CPU)):
        body_len = len(wait_http(port))
    same_body = [str(port), str(body_len)]
    results: dict[str, list[float]] = {}
    cpu_us: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="probelab-bench-") as tmp:
        servers: dict[str, tuple[list[str] | None, str]] = {
            "probelab web": (web_argv, str(SRC)),
            "minimal aiohttp": ([sys.executable, __file__, "--serve-minimal", *same_body],
                                str(SRC)),
            "nginx": (nginx_argv(port, body_len, Path(tmp)), str(SRC)),
        }
        if old_src is not None:
            servers["old probelab web"] = (web_argv, old_src)
        if uvicorn:
            ensure_uvicorn()
            servers["uvicorn bare ASGI"] = (
                [sys.executable, __file__, "--serve-uvicorn", *same_body], str(UVICORN_DIR))
        for _ in range(rounds):
            for name, (argv, path) in servers.items():
                if argv is None:
                    continue
                with child(pinned(argv, SERVER_CPU), path) as proc:
                    wait_http(port)
                    before = cpu_s(proc.pid)  # taskset execs the server: same PID
                    rate, count = wrk(port, duration_s, connections)
                    used = cpu_s(proc.pid) - before
                results.setdefault(name, []).append(rate)
                cpu_us.setdefault(name, []).append(used / max(count, 1) * 1e6)
    return results, cpu_us


def spread(values: list[float], digits: int = 0) -> str:
    return f"{min(values):.{digits}f}-{max(values):.{digits}f}"


def run(duration_s: int = 3, connections: int = 50, rounds: int = 7,
        old_src: str | None = None, uvicorn: bool = False, install: bool = True) -> list[dict]:
    """Baselines first (no ratio), then probelab web against each. The ratio is the median of
    the per-round ratios: both figures of a round were taken a few seconds apart, so on a busy
    machine they share its load far better than two medians over the whole run do."""
    ensure_tools(install, want_locust=False)
    results, cpu_us = measure(duration_s, connections, rounds, old_src, uvicorn)
    web = results.pop("probelab web")
    web_cpu = cpu_us.pop("probelab web")
    bench = "sample service"
    how = f"wrk -c{connections}, {rounds} rounds"
    rows = [{"bench": bench,
             "metric": f"requests/s {name}{'' if 'probelab' in name else ', same body'} "
                       f"({how}, median, min-max {spread(v)})",
             "value": round(statistics.median(v)), "unit": "req/s", "baseline": None,
             "ratio": None} for name, v in results.items()]
    rows.append({"bench": bench,
                 "metric": f"requests/s probelab web GET / ({how}, median, min-max "
                           f"{spread(web)})",
                 "value": round(statistics.median(web)), "unit": "req/s", "baseline": None,
                 "ratio": None})
    for name, values in results.items():
        ratios = [w / b for w, b in zip(web, values, strict=True)]
        rows.append({"bench": bench,
                     "metric": f"probelab web / {name}, per-round ratio ({how}, median, "
                               f"min-max {spread(ratios, 2)})",
                     "value": round(statistics.median(ratios), 3), "unit": "x",
                     "baseline": name, "ratio": round(statistics.median(ratios), 3)})
    for name, values in {"probelab web": web_cpu, **cpu_us}.items():
        rows.append({"bench": bench,
                     "metric": f"server CPU per request, {name} ({how}, median, min-max "
                               f"{spread(values, 1)})",
                     "value": round(statistics.median(values), 1), "unit": "us",
                     "baseline": None, "ratio": None})
    for name, values in cpu_us.items():
        ratios = [b / w for w, b in zip(web_cpu, values, strict=True)]
        rows.append({"bench": bench,
                     "metric": f"probelab web / {name}, requests per CPU second (= req/s on "
                               f"a whole core), per-round ratio ({how}, median, min-max "
                               f"{spread(ratios, 2)})",
                     "value": round(statistics.median(ratios), 3), "unit": "x",
                     "baseline": name, "ratio": round(statistics.median(ratios), 3)})
    return rows


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] in ("--serve-minimal", "--serve-uvicorn"):
        serve = serve_minimal if sys.argv[1] == "--serve-minimal" else serve_uvicorn
        serve(int(sys.argv[2]), int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration-s", type=int, default=3, choices=range(1, 61),
                        metavar="1-60")
    parser.add_argument("--connections", type=int, default=50, choices=range(1, 1001),
                        metavar="1-1000")
    parser.add_argument("--rounds", type=int, default=7, choices=range(1, 21), metavar="1-20")
    parser.add_argument("--old-src", metavar="DIR",
                        help="another probelab src/ to measure too (e.g. an older commit's)")
    parser.add_argument("--uvicorn", action="store_true",
                        help="also uvicorn under a bare ASGI app (pip-installed to a temp dir)")
    parser.add_argument("--no-install", action="store_true",
                        help="do not apt-get install wrk and nginx when missing")
    args = parser.parse_args()
    if args.old_src is not None and not (Path(args.old_src) / "probelab").is_dir():
        parser.error(f"--old-src {args.old_src}: no probelab package there")
    for row in run(args.duration_s, args.connections, args.rounds, args.old_src, args.uvicorn,
                   not args.no_install):
        print(f"{row['bench']}: {row['metric']}: {row['value']:g} {row['unit']}")


if __name__ == "__main__":
    main()
