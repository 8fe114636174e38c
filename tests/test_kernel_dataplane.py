"""The kernel data plane end to end: a real `probelab cluster up --dataplane kernel`, pods in
their own network namespaces, Services through the engine's nftables table, real sockets.

They run where the test process may create network namespaces and load nftables rules (root or
CAP_NET_ADMIN with nftables installed: `make test` installs it with scripts/ensure-nftables) and
skip, saying why, elsewhere.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from probelab.engine.network import choice
from support.real_engine import RealEngine
from support.waiting import wait_until

DECIDED = choice.decide(choice.KERNEL, choice.facts())
pytestmark = pytest.mark.skipif(DECIDED.error, reason=DECIDED.reason)

# A program that binds 0.0.0.0:8080, as real servers do, and names its pod in each answer.
SERVER = (f"{sys.executable} -c \"import http.server,os\n"
          "class H(http.server.BaseHTTPRequestHandler):\n"
          " protocol_version='HTTP/1.1'\n"
          " def do_GET(self):\n"
          "  b=os.environ['POD_NAME'].encode(); self.send_response(200)\n"
          "  self.send_header('Content-Length', str(len(b))); self.end_headers()\n"
          "  self.wfile.write(b)\n"
          " def log_message(self,*a): pass\n"
          "http.server.ThreadingHTTPServer(('0.0.0.0', 8080), H).serve_forever()\"")


# An exec probe runs in the pod's network namespace: its 127.0.0.1:8080 is the pod's server.
LISTENS = {"exec": {"command": [sys.executable, "-c", "import socket; socket.create_connection("
                                "('127.0.0.1', 8080), timeout=1).close()"]},
           "periodSeconds": 1}


def engine(tmp: Path, name: str = "e") -> RealEngine:
    folder = tmp / name
    folder.mkdir()
    return RealEngine(folder, "--dataplane", "kernel", "--endpoint-delay", "0.2",
                      "--log-level", "info", "--image", f"anyport:1={SERVER}",
                      "--image", "silent:1=sleep 3600")


def net_index(eng: RealEngine) -> int:
    found = re.search(r"engine network (\d+): bridge", eng.log())
    assert found, eng.log()
    return int(found.group(1))


def deployment(name: str, image: str, replicas: int) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{
                     "name": "main", "image": image, "ports": [{"containerPort": 8080}],
                     **({"readinessProbe": LISTENS} if image.startswith("anyport") else {}),
                     "env": [{"name": "POD_NAME", "valueFrom": {
                         "fieldRef": {"fieldPath": "metadata.name"}}}]}]}}}}


def service(name: str, selector: str) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": "NodePort", "selector": {"app": selector},
                     "ports": [{"port": 80, "targetPort": 8080}]}}


def applied(eng: RealEngine, service: str) -> list[str]:
    """The proxy's EndpointsApplied messages for `service`, oldest first."""
    return [e.message for e in eng.events("default", service) if e.reason == "EndpointsApplied"]


def deploy(eng: RealEngine, name: str, image: str, replicas: int) -> tuple[int, str]:
    """A Deployment and its NodePort Service, rolled out and routed; (nodePort, clusterIP)."""
    eng.apps.create_namespaced_deployment("default", deployment(name, image, replicas))
    svc = eng.core.create_namespaced_service("default", service(name, name))
    wait_until(lambda: len(eng.ready_pods("default")) == replicas
               and applied(eng, name)[-1:] == [f"proxy now routes to {replicas} ready endpoints"
                                              " (0 terminating, 0 serving-terminating used)"],
               timeout_s=60, what=f"{replicas} routed endpoints of {name}")
    return svc.spec.ports[0].node_port, svc.spec.cluster_ip


def get(host: str, port: int) -> str:
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request("GET", "/")
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def connect_error(host: str, port: int) -> type[BaseException] | None:
    """The type of error a connect meets (None if it succeeds)."""
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        return type(exc)
    return None


def leftovers(index: int) -> list[str]:
    """What of engine `index` the machine still has: namespaces, links, nftables table."""
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    found = [line for line in netns.splitlines() if line.startswith(f"probelab-{index}-")]
    found += [line for line in links.splitlines()
              if re.search(rf": plb{index}(v\d+)?[@:]", line)]
    found += [line for line in tables.splitlines() if line.endswith(f" probelab-{index}")]
    if Path(f"/run/probelab/net/{index}").exists():
        found.append(f"claim /run/probelab/net/{index}")
    return found


