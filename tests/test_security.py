"""Security of the local engine (issue 8), against one real `probelab cluster up` process.

- Everything the engine and its pods listen on is a loopback address (read from the kernel's
  table of listening sockets, not from what the engine says), and `cluster up` has no flag that
  would bind elsewhere.
- Without the bearer token, with a wrong one, or with another auth scheme, every path and
  method answers 401 with a `Status`, except GET on /version, /healthz, /livez and /readyz.
- The kubeconfig, the engine's record and every file holding the token or a private key is
  mode 0600.
- The sample service's admin endpoints (/prestop, /healthz) cannot be reached through its
  Service: the NodePort forwards only the public port, which answers 404 there.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import random
import ssl
import stat
import string
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probelab.engine.apiserver.server import ApiServer
from probelab.engine.core.context import EngineConfig
from probelab.engine.engine import build_context
from probelab.errors import UsageError
from support.processes import cmdline, pod_pid, run_probelab
from support.real_engine import RealEngine
from support.sockets import listening_addresses, listens
from support.waiting import wait_until

PUBLIC = ("/version", "/healthz", "/livez", "/readyz")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> Iterator[RealEngine]:
    with RealEngine(tmp_path_factory.mktemp("security")) as real:
        real.node_port = real.deploy_withprobes(replicas=1)
        yield real


def group_or_other_access(path: Path) -> list[Path]:
    """Every regular file under `path` (or `path` itself) readable or writable by others."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return [p for p in files if stat.S_IMODE(p.stat().st_mode) & 0o077]


def connect(engine: RealEngine) -> http.client.HTTPSConnection:
    host, port = engine.url().removeprefix("https://").rsplit(":", 1)
    context = ssl.create_default_context(cadata=engine.ca_pem().decode())
    return http.client.HTTPSConnection(host, int(port), context=context, timeout=30)


def request(engine: RealEngine, method: str, path: str, auth: str | None,
            body: bytes | None = None,
            conn: http.client.HTTPSConnection | None = None) -> tuple[int, bytes]:
    """One request; on `conn` (kept alive, reconnected if the server closed it) if given."""
    own = conn is None
    conn = conn or connect(engine)
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = auth
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        if own:
            conn.close()


def engine_dir(engine: RealEngine) -> Path:
    """The engine's working folder (TLS key, pod logs): the one its watchdog will remove."""
    [argv] = [cmdline(p).split() for p in engine.processes()
              if "probelab.engine.host.watchdog" in cmdline(p)]
    return Path(argv[argv.index("--remove") + 1])


# ---- loopback only ---------------------------------------------------------------------------

def test_api_nodeport_and_pods_listen_on_loopback_only(engine: RealEngine) -> None:
    api_port = int(engine.url().rsplit(":", 1)[1])
    assert listening_addresses(api_port) == {"127.0.0.1"}
    assert listening_addresses(engine.node_port) <= {"127.0.0.1", "0000:0000:0000:0000:0000:"
                                                     "0000:0000:0001"}
    assert listening_addresses(engine.node_port)
    [pod] = engine.pods()
    ip = pod.status.pod_ip
    assert ip.startswith("127.")
    wait_until(lambda: listens(pod_pid(engine.pid, ip), 8080), timeout_s=30,
               what=f"the pod's own process to listen on {ip}:8080 ({pod.status})")


@pytest.mark.parametrize("flag", [["--host", "0.0.0.0"], ["--address", "0.0.0.0"],
                                  ["--bind-address", "0.0.0.0"]])
def test_cluster_up_has_no_flag_to_listen_elsewhere(tmp_path, flag) -> None:
    result = run_probelab("cluster", "up", "--kubeconfig", str(tmp_path / "kc"), *flag)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "No such option" in result.stderr
    assert not (tmp_path / "kc").exists()


# ---- the bearer token ------------------------------------------------------------------------

