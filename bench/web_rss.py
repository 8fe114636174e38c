"""Resident memory of the sample service after 10k requests (goal: at most 30 MiB).

    .venv/bin/python bench/web_rss.py [--requests 10000] [--connections 20] [--new-connections 2000]
        [--src DIR]

Starts `python -m probelab web` on free loopback ports, reads its RSS from /proc once it is
ready, sends `--requests` GET / over `--connections` keep-alive connections, then
`--new-connections` requests on a connection each (connection churn), plus a scrape of /metrics,
and reads VmRSS and VmHWM (peak) again. The limit comes from the manifests: `limits.memory: 50Mi`
in the original demo; 30 MiB is the goal since the service stopped importing aiohttp (40 MiB
before), so that a pod is never near an OOM kill. Prints one line
per figure; `run()` returns them as rows for bench/run_all.py. Every load loop is bounded and the
service is stopped by PID at the end. A benchmark, not a test: RSS depends on the Python build.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HOST = "127.0.0.1"
LIMIT_MIB = 30.0
REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
CLOSE_REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
SRC = Path(__file__).resolve().parent.parent / "src"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


async def read_response(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)


async def keepalive_worker(port: int, count: int) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        for _ in range(count):
            writer.write(REQUEST)
            await read_response(reader)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def one_shot(port: int) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(CLOSE_REQUEST)
        await read_response(reader)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def load(port: int, requests: int, connections: int, new_connections: int) -> float:
    started = time.perf_counter()
    share, extra = divmod(requests, connections)
    await asyncio.gather(*(keepalive_worker(port, share + (i < extra))
                           for i in range(connections)))
    limit = asyncio.Semaphore(connections)

    async def limited() -> None:
        async with limit:
            await one_shot(port)

    await asyncio.gather(*(limited() for _ in range(new_connections)))
    return time.perf_counter() - started


def wait_ready(admin_port: int, proc: subprocess.Popen, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"probelab web exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, admin_port), 1) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
            if s.recv(64).startswith(b"HTTP/1.1 200"):
                return
        time.sleep(0.05)
    raise SystemExit("probelab web did not become ready")


def measure(requests: int = 10_000, connections: int = 20, new_connections: int = 2_000,
            src: Path = SRC) -> dict:
    port, admin_port = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(src)}
    argv = [sys.executable, "-m", "probelab", "web", "--host", HOST, "--port", str(port),
            "--admin-port", str(admin_port)]
    proc = subprocess.Popen(argv, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(admin_port, proc)
        idle = memory_kib(proc.pid)
        seconds = asyncio.run(load(port, requests, connections, new_connections))
        with socket.create_connection((HOST, admin_port), 5) as s:  # /metrics renders too
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
            while s.recv(65536):
                pass
        loaded = memory_kib(proc.pid)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    return {"idle_kib": idle["VmRSS"], "rss_kib": loaded["VmRSS"], "hwm_kib": loaded["VmHWM"],
            "requests": requests + new_connections, "seconds": seconds}


def run(requests: int = 10_000, connections: int = 20, new_connections: int = 2_000,
        src: Path = SRC) -> list[dict]:
    m = measure(requests, connections, new_connections, src)
    mib = {k: m[k] / 1024 for k in ("idle_kib", "rss_kib", "hwm_kib")}
    name = "web_rss"
    limit = f"limit {LIMIT_MIB:g} MiB"
    return [
        {"bench": name, "metric": "RSS when ready", "value": round(mib["idle_kib"], 1),
         "unit": "MiB", "baseline": limit, "ratio": round(mib["idle_kib"] / LIMIT_MIB, 3)},
        {"bench": name, "metric": f"RSS after {m['requests']} requests",
         "value": round(mib["rss_kib"], 1), "unit": "MiB", "baseline": limit,
         "ratio": round(mib["rss_kib"] / LIMIT_MIB, 3)},
        {"bench": name, "metric": "peak RSS (VmHWM)", "value": round(mib["hwm_kib"], 1),
         "unit": "MiB", "baseline": limit, "ratio": round(mib["hwm_kib"] / LIMIT_MIB, 3)},
        {"bench": name, "metric": "load rate (bench client, same machine)",
         "value": round(m["requests"] / m["seconds"]), "unit": "req/s", "baseline": None,
         "ratio": None},
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--new-connections", type=int, default=2_000)
    parser.add_argument("--src", type=Path, default=SRC, metavar="DIR",
                        help="the probelab src/ to run (e.g. an older commit's, to compare)")
    args = parser.parse_args()
    if not (args.src / "probelab").is_dir():
        parser.error(f"--src {args.src}: no probelab package there")
    if not (1 <= args.connections <= 1000 and 0 <= args.requests <= 10_000_000
            and 0 <= args.new_connections <= 1_000_000):
        parser.error("out of range: 1-1000 connections, at most 10M requests")
    rows = run(args.requests, args.connections, args.new_connections, args.src)
    for row in rows:
        ratio = f"  ({row['ratio']:.0%} of the {row['baseline']})" if row["ratio"] else ""
        print(f"{row['bench']}: {row['metric']}: {row['value']:g} {row['unit']}{ratio}")
    worst = max(r["value"] for r in rows if r["unit"] == "MiB")
    print(f"web_rss: {'OK' if worst <= LIMIT_MIB else 'OVER'}: largest {worst:g} MiB "
          f"vs {LIMIT_MIB:g} MiB")


if __name__ == "__main__":
    main()
