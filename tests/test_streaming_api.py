"""The API server's side of the streaming subresources without a real node: discovery, the
refusals before any process is involved, and the answer when no kubelet is there. A fake
kubelet makes the pods Running (test_streaming_e2e.py has the real node)."""

from __future__ import annotations

import json

import pytest

from support.api_engine import ApiEngine
from support.waiting import wait_until
from support.wsclient import WsClient

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
       "spec": {"containers": [{"name": "c", "image": "x"}]}}
BASE = "/api/v1/namespaces/default/pods/p"


@pytest.fixture(scope="module")
def api():
    with ApiEngine(fake_kubelet=True) as engine:
        status, _, body = engine.request("POST", "/api/v1/namespaces/default/pods", POD)
        assert status == 201, body
        wait_until(lambda: json.loads(engine.request("GET", BASE)[2])["status"].get("phase")
                   == "Running", what="the pod to run")
        yield engine


def ws(api: ApiEngine, path: str, protocols: list[str] | None) -> WsClient:
    return WsClient(api.url, path, api.token, api.api.ca_pem, protocols)


def test_discovery_lists_the_streaming_subresources(api) -> None:
    _, _, body = api.request("GET", "/api/v1")
    resources = {r["name"]: r for r in json.loads(body)["resources"]}
    assert resources["pods/exec"]["kind"] == "PodExecOptions"
    assert resources["pods/attach"]["verbs"] == ["create", "get"]
    assert resources["pods/portforward"]["kind"] == "PodPortForwardOptions"


@pytest.mark.parametrize("method,path,headers,code,message", [
    ("GET", f"{BASE}/exec?command=ls", {}, 400, "over WebSockets only"),
    ("POST", f"{BASE}/exec?command=ls", {"Connection": "Upgrade", "Upgrade": "SPDY/3.1"}, 400,
     "over WebSockets only (v5.channel.k8s.io, v4.channel.k8s.io), not SPDY/3.1"),
    ("DELETE", f"{BASE}/exec?command=ls", {}, 405, "does not allow this method"),
    ("GET", f"{BASE}/exec", {}, 400, "you must specify at least one command"),
    ("GET", f"{BASE}/attach?container=nope", {}, 400, "container nope is not valid for pod p"),
    ("GET", "/api/v1/namespaces/default/pods/q/exec?command=ls", {}, 404, 'pods "q" not found'),
    ("POST", f"{BASE}/portforward", {"Upgrade": "SPDY/3.1"}, 400, "over WebSockets only"),
])
def test_refusals_are_status_errors(api, method, path, headers, code, message) -> None:
    status, _, body = api.request(method, path, headers=headers)
    doc = json.loads(body)
    assert (status, doc["kind"], doc["code"]) == (code, "Status", code)
    assert message in doc["message"]


def test_no_kubelet_is_a_503(api) -> None:
    client = ws(api, f"{BASE}/exec?command=ls", ["v5.channel.k8s.io"])
    try:
        assert client.handshake.status == 503
        assert "kubelet is not running" in json.loads(client.handshake.body)["message"]
    finally:
        client.close()


def test_channel_port_forward_needs_ports(api) -> None:
    client = ws(api, f"{BASE}/portforward", ["v4.channel.k8s.io"])
    try:
        assert client.handshake.status == 400
        assert json.loads(client.handshake.body)["message"] == \
            'query parameter "port" is required'
    finally:
        client.close()
