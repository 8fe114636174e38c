"""The store: metadata rules, optimistic concurrency, and watches that miss nothing."""

import asyncio

import pytest

from probelab.engine.core.clock import FakeClock
from probelab.engine.core.store import AlreadyExists, Conflict, EventType, Gone, NotFound, Store
from probelab.k8s.labels import parse


def deployment(name: str = "web", replicas: int = 1) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "ns", "labels": {"app": name}},
            "spec": {"replicas": replicas}}


def test_create_fills_metadata_and_rejects_duplicates() -> None:
    store = Store(FakeClock())
    obj = store.create("deployments", deployment())
    m = obj["metadata"]
    assert m["uid"] and m["generation"] == 1 and m["creationTimestamp"].endswith("Z")
    assert int(m["resourceVersion"]) == store.resource_version
    with pytest.raises(AlreadyExists):
        store.create("deployments", deployment())


def test_generate_name() -> None:
    store = Store(FakeClock())
    obj = store.create("pods", {"metadata": {"generateName": "web-", "namespace": "ns"}})
    assert obj["metadata"]["name"].startswith("web-") and len(obj["metadata"]["name"]) == 9


def test_update_generation_status_and_conflicts() -> None:
    store = Store(FakeClock())
    obj = store.create("deployments", deployment())
    obj["status"] = {"replicas": 5}
    obj["spec"]["replicas"] = 3
    updated = store.update("deployments", obj)
    assert updated["metadata"]["generation"] == 2
    assert "status" not in updated  # the main resource ignores status
    with pytest.raises(Conflict):
        store.update("deployments", obj)  # stale resourceVersion
    status = store.update("deployments", {**updated, "status": {"replicas": 3}},
                          subresource="status")
    assert status["status"] == {"replicas": 3} and status["metadata"]["generation"] == 2
    same = store.update("deployments", status)
    assert same["metadata"]["resourceVersion"] == status["metadata"]["resourceVersion"]


def test_get_list_delete() -> None:
    store = Store(FakeClock())
    store.create("deployments", deployment("a"))
    store.create("deployments", deployment("b"))
    objs, _ = store.list("deployments", "ns", parse("app=b"))
    assert [o["metadata"]["name"] for o in objs] == ["b"]
    store.delete("deployments", "ns", "a")
    with pytest.raises(NotFound):
        store.get("deployments", "ns", "a")
    with pytest.raises(NotFound):
        store.delete("deployments", "ns", "a")


def test_watch_from_resource_version_sees_every_change_once_in_order() -> None:
    async def scenario() -> list[tuple[str, int]]:
        store = Store(FakeClock())
        start = store.create("deployments", deployment("a"))
        since = int(start["metadata"]["resourceVersion"])
        store.mutate("deployments", "ns", "a", lambda o: o["spec"].update(replicas=2))
        watcher = store.watch("deployments", "ns", since=since)
        store.create("deployments", deployment("b"))
        store.delete("deployments", "ns", "a")
        seen = []
        for _ in range(3):
            event = await asyncio.wait_for(watcher.queue.get(), 1)
            seen.append((event.type, event.rv))
        watcher.close()
        watcher.close()
        return seen

    seen = asyncio.run(scenario())
    assert [t for t, _ in seen] == [EventType.MODIFIED, EventType.ADDED, EventType.DELETED]
    assert [rv for _, rv in seen] == sorted(rv for _, rv in seen)


def test_watch_without_version_lists_first_and_too_old_is_gone() -> None:
    async def scenario() -> None:
        store = Store(FakeClock(), history=2)
        for name in "abcd":
            store.create("deployments", deployment(name))
        watcher = store.watch("deployments")
        names = [(await watcher.queue.get()).obj["metadata"]["name"] for _ in range(4)]
        assert names == list("abcd")
        with pytest.raises(Gone):
            store.watch("deployments", since=1)

    asyncio.run(scenario())
