"""The store's indexes (hardening issue, item 7): what a write path looks up is found without
reading every object of the kind, and the indexes stay right through create, update and delete.

No timings here (bench/service_creates.py measures creates/s); instead the number of deep
copies a Service create makes is counted, which grew with every Service stored before.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator

import pytest

from probelab.engine.apiserver.params import DeleteOptions
from probelab.engine.apiserver.registry.generic import Registry
from probelab.engine.apiserver.status import ApiError
from probelab.engine.core.clock import FakeClock
from probelab.engine.core.store import Store
from probelab.k8s.resources import BY_PLURAL

SERVICES = BY_PLURAL["services"]


def pod(name: str, namespace: str = "ns", owner: str | None = None,
        labels: dict[str, str] | None = None) -> dict:
    m: dict = {"name": name, "namespace": namespace, "labels": labels or {}}
    if owner:
        m["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
                                 "uid": owner}]
    return {"metadata": m, "spec": {"containers": []}}


def colour(obj: dict) -> list[str]:
    value = (obj["metadata"].get("labels") or {}).get("colour")
    return [value] if value else []


def test_a_named_index_follows_create_update_delete() -> None:
    store = Store(FakeClock())
    store.create("pods", pod("a", labels={"colour": "red"}))
    store.add_index("pods", "colour", colour)  # built from what is already stored
    store.create("pods", pod("b", labels={"colour": "red"}))
    store.create("pods", pod("c", namespace="other", labels={"colour": "blue"}))
    assert store.indexed("pods", "colour", "red") == {("ns", "a"), ("ns", "b")}
    assert store.index_size("pods", "colour") == 2
    b = store.get("pods", "ns", "b")
    b["metadata"]["labels"]["colour"] = "blue"
    store.update("pods", b)
    assert store.indexed("pods", "colour", "red") == {("ns", "a")}
    assert store.indexed("pods", "colour", "blue") == {("ns", "b"), ("other", "c")}
    store.delete("pods", "ns", "a")
    assert store.indexed("pods", "colour", "red") == frozenset()
    assert store.index_size("pods", "colour") == 1  # an emptied value is gone
    found = store.get_many("pods", store.indexed("pods", "colour", "blue") | {("ns", "gone")})
    assert [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in found] == [
        ("ns", "b"), ("other", "c")]
    found[0]["metadata"]["labels"]["colour"] = "mutated"  # a copy: the store is unharmed
    assert store.get("pods", "ns", "b")["metadata"]["labels"]["colour"] == "blue"


def test_namespace_and_owner_indexes_follow_writes() -> None:
    store = Store(FakeClock())
    for name in ("b", "a"):
        store.create("pods", pod(name, owner="u1"))
    store.create("pods", pod("z", namespace="other", owner="u1"))
    store.create("pods", pod("free"))
    assert [p["metadata"]["name"] for p in store.list("pods", "ns")[0]] == ["a", "b", "free"]
    assert [p["metadata"]["name"] for p in store.list("pods")[0]] == ["a", "b", "free", "z"]
    assert [(r, p["metadata"]["name"]) for r, p in store.dependents("u1")] == [
        ("pods", "a"), ("pods", "b"), ("pods", "z")]
    orphan = store.get("pods", "ns", "a")
    orphan["metadata"]["ownerReferences"] = [{"uid": "u2", "kind": "X", "name": "x",
                                              "apiVersion": "v1"}]
    store.update("pods", orphan)
    assert [p["metadata"]["name"] for _, p in store.dependents("u1")] == ["b", "z"]
    assert [p["metadata"]["name"] for _, p in store.dependents("u2")] == ["a"]
    for name in ("a", "b", "free"):
        store.delete("pods", "ns", name)
    assert store.list("pods", "ns")[0] == [] and store.dependents("u2") == []
    assert [p["metadata"]["name"] for p in store.list("pods")[0]] == ["z"]


def service(name: str, ip: str | None = None, node_port: int | None = None) -> dict:
    port: dict = {"port": 80}
    spec: dict = {"selector": {"app": name}, "ports": [port]}
    if ip:
        spec["clusterIP"] = ip
    if node_port:
        spec["type"] = "NodePort"
        port["nodePort"] = node_port
    return {"metadata": {"name": name}, "spec": spec}


@pytest.fixture
def registry() -> Registry:
    registry = Registry(Store(FakeClock()), random.Random(3))
    registry.ensure_system_namespaces()
    return registry


def test_addresses_in_use_stay_right_through_update_and_delete(registry: Registry) -> None:
    registry.create(SERVICES, "default", service("a", "127.96.0.10", 30010))
    with pytest.raises(ApiError, match="already allocated"):
        registry.create(SERVICES, "default", service("b", "127.96.0.10"))
    with pytest.raises(ApiError, match="already allocated"):
        registry.create(SERVICES, "default", service("b", node_port=30010))
    a = registry.get_object(SERVICES, "default", "a")
    a["spec"]["ports"][0]["nodePort"] = 30011  # a Service may keep or move its own port
    registry.update(SERVICES, "default", "a", a)
    registry.create(SERVICES, "default", service("b", node_port=30010))  # freed by the move
    with pytest.raises(ApiError, match="already allocated"):
        registry.create(SERVICES, "default", service("c", node_port=30011))
    registry.delete(SERVICES, "default", "a", DeleteOptions())
    registry.create(SERVICES, "default", service("c", "127.96.0.10", 30011))  # freed by delete


@pytest.fixture
def deep_copies(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    count = [0]
    real = copy.deepcopy

    def counting(obj, memo=None, _nil=[]):  # noqa: B006 - copy.deepcopy's own signature
        count[0] += 1
        return real(obj, memo)

    monkeypatch.setattr(copy, "deepcopy", counting)
    yield count


def copies_for_one_create(registry: Registry, stored: int, count: list[int]) -> int:
    for i in range(stored - len(registry.store.list("services")[0])):
        registry.create(SERVICES, "default", service(f"s{stored}-{i}"))
    before = count[0]
    registry.create(SERVICES, "default", service(f"new{stored}"))
    return count[0] - before


def test_a_service_create_copies_as_much_with_200_services_stored_as_with_10(
        registry: Registry, deep_copies: list[int]) -> None:
    few = copies_for_one_create(registry, 10, deep_copies)
    many = copies_for_one_create(registry, 200, deep_copies)
    assert many == few, (few, many)