def known_paths(engine: RealEngine) -> list[str]:
    """Every path discovery names, collections and single objects, plus subresources."""
    token = f"Bearer {engine.token()}"
    paths = ["/", "/api", "/apis", "/openapi/v2", "/openapi/v3", "/metrics", "/logs"]
    versions = ["/api/v1"] + [f"/apis/{g['preferredVersion']['groupVersion']}" for g in
                              json.loads(request(engine, "GET", "/apis", token)[1])["groups"]]
    for version in versions:
        paths.append(version)
        code, body = request(engine, "GET", version, token)
        assert code == 200, version
        for resource in json.loads(body)["resources"]:
            name, _, sub = resource["name"].partition("/")
            base = (f"{version}/namespaces/default/{name}" if resource["namespaced"]
                    else f"{version}/{name}")
            paths += [base, f"{base}/x", f"{base}/x/{sub}" if sub else f"{base}?watch=true"]
    return sorted(set(paths))


@pytest.mark.parametrize("auth", [None, "Bearer wrong-token", "Bearer ", "Basic YWRtaW46YWRtaW4=",
                                  "bearer", "Token {token}"])
def test_every_path_and_method_needs_the_token(engine: RealEngine, auth: str | None) -> None:
    if auth is not None:
        auth = auth.format(token=engine.token())
    paths = known_paths(engine)
    assert len(paths) > 30
    conn = connect(engine)
    try:
        for path in paths:
            for method in METHODS:
                code, body = request(engine, method, path, auth, b"{}", conn)
                assert code == 401, (method, path, code)
                status = json.loads(body)
                assert (status["kind"], status["code"]) == ("Status", 401)
        for path in PUBLIC:
            assert request(engine, "GET", path, auth, None, conn)[0] == 200
    finally:
        conn.close()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(segments=st.lists(st.text(string.ascii_letters + string.digits + "-._~%:@", min_size=1,
                                 max_size=12), min_size=1, max_size=5),
       method=st.sampled_from(METHODS))
def test_any_other_path_needs_the_token(engine: RealEngine, segments: list[str],
                                        method: str) -> None:
    path = "/" + "/".join(segments)
    normalized = urllib.request.unquote(path).rstrip("/")
    code, _ = request(engine, method, path, None)
    if normalized in PUBLIC:
        assert code in (200, 405)
    else:
        assert code in (401, 400), (path, code)  # 400: a path the HTTP parser itself refuses


# ---- files -----------------------------------------------------------------------------------

def test_kubeconfig_record_and_key_files_are_private(engine: RealEngine) -> None:
    token = engine.token().encode()
    state = Path(engine.env["PROBELAB_STATE_DIR"])
    work = engine_dir(engine)
    assert group_or_other_access(engine.kubeconfig) == []
    assert list(state.glob("engine-*.json")) and group_or_other_access(state) == []
    secret = [p for p in work.rglob("*") if p.is_file()
              and (token in p.read_bytes() or b"PRIVATE KEY" in p.read_bytes())]
    assert secret, f"no key file in {work}"  # the TLS key lives there
    assert [p for p in secret if p in group_or_other_access(work)] == []


# ---- the admin port stays private ------------------------------------------------------------

@pytest.mark.parametrize("path", ["/prestop", "/healthz", "/livez", "/metrics"])
def test_admin_endpoints_are_not_reachable_through_the_service(engine: RealEngine,
                                                                path: str) -> None:
    url = f"http://127.0.0.1:{engine.node_port}{path}"
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(url, timeout=10)
    assert caught.value.code == 404
    caught.value.close()
    service = engine.core.read_namespaced_service("simpleprobe", "probes")
    assert [p.target_port for p in service.spec.ports] == ["http"]
    # the pod is still serving and still ready: /prestop did not reach it
    [pod] = engine.pods()
    assert pod.status.container_statuses[0].ready
    wait_until(lambda: urllib.request.urlopen(f"http://127.0.0.1:{engine.node_port}/",
                                              timeout=10).status == 200, what="the public port")


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "localhost.example"])
def test_the_api_server_refuses_a_non_loopback_host(tmp_path, host) -> None:
    """`cluster up` has no host flag, and the API server refuses one set in its config too:
    before it binds anything, with a one-line UsageError."""
    config = EngineConfig(host=host, port=0, token="t", state_dir=tmp_path)
    ctx = build_context(config, rng=random.Random(1))
    server = ApiServer()
    with pytest.raises(UsageError, match="loopback only"):
        asyncio.run(server.start(ctx))
    assert server.url == ""  # it never bound a socket
