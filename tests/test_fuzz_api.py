"""Generated bad input against a running API server, over real HTTPS with the bearer token.

Every generated body gets either success (2xx and the object) or a `Status` whose `code` is the
HTTP 4xx code; the server keeps answering; and the objects made before the run keep their
resourceVersion. The targeted properties also say *which* answer: unknown fields under strict
field validation are 400, invalid RFC 1123 names, duplicate ports and a selector that does not
match the template are 422, bodies over the 3 MiB limit are 413, nesting deeper than the
server's limit is 400. Expected validity comes from our own regular expressions, not from the
engine's validation code.

The engine runs in a background thread (`support.api_engine.ApiEngine`); examples are few
(max_examples <= 60) so this file stays quick.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.api_engine import ApiEngine
from support.processes import run_probelab

NS = "fuzz"
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow,
                                           HealthCheck.data_too_large])
DEPLOYMENTS = f"/apis/apps/v1/namespaces/{NS}/deployments"
SERVICES = f"/api/v1/namespaces/{NS}/services"
PODS = f"/api/v1/namespaces/{NS}/pods"
KEEP = {"deployments": "keep-deploy", "services": "keep-svc", "pods": "keep-pod"}
PATHS = {"deployments": DEPLOYMENTS, "services": SERVICES, "pods": PODS}

SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
LABEL_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


def deployment(name: str = "d") -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "f"}},
                     "template": {"metadata": {"labels": {"app": "f"}}, "spec": {
                         "containers": [{"name": "c", "image": "probelab/simpleweb:1.0",
                                         "ports": [{"name": "http", "containerPort": 8080}]}]}}}}


def service(name: str = "s") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": "f"},
                     "ports": [{"name": "http", "port": 8080, "targetPort": "http"}]}}


def pod(name: str = "p") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "probelab/simpleweb:1.0"}]}}


BUILDERS = {"deployments": deployment, "services": service, "pods": pod}


@pytest.fixture(scope="module")
def engine() -> Iterator[ApiEngine]:
    with ApiEngine() as api:
        assert api.request("POST", "/api/v1/namespaces", {"metadata": {"name": NS}})[0] == 201
        for kind, name in KEEP.items():
            code, _, body = api.request("POST", PATHS[kind], BUILDERS[kind](name))
            assert code == 201, body
        yield api


def versions(engine: ApiEngine) -> dict[str, str]:
    out = {}
    for kind, name in KEEP.items():
        code, _, body = engine.request("GET", f"{PATHS[kind]}/{name}")
        assert code == 200, body
        out[kind] = json.loads(body)["metadata"]["resourceVersion"]
    return out


@pytest.fixture(scope="module")
def before(engine: ApiEngine) -> dict[str, str]:
    return versions(engine)


def send(engine: ApiEngine, kind: str, body: bytes | str | Any,
         query: str = "", content_type: str = "application/json") -> tuple[int, dict]:
    """POST `body`; check the answer's shape, the server's health and the kept objects; remove
    whatever got created. Returns the code and the decoded answer."""
    if isinstance(body, str):
        body = body.encode()
    elif not isinstance(body, bytes):
        body = json.dumps(body).encode()
    code, _, raw = engine.request("POST", PATHS[kind] + query, body,
                                        {"Content-Type": content_type})
    answer = json.loads(raw)
    if 200 <= code < 300:
        assert answer["kind"] == BUILDERS[kind]()["kind"], answer
        name = answer["metadata"]["name"]
        deleted = engine.request("DELETE", f"{PATHS[kind]}/{name}?gracePeriodSeconds=0")[0]
        assert deleted in (200, 202)
    else:
        assert 400 <= code < 500, (code, answer)
        assert (answer["kind"], answer["status"], answer["code"]) == ("Status", "Failure", code)
        assert isinstance(answer.get("message"), str) and answer["message"]
    assert engine.request("GET", "/version", token=None)[0] == 200
    return code, answer


def unchanged(engine: ApiEngine, before: dict[str, str]) -> None:
    assert versions(engine) == before


# ---- anything at all -------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=25)


@st.composite
def mangled(draw: st.DrawFn) -> tuple[str, dict]:
    """A valid object of some kind with one field path replaced by a random JSON value."""
    kind = draw(st.sampled_from(sorted(BUILDERS)))
    obj = BUILDERS[kind](draw(st.sampled_from(["a", "b-1", "c.d"])))
    node: Any = obj
    while isinstance(node, dict) and node and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(node)))
        if not isinstance(node[key], dict | list) or not node[key]:
            break
        node = node[key] if isinstance(node[key], dict) else node[key][0]
    if isinstance(node, dict):
        key = draw(st.sampled_from(sorted(node)) | st.text(min_size=1, max_size=8))
        node[key] = draw(json_values)
    return kind, obj


@SETTINGS
@given(case=mangled(), strict=st.booleans())
def test_any_mangled_object_gets_success_or_a_4xx_status(engine, before, case, strict) -> None:
    kind, obj = case
    send(engine, kind, obj, "?fieldValidation=Strict" if strict else "")
    unchanged(engine, before)


@SETTINGS
@given(raw=st.binary(max_size=300) | st.text(max_size=300),
       content_type=st.sampled_from(["application/json", "application/yaml",
                                     "application/vnd.kubernetes.protobuf", "text/plain"]))
def test_arbitrary_bytes_get_a_4xx_status(engine, before, raw, content_type) -> None:
    code, _ = send(engine, "pods", raw, content_type=content_type)
    assert 400 <= code < 500  # no random bytes make a valid pod
    unchanged(engine, before)


# ---- targeted: which 4xx ---------------------------------------------------------------------

@SETTINGS
@given(name=st.text(alphabet="abcXYZ019-._ ~", min_size=0, max_size=70)
       | st.text(alphabet="ab-", min_size=250, max_size=260))
def test_names_follow_rfc_1123(engine, before, name) -> None:
    for kind, valid in (("deployments", bool(SUBDOMAIN.fullmatch(name)) and len(name) <= 253),
                        ("services", bool(LABEL_1035.fullmatch(name)) and len(name) <= 63)):
        code, answer = send(engine, kind, BUILDERS[kind](name))
        if valid:
            assert code == 201, answer
        else:
            assert code in (400, 422), (name, answer)  # 400: no name at all (generateName)
            assert code == 422 or not name
    unchanged(engine, before)


@SETTINGS
@given(field=st.text(alphabet="abcdefghijklmnopqrstuvwxyzA", min_size=1, max_size=10),
       where=st.sampled_from(["top", "metadata", "spec", "template", "container"]))
def test_unknown_fields_are_400_under_strict_validation(engine, before, field, where) -> None:
    obj = deployment("strict")
    node = {"top": obj, "metadata": obj["metadata"], "spec": obj["spec"],
            "template": obj["spec"]["template"]["spec"],
            "container": obj["spec"]["template"]["spec"]["containers"][0]}[where]
    known = field in node
    node[field] = "x" if not known else node[field]
    code, answer = send(engine, "deployments", obj, "?fieldValidation=Strict")
    if known:
        assert code == 201, answer
    else:
        assert code == 400 and field in answer["message"], answer
    unchanged(engine, before)


@SETTINGS
@given(ports=st.lists(st.integers(1, 5), min_size=2, max_size=4),
       protocol=st.sampled_from(["TCP", "UDP"]))
def test_duplicate_service_ports_are_422(engine, before, ports, protocol) -> None:
    svc = service("dup")
    svc["spec"]["ports"] = [{"name": f"p{i}", "port": 8000 + p, "protocol": protocol,
                             "targetPort": 8080} for i, p in enumerate(ports)]
    code, answer = send(engine, "services", svc)
    assert code == (201 if len(set(ports)) == len(ports) else 422), answer
    unchanged(engine, before)


@SETTINGS
@given(names=st.lists(st.sampled_from(["http", "admin", "web"]), min_size=2, max_size=3))
def test_duplicate_container_port_names_are_422(engine, before, names) -> None:
    obj = deployment("dupnames")
    obj["spec"]["template"]["spec"]["containers"][0]["ports"] = [
        {"name": n, "containerPort": 8080 + i} for i, n in enumerate(names)]
    code, answer = send(engine, "deployments", obj)
    assert code == (201 if len(set(names)) == len(names) else 422), answer
    unchanged(engine, before)


@SETTINGS
@given(selector=st.dictionaries(st.sampled_from(["app", "tier"]), st.sampled_from(["f", "g"]),
                                min_size=1),
       labels=st.dictionaries(st.sampled_from(["app", "tier"]), st.sampled_from(["f", "g"]),
                              min_size=1))
def test_selector_must_match_the_template_labels(engine, before, selector, labels) -> None:
    obj = deployment("sel")
    obj["spec"]["selector"] = {"matchLabels": selector}
    obj["spec"]["template"]["metadata"]["labels"] = labels
    matches = all(labels.get(k) == v for k, v in selector.items())
    code, answer = send(engine, "deployments", obj)
    assert code == (201 if matches else 422), answer
    unchanged(engine, before)


@SETTINGS
@given(kind=st.sampled_from(["int", "str", "list", "bool", "null", "float"]),
       field=st.sampled_from(["replicas", "minReadySeconds", "selector", "template",
                              "strategy", "revisionHistoryLimit", "progressDeadlineSeconds"]))
def test_wrong_types_in_the_spec_are_4xx(engine, before, kind, field) -> None:
    value = {"int": 3, "str": "three", "list": [1], "bool": True, "null": None,
             "float": 1.5}[kind]
    obj = deployment("types")
    obj["spec"][field] = value
    right = {"replicas": ("int", "null"), "minReadySeconds": ("int", "null"),
             "revisionHistoryLimit": ("int", "null"), "progressDeadlineSeconds": ("int", "null"),
             "selector": (), "template": (), "strategy": ("null",)}
    code, answer = send(engine, "deployments", obj)
    if kind not in right[field]:
        assert code in (400, 422), answer
    unchanged(engine, before)


@pytest.mark.parametrize("value", [3, "three", [1], {"a": 1}])
def test_a_non_boolean_paused_is_refused(engine, before, value) -> None:
    obj = deployment("paused")
    obj["spec"]["paused"] = value
    code, answer = send(engine, "deployments", obj)
    unchanged(engine, before)
    assert code in (400, 422), answer


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=st.integers(1, 200_000))
def test_bodies_over_the_limit_are_413(engine, before, extra) -> None:
    limit = 3 * 1024 * 1024
    obj = pod("big")
    obj["metadata"]["annotations"] = {"pad": ""}
    base = len(json.dumps(obj))
    obj["metadata"]["annotations"]["pad"] = "x" * (limit - base + extra)
    code, answer = send(engine, "pods", obj)
    assert code == 413, answer
    unchanged(engine, before)


@SETTINGS
@given(depth=st.integers(1, 400), as_list=st.booleans())
def test_deep_nesting_is_refused_or_ignored_never_fatal(engine, before, depth, as_list) -> None:
    inner: Any = 1
    for _ in range(depth):
        inner = [inner] if as_list else {"a": inner}
    obj = pod("deep")
    obj["metadata"]["annotations"] = {"x": "y"}
    obj["spec"]["deep"] = inner
    code, answer = send(engine, "pods", obj, "?fieldValidation=Strict")
    assert code == 400, answer  # too deep, or an unknown field under strict validation
    if depth > 110:
        assert "nest" in answer["message"], answer
    unchanged(engine, before)


def test_kept_objects_are_intact_after_everything(engine, before) -> None:
    """Runs last in the file: the three objects made first still have their resourceVersion
    and the server still lists them."""
    unchanged(engine, before)
    code, _, body = engine.request("GET", DEPLOYMENTS)
    assert code == 200 and [d["metadata"]["name"] for d in json.loads(body)["items"]] == [
        KEEP["deployments"]]


# ---- bad flags on every long-running command -------------------------------------------------
# test_cluster_cli, test_load_cli, test_demo_cli and test_web check their own value errors;
# this table adds the shapes they leave out (unknown flag, missing value, wrong type, bad
# choice) and holds every command to the same contract: exit 2, one stderr line, no traceback,
# nothing on stdout, nothing written.

BAD_FLAGS = [
    ("cluster", "up", "--bogus"),
    ("cluster", "up", "--port"),
    ("cluster", "up", "--port", "abc"),
    ("cluster", "up", "--port", "70000"),
    ("cluster", "up", "--seed", "x"),
    ("cluster", "up", "--log-level", "loud"),
    ("cluster", "up", "--endpoint-delay", "-1"),
    ("cluster", "up", "--image", "nocommand"),
    ("load",),
    ("load", "-c", "x", "http://127.0.0.1:1/"),
    ("load", "--bogus", "http://127.0.0.1:1/"),
    ("load", "-n", "5", "http://127.0.0.1:1/", "extra-argument"),
    ("demo", "--bogus"),
    ("demo", "--rate", "0"),
    ("demo", "--rate", "fast"),
    ("demo", "--variant", "maybe"),
    ("demo", "--repeat", "0"),
    ("web", "--bogus"),
    ("web", "--port"),
    ("web", "--port", "http"),
    ("web", "--prestop-delay", "-1"),
]


@pytest.mark.parametrize("argv", BAD_FLAGS, ids=" ".join)
def test_bad_flags_are_one_line_exit_2_and_write_nothing(tmp_path, argv) -> None:
    env = dict(os.environ, PROBELAB_STATE_DIR=str(tmp_path / "state"),
               KUBECONFIG=str(tmp_path / "kubeconfig"), HOME=str(tmp_path))
    env.pop("XDG_RUNTIME_DIR", None)
    result = run_probelab(*argv, env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 2, (argv, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "error" in lines[0], result.stderr
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []
