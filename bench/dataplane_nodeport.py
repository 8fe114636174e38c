"""Requests/s through a NodePort of the local engine versus straight to the pod, for each data
plane (`--dataplane kernel`: nftables DNAT; `userspace`: the engine's proxy), side by side.

    .venv/bin/python bench/dataplane_nodeport.py [--planes kernel,userspace] [--rounds 7]
        [--duration-s 4] [--connections 50]

For each data plane: starts `probelab cluster up --dataplane PLANE` (private kubeconfig in a
temporary folder) with one pod of a minimal keep-alive HTTP server (asyncio Protocol, uvloop when
installed, binding $POD_IP:8080, which works in both planes) behind a NodePort Service, waits
until the NodePort answers, then runs wrk against the pod's address and against
127.0.0.1:NODEPORT, alternating, `--rounds` times each with the same duration and connections.
Prints every run, the medians with their spread (min-max) and the ratio NodePort/direct (the
kernel plane's goal: >= 0.95x). The engine is stopped by PID (SIGTERM) at the end. Needs wrk
(`apt-get install -y wrk`) and, for the kernel plane, root. A benchmark, not a test: numbers
depend on the machine and on whatever else runs on it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
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

ROOT = Path(__file__).resolve().parent.parent
SERVER = r"""
import asyncio, os
R = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n\r\nok\n"
class P(asyncio.Protocol):
    def connection_made(self, t): self.t = t
    def data_received(self, d): self.t.write(R * d.count(b"\r\n\r\n"))
try:
    import uvloop; loop = uvloop.new_event_loop()
except ImportError:
    loop = asyncio.new_event_loop()
loop.run_until_complete(loop.create_server(P, os.environ["POD_IP"], 8080, backlog=1024))
loop.run_forever()
"""
MANIFEST = {
    "apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "fast"},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "fast"}},
                  "template": {"metadata": {"labels": {"app": "fast"}}, "spec": {"containers": [
                      {"name": "main", "image": "fast:1", "ports": [{"containerPort": 8080}],
                       "env": [{"name": "POD_IP", "valueFrom": {
                           "fieldRef": {"fieldPath": "status.podIP"}}}]}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "fast"},
         "spec": {"type": "NodePort", "selector": {"app": "fast"},
                  "ports": [{"port": 80, "targetPort": 8080}]}},
    ]}


def kubectl() -> str:
    local = Path(sys.executable).parent / "kubectl"
    return str(local) if local.exists() else (shutil.which("kubectl") or "kubectl")


def answers(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        return s.recv(100).startswith(b"HTTP/1.1 200")
    return False


def wrk(url: str, duration_s: int, connections: int) -> float:
    argv = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{duration_s:g}s", url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 30).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not found:
        raise SystemExit(f"wrk printed no rate: {out}")
    return float(found.group(1))


def measure(plane: str, rounds: int, duration_s: int, connections: int) -> dict[str, list]:
    with tempfile.TemporaryDirectory(prefix="probelab-bench-dataplane-") as tmp:
        kc = Path(tmp) / "kubeconfig"
        server = Path(tmp) / "server.py"
        server.write_text(SERVER)
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PROBELAB_STATE_DIR": tmp}
        log = (Path(tmp) / "engine.log").open("w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "probelab", "cluster", "up", "--port", "0", "--kubeconfig",
             str(kc), "--dataplane", plane, "--log-level", "warning",
             "--image", f"fast:1={sys.executable} {server}"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while "probelab engine ready" not in (Path(tmp) / "engine.log").read_text():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit((Path(tmp) / "engine.log").read_text()[-1000:])
                time.sleep(0.1)
            base = [kubectl(), "--kubeconfig", str(kc), "--context", "probelab"]
            stream = "\n".join(json.dumps(item) for item in MANIFEST["items"])
            created = subprocess.run([*base, "create", "-f", "-"], input=stream,
                                     text=True, capture_output=True)
            if created.returncode != 0:
                raise SystemExit(f"kubectl create failed: {created.stderr.strip()}")
            pod_ip = node_port = ""
            while not (pod_ip and node_port and answers(pod_ip, 8080)
                       and answers("127.0.0.1", int(node_port))):
                if time.monotonic() > deadline + 60:
                    raise SystemExit("the pod or its NodePort never answered")
                time.sleep(0.2)
                pod_ip = subprocess.run([*base, "get", "pods", "-l", "app=fast", "-o",
                                         "jsonpath={.items[0].status.podIP}"],
                                        capture_output=True, text=True).stdout.strip()
                node_port = subprocess.run([*base, "get", "svc", "fast", "-o",
                                            "jsonpath={.spec.ports[0].nodePort}"],
                                           capture_output=True, text=True).stdout.strip()
            urls = {"direct": f"http://{pod_ip}:8080/",
                    "nodeport": f"http://127.0.0.1:{node_port}/"}
            results: dict[str, list] = {"direct": [], "nodeport": []}
            for i in range(rounds):  # alternate, so drift of the machine hits both alike
                order = ("direct", "nodeport") if i % 2 == 0 else ("nodeport", "direct")
                for name in order:
                    results[name].append(wrk(urls[name], duration_s, connections))
                print(f"  {plane} round {i + 1}: direct {results['direct'][-1]:,.0f} req/s, "
                      f"nodeport {results['nodeport'][-1]:,.0f} req/s", flush=True)
            return results
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
            log.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--planes", default="kernel,userspace")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--duration-s", type=int, default=4)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    print(f"{args.rounds} alternating rounds of {args.duration_s:g} s, {args.connections} "
          f"connections; {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    summary = []
    for plane in args.planes.split(","):
        got = measure(plane, args.rounds, args.duration_s, args.connections)
        med = {k: statistics.median(v) for k, v in got.items()}
        ratios = [n / d for n, d in zip(got["nodeport"], got["direct"], strict=True)]
        summary.append(
            f"{plane:>9}: direct median {med['direct']:,.0f} req/s "
            f"({min(got['direct']):,.0f}-{max(got['direct']):,.0f}), nodeport median "
            f"{med['nodeport']:,.0f} ({min(got['nodeport']):,.0f}-{max(got['nodeport']):,.0f}); "
            f"nodeport/direct {med['nodeport'] / med['direct']:.2f}x (per-round "
            f"{min(ratios):.2f}-{max(ratios):.2f})")
    print("\n".join(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
