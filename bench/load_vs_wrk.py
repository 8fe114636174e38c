"""Requests/s of `probelab load` against wrk and locust, same target, same duration/connections.

    .venv/bin/python bench/load_vs_wrk.py [--duration-s 5] [--connections 50] [--rounds 3]
        [--server nginx|python] [--cpus 0,1] [--no-locust] [--no-install]
        [--also LABEL=SRC_DIR ...] [--workers N] [--python-path]

The target is nginx from Debian (one worker, `return 200`, private config in a temp dir) or, if
nginx is missing, a minimal keep-alive server on uvloop. wrk (`-t1`), `probelab load`
(closed model, `-z`, `-c`) and locust (FastHttpUser, no wait, one process) run one after the
other against it, `--rounds` times, the server pinned to one core and each client to the other
(`taskset`). Prints every run, the medians and the ratios (the issue's goal: probelab ≥ 0.9×
wrk and ≥ 5× locust; 0.5× wrk is the floor). Missing tools are installed with apt-get when run
as root (unless `--no-install`); a tool that is still missing is skipped with a message.

`--python-path` measures instead the client's own Python work per request, without sockets:
a connection whose transport discards writes is fed an nginx-like response in a loop, through
the slot, the record log and the closed model's budget, and the process CPU time per request
is printed for this tree and each `--also` tree, in alternating rounds. CPU time of a loop
that makes no system call hardly depends on what else runs on the machine, unlike the rates.

A benchmark, not a test: the numbers depend on the machine and on whatever else runs on it.
`run()` returns the figures as rows for `bench/run_all.py`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
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

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n\r\nok\n"
LOCUSTFILE = """
from locust import FastHttpUser, constant, task

class Bench(FastHttpUser):
    wait_time = constant(0)

    @task
    def root(self):
        self.client.get("/")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on {HOST}:{port} after {timeout_s}s")


def pinned(argv: list[str], cpu: str | None) -> list[str]:
    return ["taskset", "-c", cpu, *argv] if cpu and shutil.which("taskset") else argv


child = children.child