def test_two_replicas_bind_the_same_port_and_both_serve(tmp_path: Path) -> None:
    with engine(tmp_path) as eng:
        node_port, cluster_ip = deploy(eng, "web", "anyport:1", 2)
        pods = {p.metadata.name: p.status.pod_ip for p in eng.pods("default")}
        index = net_index(eng)
        assert all(ip.startswith(f"198.1{8 + index // 128}.") for ip in pods.values()), pods
        assert len(set(pods.values())) == 2
        for name, ip in pods.items():  # each pod's own 0.0.0.0:8080, reached at its IP
            assert get(ip, 8080) == name
        seen = {get("127.0.0.1", node_port) for _ in range(60)}
        assert seen == set(pods), seen  # the NodePort balances over both
        seen = {get(cluster_ip, 80) for _ in range(60)}
        assert seen == set(pods), seen
        for ip in pods.values():  # from inside each pod: its Service, itself included
            netns = f"/run/netns/probelab-{index}-{ip.rsplit('.', 1)[1]}"
            inside = subprocess.run(
                ["nsenter", f"--net={netns}", "--", sys.executable, "-c",
                 "import http.client,sys\n"
                 "def get():\n"
                 f" c=http.client.HTTPConnection('{cluster_ip}',80,timeout=5)\n"
                 " c.request('GET','/')\n"
                 " return c.getresponse().read().decode()\n"
                 "print(' '.join(sorted({get() for _ in range(40)})))"],
                capture_output=True, text=True, timeout=60)
            assert inside.stdout.split() == sorted(pods), inside.stderr
    assert leftovers(index) == []


def test_refused_for_a_pod_that_does_not_listen_and_a_service_without_endpoints(
        tmp_path: Path) -> None:
    with engine(tmp_path) as eng:
        node_port, cluster_ip = deploy(eng, "mute", "silent:1", 1)  # Ready, nothing listens
        assert connect_error("127.0.0.1", node_port) is ConnectionRefusedError
        assert connect_error(cluster_ip, 80) is ConnectionRefusedError
        empty = eng.core.create_namespaced_service("default", service("empty", "nothing"))
        ip, port = empty.spec.cluster_ip, empty.spec.ports[0].node_port
        # Until its rules are in, a ClusterIP leads nowhere (no host answers on the bridge).
        wait_until(lambda: connect_error(ip, 80) is ConnectionRefusedError,
                   timeout_s=20, what="the Service without endpoints to be rejected")
        assert connect_error("127.0.0.1", port) is ConnectionRefusedError


def test_keepalive_connection_stays_on_its_removed_endpoint(tmp_path: Path) -> None:
    with engine(tmp_path) as eng:
        node_port, _ip = deploy(eng, "keep", "anyport:1", 1)
        [pod] = eng.pods("default")
        conn = http.client.HTTPConnection("127.0.0.1", node_port, timeout=5)
        try:
            conn.request("GET", "/")
            assert conn.getresponse().read().decode() == pod.metadata.name
            # The pod leaves the Service's selector: its endpoint goes, the pod keeps running
            # (orphaned), and the ReplicaSet starts a replacement that becomes the endpoint.
            before = len(applied(eng, "keep"))
            eng.kubectl("label", "pod", pod.metadata.name, "app=elsewhere", "--overwrite")
            wait_until(lambda: len(applied(eng, "keep")) > before + 1 and applied(eng, "keep")[
                -1].startswith("proxy now routes to 1 ready endpoints"), timeout_s=60,
                what="the proxy to route to the replacement only")
            fresh = [p for p in eng.pods("default") if p.metadata.name != pod.metadata.name]
            others = {p.metadata.name for p in fresh}
            for _ in range(20):  # new connections avoid the removed endpoint
                assert get("127.0.0.1", node_port) in others
            conn.request("GET", "/")  # the established connection still reaches its pod
            assert conn.getresponse().read().decode() == pod.metadata.name
        finally:
            conn.close()


def test_ctrl_c_of_the_engine_leaves_nothing(tmp_path: Path) -> None:
    eng = engine(tmp_path)
    with eng:
        deploy(eng, "gone", "anyport:1", 2)
        index = net_index(eng)
        assert leftovers(index) != []
        os.kill(eng.pid, signal.SIGINT)  # what Ctrl-C in its terminal sends
        assert eng.proc is not None
        assert eng.proc.wait(60) == 0
        assert leftovers(index) == []


def test_sigkill_of_the_engine_leaves_nothing(tmp_path: Path) -> None:
    eng = engine(tmp_path)
    with eng:
        deploy(eng, "gone", "anyport:1", 2)
        index = net_index(eng)
        assert leftovers(index) != []
        eng.sigkill()
        wait_until(lambda: leftovers(index) == [], timeout_s=30,
                   what=f"the watchdog to remove engine {index}'s network: {leftovers(index)}")


def test_two_engines_side_by_side(tmp_path: Path) -> None:
    with engine(tmp_path, "a") as one, engine(tmp_path, "b") as two:
        port_one, _ = deploy(one, "web", "anyport:1", 1)
        port_two, _ = deploy(two, "web", "anyport:1", 1)
        assert net_index(one) != net_index(two)
        assert port_one != port_two
        [pod_one], [pod_two] = one.pods("default"), two.pods("default")
        assert get("127.0.0.1", port_one) == pod_one.metadata.name
        assert get("127.0.0.1", port_two) == pod_two.metadata.name
        index_two = net_index(two)
    assert leftovers(net_index(one)) == [] and leftovers(index_two) == []
