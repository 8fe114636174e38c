"""The API server against hostile or careless input (hardening issue, items 3 and 6): a YAML body
whose aliases expand a few hundred bytes into gigabytes, unknown fields, slow or plain-HTTP
connections and over-long URLs. Each answer is the one kube-apiserver gives, and the server
keeps serving meanwhile.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import yaml

from apiserver_support import ApiEngine
from probelab.engine.apiserver import yamlbody

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