def ensure_tools(install: bool, want_locust: bool) -> None:
    """apt-get install what is missing (Debian packages wrk, nginx, python3-locust), as root."""
    missing = [pkg for pkg, found in (
        ("wrk", shutil.which("wrk")),
        ("nginx", shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")),
        ("python3-locust", not want_locust or locust_cmd()),
    ) if not found]
    if not missing or not install or os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    print(f"installing {' '.join(missing)} with apt-get ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                   env=env, capture_output=True, timeout=900)


def locust_cmd() -> list[str] | None:
    """Debian's locust runs on the system Python, not on our venv's."""
    for python in ("/usr/bin/python3", shutil.which("python3") or ""):
        if python and subprocess.run([python, "-c", "import locust"],
                                     capture_output=True).returncode == 0:
            return [python, "-m", "locust"]
    return None


# ---- the target ----------------------------------------------------------------------------
def server_argv(kind: str, port: int, workdir: Path) -> list[str]:
    if kind == "python":
        return [sys.executable, __file__, "--serve", str(port)]
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    (workdir / "nginx.conf").write_text(
        f"daemon off; master_process off; worker_processes 1; pid {workdir}/nginx.pid;\n"
        f"error_log {workdir}/error.log;\nevents {{ worker_connections 4096; }}\n"
        f"http {{ access_log off; client_body_temp_path {workdir}/body;\n"
        f"  proxy_temp_path {workdir}/proxy; fastcgi_temp_path {workdir}/fcgi;\n"
        f"  uwsgi_temp_path {workdir}/uwsgi; scgi_temp_path {workdir}/scgi;\n"
        f"  keepalive_requests 100000000; keepalive_timeout 300s;\n"
        f"  server {{ listen {HOST}:{port}; location / {{ return 200 \"ok\\n\"; }} }} }}\n"
    )
    return [nginx, "-p", str(workdir), "-c", str(workdir / "nginx.conf")]


def serve(port: int) -> None:
    import asyncio

    class Http(asyncio.Protocol):
        def connection_made(self, transport):  # type: ignore[no-untyped-def]
            self.transport, self.pending = transport, b""

        def data_received(self, data):  # type: ignore[no-untyped-def]
            data = self.pending + data
            n = data.count(b"\r\n\r\n")
            self.pending = data[data.rfind(b"\r\n\r\n") + 4:] if n else data
            if n:
                self.transport.write(RESPONSE * n)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Http, HOST, port, backlog=1024)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        server.close()

    try:
        import uvloop
        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


# ---- the client's Python path alone --------------------------------------------------------
NGINX_RESPONSE = (b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 03 Dec 2026 06:48:36 GMT"
                  b"\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: keep-alive"
                  b"\r\n\r\nok\n")


def python_path_child(requests: int) -> None:
    """Print the CPU µs per request of the closed model's hot path, in this process's tree."""
    import asyncio

    from probelab.load import client, records, scheduler

    class Wire:  # a transport that takes every write and never closes
        def write(self, data: bytes) -> None:
            pass

        def close(self) -> None:
            pass

        def get_extra_info(self, name: str) -> None:
            return None

    pool = client.ConnectionPool(HOST, 1, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    log = records.RecordLog()
    budget = scheduler.Budget(requests, None, asyncio.Event())

    def after(slot: scheduler.Slot, now: float) -> None:
        if budget.take(now):
            slot.run(now, now)

    slot = scheduler.Slot(pool, log, 10.0, 0.0, after)
    conn = client.HttpConnection()
    conn.connection_made(Wire())  # type: ignore[arg-type]
    slot.conn = conn
    conn.done_at = time.perf_counter()
    slot.run(conn.done_at, conn.done_at)
    started = time.process_time()
    for _ in range(requests):
        conn.data_received(NGINX_RESPONSE)
    used = time.process_time() - started
    assert len(log) == requests and not log.failed
    print(f"{used / requests * 1e6:.3f}")


def python_path(trees: dict[str, Path], rounds: int, requests: int = 50_000) -> None:
    us: dict[str, list[float]] = {name: [] for name in trees}
    for i in range(rounds):
        line = [f"  round {i + 1}:"]
        for name, src in trees.items():
            out = subprocess.run([sys.executable, __file__, "--python-path-child", str(requests)],
                                 capture_output=True, text=True, timeout=300,
                                 env={**os.environ, "PYTHONPATH": str(src)})
            if out.returncode != 0:
                raise SystemExit(f"{name}: {out.stderr.strip().splitlines()[-1:]}")
            us[name].append(float(out.stdout))
            line.append(f"{name} {us[name][-1]:.2f} µs")
        print("  ".join(line), flush=True)
    first = next(iter(trees))
    for name, values in us.items():
        ratios = [v / b for v, b in zip(values, us[first], strict=True)]
        print(f"{name}: {statistics.median(values):.2f} µs CPU per request (spread "
              f"{min(values):.2f}-{max(values):.2f}), {statistics.median(ratios):.2f}x {first}")


# ---- the clients ---------------------------------------------------------------------------
def children_cpu_s() -> float:
    """CPU seconds (user + system) used by the children we have waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wrk(url: str, duration_s: int, connections: int, cpu: str | None,
        threads: int = 1) -> tuple[float, int]:
    argv = pinned(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", url], cpu)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 60)
    match = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    total = re.search(r"(\d+) requests in", out.stdout)
    if not match or not total:
        raise SystemExit(f"wrk failed: {out.stdout}{out.stderr}")
    return float(match.group(1)), int(total.group(1))


def probelab(url: str, duration_s: int, connections: int, cpu: str | None,
             workdir: Path, src: Path = REPO / "src", workers: int = 1
             ) -> tuple[float, int, float]:
    """One run of `probelab load` from the source tree `src` (another checkout's, to compare
    versions in the same rounds)."""
    out = workdir / "probelab.json"
    argv = pinned([sys.executable, "-m", "probelab", "load", "-z", f"{duration_s}s",
                   "-c", str(connections), "--no-progress", "--json", str(out), url]
                  + (["--workers", str(workers)] if workers != 1 else []), cpu)
    env = {**os.environ, "PYTHONPATH": str(src)}
    proc = subprocess.run(argv, capture_output=True, text=True, env=env,
                          timeout=duration_s + 120)
    if proc.returncode != 0:
        raise SystemExit(f"probelab load failed: {proc.stderr}")
    doc = json.loads(out.read_text())
    if doc["failed"]:
        print(f"    probelab: {doc['failed']} failed: {doc['error_examples']}")
    return float(doc["rps"]), int(doc["requests"]), float(doc["client_cpu_s"])


def locust(cmd: list[str], url: str, duration_s: int, connections: int, cpu: str | None,
           workdir: Path) -> tuple[float, int]:
    locustfile = workdir / "locustfile.py"
    locustfile.write_text(LOCUSTFILE)
    prefix = workdir / "locust"
    argv = pinned([*cmd, "-f", str(locustfile), "--headless", "-u", str(connections),
                   "-r", str(connections * 100), "-t", f"{duration_s}s", "-H", url,
                   "--csv", str(prefix), "--only-summary", "--loglevel", "ERROR"], cpu)
    subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 120,
                   cwd=workdir)
    stats = Path(f"{prefix}_stats.csv")
    if not stats.exists():
        raise SystemExit("locust wrote no stats")
    for line in stats.read_text().splitlines()[1:]:
        cols = line.split(",")
        if "Aggregated" in cols:
            header = stats.read_text().splitlines()[0].split(",")
            return (float(cols[header.index("Requests/s")]),
                    int(cols[header.index("Request Count")]))
    raise SystemExit("no Aggregated row in locust's stats")


# ---- the comparison ------------------------------------------------------------------------
def compare(duration_s: int = 5, connections: int = 50, rounds: int = 3, server: str = "nginx",
            cpus: str = "0,1", with_locust: bool = True, install: bool = True,
            also: dict[str, Path] | None = None, workers: int = 1) -> list[dict]:
    """`also`: other source trees of probelab (label → src directory), run in the same rounds
    right after this one, so that versions are compared under the same machine load.
    `workers`: probelab's --workers and wrk's -t (pinning then makes little sense: --cpus '')."""
    ensure_tools(install, with_locust)
    if not shutil.which("wrk"):
        print("skipped: wrk not found (Debian package wrk: apt-get install -y wrk)")
        return []
    if server == "nginx" and not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")):
        print("nginx not found: using the python/uvloop target instead")
        server = "python"
    lcmd = locust_cmd() if with_locust else None
    if with_locust and lcmd is None:
        print("locust not found (Debian package python3-locust): comparing with wrk only")
    cpu_server, cpu_client = ([*cpus.split(","), None][:2] if cpus else [None, None])
    port = free_port()
    url = f"http://{HOST}:{port}/"
    others = {f"probelab[{label}]": src for label, src in (also or {}).items()}
    names = ["wrk", "probelab", *others, "locust"]
    rps: dict[str, list[float]] = {name: [] for name in names}
    cpu_us: dict[str, list[float]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="probelab-bench-") as tmp, \
            child(pinned(server_argv(server, port, Path(tmp)), cpu_server)):
        wait_port(port)
        print(f"target {server} on {url} (cpu {cpu_server}); clients on cpu {cpu_client}; "
              f"-c {connections}, {duration_s} s each; {os.cpu_count()} cores, "
              f"load {os.getloadavg()[0]:.2f}", flush=True)
        clients = {
            "wrk": lambda: wrk(url, duration_s, connections, cpu_client, workers),
            "probelab": lambda: probelab(url, duration_s, connections, cpu_client, Path(tmp),
                                         workers=workers),
        }
        for name, src in others.items():
            clients[name] = (lambda src=src: probelab(url, duration_s, connections, cpu_client,
                                                      Path(tmp), src, workers))
        if lcmd:
            clients["locust"] = lambda: locust(lcmd, url, duration_s, connections, cpu_client,
                                               Path(tmp))
        for i in range(rounds):
            line = [f"  round {i + 1}:"]
            for name, measure in clients.items():
                before = children_cpu_s()
                value, total, *own_cpu = measure()
                used = own_cpu[0] if own_cpu else children_cpu_s() - before
                rps[name].append(value)
                cpu_us[name].append(used / max(total, 1) * 1e6)
                line.append(f"{name} {value:7.0f} req/s ({cpu_us[name][-1]:5.1f} µs CPU/req)")
            print("  ".join(line), flush=True)
    med = {name: statistics.median(v) for name, v in rps.items() if v}
    best = {name: max(v) for name, v in rps.items() if v}
    cpu = {name: statistics.median(v) for name, v in cpu_us.items() if v}

    def row(metric: str, value: float, unit: str, baseline: str | None = None,
            ratio: float | None = None) -> dict:
        return {"bench": "load_vs_wrk", "metric": metric, "value": round(value, 1),
                "unit": unit, "baseline": baseline,
                "ratio": None if ratio is None else round(ratio, 3)}

    rows = [row("wrk_rps", med["wrk"], "req/s"),
            row("probelab_rps", med["probelab"], "req/s", "wrk", med["probelab"] / med["wrk"]),
            row("probelab_rps_best", best["probelab"], "req/s", "wrk best",
                best["probelab"] / best["wrk"]),
            row("wrk_cpu_per_request", cpu["wrk"], "us"),
            row("probelab_cpu_per_request", cpu["probelab"], "us", "wrk",
                cpu["probelab"] / cpu["wrk"])]
    if "locust" in med:
        rows += [row("locust_rps", med["locust"], "req/s"),
                 row("probelab_vs_locust", med["probelab"], "req/s", "locust",
                     med["probelab"] / med["locust"])]
    print("median req/s: " + ", ".join(f"{n} {v:.0f}" for n, v in med.items())
          + "; best: " + ", ".join(f"{n} {v:.0f}" for n, v in best.items()))
    print("client CPU per request (median; probelab: during the run, as it reports it; "
          "the others: whole process): "
          + ", ".join(f"{n} {v:.1f} µs" for n, v in cpu.items()))
    for name in ["probelab", *others]:
        ratios = [p / w for p, w in zip(rps[name], rps["wrk"], strict=True)]
        cpu_ratios = [p / w for p, w in zip(cpu_us[name], cpu_us["wrk"], strict=True)]
        print(f"{name}/wrk per round: rate {statistics.median(ratios):.2f} median "
              f"({min(ratios):.2f}-{max(ratios):.2f}), CPU/request "
              f"{statistics.median(cpu_ratios):.2f}x wrk's ({cpu[name]:.1f} µs)")
    print(f"probelab/wrk = {med['probelab'] / med['wrk']:.2f} median, "
          f"{best['probelab'] / best['wrk']:.2f} best (goal ≥ 0.9, floor 0.5)"
          + (f"; probelab/locust = {med['probelab'] / med['locust']:.1f} (goal ≥ 5)"
             if "locust" in med else ""))
    return rows


def run() -> list[dict]:
    """The bench convention: rows of figures; 7 rounds, the fewest the project reports."""
    return compare(rounds=7)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration-s", type=int, default=5)
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--server", choices=["nginx", "python"], default="nginx")
    p.add_argument("--cpus", default="0,1", help="taskset CPUs for server,client ('' = none)")
    p.add_argument("--no-locust", action="store_true")
    p.add_argument("--no-install", action="store_true")
    p.add_argument("--also", action="append", default=[], metavar="LABEL=SRC_DIR",
                   help="another probelab source tree to run in the same rounds (repeatable)")
    p.add_argument("--workers", type=int, default=1,
                   help="probelab --workers and wrk -t (default 1)")
    p.add_argument("--python-path", action="store_true",
                   help="measure the client's Python work per request alone (no sockets)")
    p.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    p.add_argument("--python-path-child", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.python_path_child:
        python_path_child(args.python_path_child)
        return
    also = {}
    for item in args.also:
        label, sep, src = item.partition("=")
        if not sep or not Path(src, "probelab").is_dir():
            p.error(f"--also wants LABEL=SRC_DIR with a probelab package in it, got {item!r}")
        also[label] = Path(src).resolve()
    if args.python_path:
        python_path({"probelab": REPO / "src", **also}, args.rounds)
        return
    compare(args.duration_s, args.connections, args.rounds, args.server, args.cpus,
            not args.no_locust, not args.no_install, also, args.workers)


if __name__ == "__main__":
    main()
