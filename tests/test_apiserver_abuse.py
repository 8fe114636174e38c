"""The API server against hostile or careless input (hardening issue, items 3 and 6): a YAML body
whose aliases expand a few hundred bytes into gigabytes, unknown fields, slow or plain-HTTP
connections and over-long URLs. Each answer is the one kube-apiserver gives, and the server
keeps serving meanwhile.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator

import pytest
import yaml

from probelab.engine.apiserver import yamlbody
from probelab.engine.apiserver.listener import Limits
from support.api_engine import ApiEngine
from support.waiting import wait_until

_count = iter(range(1_000_000))


@pytest.fixture(scope="module")
def engine() -> Iterator[ApiEngine]:
    with ApiEngine() as running:
        yield running


@pytest.fixture
def ns(engine: ApiEngine) -> str:
    name = f"a{next(_count)}"
    code, _, body = engine.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    assert code == 201, body
    return name


def laughs(levels: int, fanout: int = 9) -> str:
    """A Pod whose one annotation expands to fanout**levels strings ("billion laughs")."""
    lines = ['x0: &x0 "lol"']
    for level in range(1, levels + 1):
        refs = ", ".join([f"*x{level - 1}"] * fanout)
        lines.append(f"x{level}: &x{level} [{refs}]")
    anchors = "\n".join(f"    {line}" for line in lines)
    return (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: laughs\n  labels:\n{anchors}\n"
            f"spec:\n  containers:\n  - name: c\n    image: i\n    args: *x{levels}\n")


# ---- item 3: aliases -----------------------------------------------------------------------

def test_go_yaml_alias_ratio_is_99_percent_then_falls_to_10() -> None:
    assert yamlbody.allowed_alias_ratio(1000) == 0.99
    assert yamlbody.allowed_alias_ratio(4_000_000) == 0.10
    assert 0.10 < yamlbody.allowed_alias_ratio(2_200_000) < 0.99
    assert not yamlbody.excessive(100, 10_000)  # at most 100 aliases is always fine
    assert not yamlbody.excessive(5000, 1000)  # nor anything in the first 1000 decodes
    assert yamlbody.excessive(9_950, 10_000)


def test_billion_laughs_are_refused_while_modest_aliases_load() -> None:
    with pytest.raises(yamlbody.ExcessiveAliasing, match="excessive aliasing"):
        yamlbody.load(laughs(9))
    with pytest.raises(yamlbody.ExcessiveAliasing):
        yamlbody.load("a: &a [*a]\n")  # an anchor that holds itself expands forever
    doc = yamlbody.load("base: &b {x: 1}\none: *b\ntwo: {<<: *b, y: 2}\n")
    assert doc == {"base": {"x": 1}, "one": {"x": 1}, "two": {"x": 1, "y": 2}}
    assert yamlbody.load(laughs(2)) == yaml.safe_load(laughs(2))
    assert yamlbody.load("") is None


def test_a_yaml_alias_bomb_is_a_400_and_stores_nothing(engine: ApiEngine, ns: str) -> None:
    body = laughs(5)  # 59,049 strings from 500 bytes; seven levels were 300 MB
    assert len(body) < 600
    code, _, answer = engine.request("POST", f"/api/v1/namespaces/{ns}/pods", body,
                                     {"Content-Type": "application/yaml"})
    status = json.loads(answer)
    assert (code, status["reason"]) == (400, "BadRequest"), status
    assert status["message"] == ("error converting YAML to JSON: yaml: document contains "
                                 "excessive aliasing")
    code, _, _ = engine.request("GET", f"/api/v1/namespaces/{ns}/pods/laughs")
    assert code == 404
    assert engine.request("GET", "/healthz", token=None)[0] == 200


# ---- item 3: unknown fields ----------------------------------------------------------------

def bogus_pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "foo": {"big": "x" * 1000},
            "metadata": {"name": name, "bar": 1},
            "spec": {"bogus": True, "containers": [{"name": "c", "image": "i", "baz": 2}]}}


def test_unknown_fields_are_dropped_with_a_warning_by_default(engine: ApiEngine, ns: str
                                                               ) -> None:
    code, headers, body = engine.request("POST", f"/api/v1/namespaces/{ns}/pods",
                                         bogus_pod("warned"))
    assert code == 201, body
    warning = headers["Warning"]
    for path in ("foo", "metadata.bar", "spec.bogus", "spec.containers[0].baz"):
        assert f'unknown field \\"{path}\\"' in warning
    for shown in (json.loads(body),
                  json.loads(engine.request("GET", f"/api/v1/namespaces/{ns}/pods/warned")[2])):
        assert "foo" not in shown and "bar" not in shown["metadata"]
        assert "bogus" not in shown["spec"] and "baz" not in shown["spec"]["containers"][0]
    stored = engine.call(lambda: engine.store.get("pods", ns, "warned"))
    assert "foo" not in stored and "bogus" not in stored["spec"]


def test_unknown_fields_are_dropped_silently_under_ignore_and_refused_under_strict(
        engine: ApiEngine, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/pods"
    code, headers, body = engine.request("POST", path + "?fieldValidation=Ignore",
                                         bogus_pod("ignored"))
    assert code == 201 and "Warning" not in headers
    assert "foo" not in json.loads(body) and "bogus" not in json.loads(body)["spec"]
    code, _, body = engine.request("POST", path + "?fieldValidation=Strict", bogus_pod("strict"))
    assert code == 400 and 'unknown field "spec.bogus"' in json.loads(body)["message"]


def test_a_patch_cannot_smuggle_unknown_fields_in(engine: ApiEngine, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/pods"
    assert engine.request("POST", path, bogus_pod("patched"))[0] == 201
    code, headers, body = engine.request(
        "PATCH", f"{path}/patched", {"spec": {"bogus": 1}, "foo": 2},
        {"Content-Type": "application/merge-patch+json"})
    assert code == 200 and "spec.bogus" in headers["Warning"]
    assert "bogus" not in json.loads(body)["spec"] and "foo" not in json.loads(body)


# ---- item 6: connections -------------------------------------------------------------------

SHORT = Limits(header_timeout_s=0.5, idle_timeout_s=5.0, max_unauthenticated=4)


@pytest.fixture(scope="module")
def strict_engine() -> Iterator[ApiEngine]:
    running = ApiEngine()
    running.api.limits = SHORT
    with running:
        yield running


def address(engine: ApiEngine) -> tuple[str, int]:
    host, port = engine.url.removeprefix("https://").rsplit(":", 1)
    return host, int(port)


def tls_socket(engine: ApiEngine) -> ssl.SSLSocket:
    context = ssl.create_default_context(cadata=engine.api.ca_pem.decode())
    raw = socket.create_connection(address(engine), timeout=10)
    return context.wrap_socket(raw, server_hostname="localhost")


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed `sock` (the read ends or fails)."""
    try:
        return sock.recv(1024) == b""
    except (ConnectionError, ssl.SSLError):
        return True
    except TimeoutError:
        return False


def test_slow_headers_are_cut_after_the_header_timeout(strict_engine: ApiEngine) -> None:
    slow = []
    try:
        for _ in range(3):
            sock = tls_socket(strict_engine)
            sock.sendall(b"G")  # then nothing: one byte of a request line
            sock.settimeout(0.2)
            slow.append(sock)
        silent = socket.create_connection(address(strict_engine), timeout=0.2)  # not even TLS
        slow.append(silent)
        for sock in slow:
            wait_until(lambda sock=sock: closed_by_server(sock), timeout_s=10,
                       what="the server to close a connection that sends no full header")
        code, _, _ = strict_engine.request("GET", "/api/v1/namespaces")
        assert code == 200  # a request that arrives in time is served as before
    finally:
        for sock in slow:
            sock.close()


def test_unauthenticated_connections_are_capped_oldest_dropped_first(strict_engine: ApiEngine
                                                                     ) -> None:
    idle = []
    try:
        for _ in range(SHORT.max_unauthenticated + 3):
            idle.append(socket.create_connection(address(strict_engine), timeout=0.5))
        wait_until(lambda: strict_engine.api.unauthenticated_connections
                   <= SHORT.max_unauthenticated, what="the cap")
        assert strict_engine.request("GET", "/api/v1/namespaces")[0] == 200
        assert closed_by_server(idle[0])  # the oldest went first
    finally:
        for sock in idle:
            sock.close()
    wait_until(lambda: strict_engine.api.unauthenticated_connections == 0,
               what="closed connections to leave the count")


def test_plain_http_to_the_tls_port_gets_go_s_400(strict_engine: ApiEngine) -> None:
    with socket.create_connection(address(strict_engine), timeout=10) as sock:
        sock.sendall(b"GET /api HTTP/1.1\r\nHost: localhost\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer == (b"HTTP/1.0 400 Bad Request\r\n\r\n"
                      b"Client sent an HTTP request to an HTTPS server.\n")


def test_an_over_long_url_gets_a_status(strict_engine: ApiEngine) -> None:
    path = "/api/v1/namespaces/default/pods/" + "a" * (SHORT.max_url_bytes + 10)
    code, headers, body = strict_engine.request("GET", path)
    status = json.loads(body)
    assert (code, status["kind"], status["code"]) == (414, "Status", 414), status
    assert headers["Content-Type"].startswith("application/json")
    code, _, body = strict_engine.request(
        "GET", "/api", headers={"X-Big": "b" * (SHORT.max_header_bytes + 10)})
    assert (code, json.loads(body)["reason"]) == (431, "RequestHeaderFieldsTooLarge")
    assert strict_engine.request("GET", "/api/v1/namespaces")[0] == 200
