"""`probelab service url`: the address of a Service, as `minikube service --url` prints it.

The pure rule (`service_urls`) is table-tested on Service objects; the command runs against a
real engine started with `probelab cluster up`, with Services created by the official client.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config

from probelab.commands.service import service_urls
from probelab.engine.host import kubeconfig as kc
from probelab.errors import UsageError
from support.processes import run_probelab
from support.real_engine import RealEngine


def svc(kind: str | None, ports: list[dict], cluster_ip: str = "10.96.0.10") -> dict:
    spec: dict = {"ports": ports, "clusterIP": cluster_ip}
    if kind:
        spec["type"] = kind
    return {"metadata": {"name": "web", "namespace": "ns"}, "spec": spec}


@pytest.mark.parametrize(("service", "server", "expected"), [
    (svc("NodePort", [{"port": 80, "nodePort": 30080}]), "https://127.0.0.1:6443",
     ["http://127.0.0.1:30080"]),
    (svc("NodePort", [{"port": 80, "nodePort": 30080}]), "https://192.168.49.2:8443",
     ["http://192.168.49.2:30080"]),  # minikube: the node's address
    (svc("LoadBalancer", [{"port": 80, "nodePort": 31000}, {"port": 443, "nodePort": 31001}]),
     "https://127.0.0.1:1", ["http://127.0.0.1:31000", "http://127.0.0.1:31001"]),
    (svc("NodePort", [{"port": 80, "nodePort": 30080}]), "https://[::1]:6443",
     ["http://[::1]:30080"]),
    (svc(None, [{"port": 8080}], cluster_ip="127.96.0.7"), "https://127.0.0.1:1",
     ["http://127.96.0.7:8080"]),  # the local engine's ClusterIPs are reachable here
])
def test_service_urls(service, server, expected) -> None:
    assert service_urls(service, server) == expected


@pytest.mark.parametrize(("service", "message"), [
    (svc("ClusterIP", [{"port": 80}]), "cannot be reached from outside"),
    (svc("ExternalName", [{"port": 80}], cluster_ip=""), "type ExternalName"),
    (svc("NodePort", [{"port": 80}]), "no node port yet"),
    (svc("NodePort", []), "has no ports"),
])
def test_service_urls_refuses(service, message) -> None:
    with pytest.raises(UsageError, match=message):
        service_urls(service, "https://127.0.0.1:1")


# ---- against a real engine ----------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[tuple[Path, dict[str, str]]]:
    """One engine for the module, with a NodePort and a ClusterIP Service."""
    with RealEngine(tmp_path_factory.mktemp("service")) as engine:
        for name, kind in (("web", "NodePort"), ("internal", "ClusterIP")):
            engine.core.create_namespaced_service("default", {
                "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                "spec": {"type": kind, "selector": {"app": name},
                         "ports": [{"port": 80, "targetPort": 8080}]}})
        yield engine.kubeconfig, engine.env


def test_url_of_a_nodeport_service(cluster) -> None:
    path, env = cluster
    core = client.CoreV1Api(config.new_client_from_config(config_file=str(path)))
    node_port = core.read_namespaced_service("web", "default").spec.ports[0].node_port
    result = run_probelab("service", "url", "web", "-n", "default", "--kubeconfig", str(path),
                          env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"http://127.0.0.1:{node_port}\n"


def test_url_of_a_clusterip_service_on_the_local_engine(cluster) -> None:
    path, env = cluster
    core = client.CoreV1Api(config.new_client_from_config(config_file=str(path)))
    ip = core.read_namespaced_service("internal", "default").spec.cluster_ip
    result = run_probelab("service", "url", "internal", "--kubeconfig", str(path),
                          "--context", "probelab", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"http://{ip}:80\n"


@pytest.mark.parametrize(("args", "code", "message"), [
    (["nope"], 2, 'service "nope" not found in namespace "default"'),
    (["web", "-n", "elsewhere"], 2, 'not found in namespace "elsewhere"'),
    (["web", "--context", "missing"], 2, 'has no context "missing"'),
])
def test_url_errors_are_one_line(cluster, args, code, message) -> None:
    path, env = cluster
    result = run_probelab("service", "url", *args, "--kubeconfig", str(path), env=env)
    assert result.returncode == code
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""


def test_url_with_a_stale_context_says_the_server_is_unreachable(cluster, tmp_path) -> None:
    """A context pointing at a port nobody listens on (an engine killed earlier)."""
    path, env = cluster
    doc = kc.load(path)
    dead = kc.merge(doc, "https://127.0.0.1:9", "tok")
    stale = tmp_path / "stale"
    stale.write_text(yaml.safe_dump(dead))
    result = run_probelab("service", "url", "web", "--kubeconfig", str(stale), env=env)
    assert result.returncode == 1
    assert "cannot reach the API server at https://127.0.0.1:9" in result.stderr
    assert result.stderr.count("\n") == 1


def test_url_with_a_wrong_token_is_401(cluster, tmp_path) -> None:
    path, env = cluster
    doc = kc.load(path)
    doc["users"][-1]["user"]["token"] = "wrong"
    bad = tmp_path / "bad"
    bad.write_text(yaml.safe_dump(doc))
    result = run_probelab("service", "url", "web", "--kubeconfig", str(bad), env=env)
    assert result.returncode == 1
    assert "401 Unauthorized" in result.stderr


def test_url_without_an_engine_context(tmp_path) -> None:
    missing = tmp_path / "none"
    result = run_probelab("service", "url", "web", "--kubeconfig", str(missing))
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    empty = tmp_path / "empty"
    kc.save(empty, kc.empty())
    result = run_probelab("service", "url", "web", "--kubeconfig", str(empty))
    assert result.returncode == 2
    assert "no current context" in result.stderr
