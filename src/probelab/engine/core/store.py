"""The object store: every API object of the engine, its resourceVersion, and watch fan-out.

The API server, the controllers, the kubelet and the proxy all read and write through one
`Store` in one asyncio loop, so there are no locks: each call is atomic. The store applies only
the generic metadata rules of the API machinery (uid, resourceVersion, generation,
creationTimestamp, optimistic concurrency, status vs main resource); per-kind rules (graceful
pod deletion, namespace cascade, defaulting, validation, service allocation) live in the
registry on top of it.

Reads cost what they return, not what is stored: objects are kept by resource and namespace,
by owner uid, and in named indexes a component registers for what it looks up (`add_index`, as
client-go informers take `Indexers`): the registry finds the ClusterIPs and NodePorts in use,
the EndpointSlice controller the slices of one Service, the garbage collector an owner's
dependents, each without copying or scanning every object of the kind. Only what a read returns
is deep-copied, so callers still never share the stored objects.

Watch semantics follow `staging/src/k8s.io/apiserver/pkg/storage/cacher`: a watch from a
resourceVersion replays every later change exactly once, in order; one older than the kept
history fails with `Gone` (HTTP 410).
"""

from __future__ import annotations

import asyncio
import copy
import secrets
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from probelab.engine.core.clock import Clock, SystemClock, rfc3339
from probelab.k8s.labels import Selector
from probelab.k8s.objects import Obj
from probelab.k8s.resources import BY_PLURAL


class EventType(Enum):
    ADDED = "ADDED"  # the object was created (or existed when the watch started)
    MODIFIED = "MODIFIED"  # the object changed
    DELETED = "DELETED"  # the object is gone; the event carries its last state
    BOOKMARK = "BOOKMARK"  # only a resourceVersion, to let a client resume cheaply


@dataclass(frozen=True)
class WatchEvent:
    type: EventType
    resource: str
    obj: Obj  # never mutated after publication; copy before changing
    rv: int


class StoreError(Exception):
    """Base of store errors; the API server maps each to a Status."""

    code = 500
    reason = "InternalError"


class NotFound(StoreError):
    code, reason = 404, "NotFound"


class AlreadyExists(StoreError):
    code, reason = 409, "AlreadyExists"


class Conflict(StoreError):
    code, reason = 409, "Conflict"


class Gone(StoreError):
    code, reason = 410, "Expired"


Key = tuple[str, str]  # (namespace or "", name)
IndexFunc = Callable[[Obj], Iterable[Hashable]]  # the values an object is indexed under


def key_of(obj: Obj) -> tuple[str, str]:
    m = obj.get("metadata") or {}
    return (m.get("namespace") or "", m.get("name") or "")


def _without(obj: Obj, *fields: str) -> Obj:
    return {k: v for k, v in obj.items() if k not in fields}


def _random_suffix(n: int = 5) -> str:
    # Kubernetes' generateName alphabet avoids vowels and confusable characters.
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(secrets.choice(alphabet) for _ in range(n))


@dataclass(eq=False)
class Watcher:
    """One watch stream: an async iterator of events, closed by the client or the store."""

    resource: str
    namespace: str | None
    selector: Selector | None
    queue: asyncio.Queue[WatchEvent | None] = field(default_factory=asyncio.Queue)
    closed: bool = False
    _store: Store | None = None

    def wants(self, event: WatchEvent) -> bool:
        if event.resource != self.resource:
            return False
        m = event.obj.get("metadata") or {}
        if self.namespace and m.get("namespace") != self.namespace:
            return False
        return self.selector is None or self.selector.matches(m.get("labels"))

    def __aiter__(self) -> AsyncIterator[WatchEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[WatchEvent]:
        while True:
            event = await self.queue.get()
            if event is None:
                return
            yield event

    def close(self) -> None:
        """Stop the stream; safe to call twice."""
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(None)
            if self._store is not None:
                self._store._watchers.discard(self)


class Store:
    """All objects by resource, then (namespace, name)."""

    def __init__(self, clock: Clock | None = None, history: int = 100_000) -> None:
        self.clock = clock or SystemClock()
        self._objects: dict[str, dict[Key, Obj]] = {r: {} for r in BY_PLURAL}
        self._by_namespace: dict[str, dict[str, set[Key]]] = {r: {} for r in BY_PLURAL}
        self._by_owner: dict[str, set[tuple[str, Key]]] = {}  # owner uid -> (resource, key)
        self._index_funcs: dict[str, dict[str, IndexFunc]] = {r: {} for r in BY_PLURAL}
        self._indexes: dict[tuple[str, str], dict[Hashable, set[Key]]] = {}
        self._rv = 1
        self._history: deque[WatchEvent] = deque(maxlen=history)
        self._watchers: set[Watcher] = set()

    # ---- indexes -----------------------------------------------------------------------
    def add_index(self, resource: str, name: str, values: IndexFunc) -> None:
        """Keep the objects of `resource` findable by `values(obj)` (see `indexed`); built
        from what is stored now, kept up to date by every write. Adding a name again
        replaces that index."""
        self._table(resource)
        self._index_funcs[resource][name] = values
        index: dict[Hashable, set[Key]] = {}
        for key, obj in self._objects[resource].items():
            for value in values(obj):
                index.setdefault(value, set()).add(key)
        self._indexes[(resource, name)] = index

    def indexed(self, resource: str, name: str, value: Hashable) -> frozenset[Key]:
        """The keys of the objects `add_index`'s function put under `value`."""
        return frozenset(self._indexes[(resource, name)].get(value, ()))

    def index_size(self, resource: str, name: str) -> int:
        """How many distinct values index `name` holds."""
        return len(self._indexes[(resource, name)])

    def _reindex(self, resource: str, key: Key, old: Obj | None, new: Obj | None) -> None:
        """Move `key` from the index entries of `old` to those of `new` (None: absent)."""
        names = self._by_namespace[resource]
        if old is None:
            names.setdefault(key[0], set()).add(key)
        elif new is None:
            names[key[0]].discard(key)
            if not names[key[0]]:
                del names[key[0]]
        old_owners, new_owners = _owner_uids(old), _owner_uids(new)
        for uid in old_owners - new_owners:
            self._by_owner[uid].discard((resource, key))
            if not self._by_owner[uid]:
                del self._by_owner[uid]
        for uid in new_owners - old_owners:
            self._by_owner.setdefault(uid, set()).add((resource, key))
        for name, values in self._index_funcs[resource].items():
            index = self._indexes[(resource, name)]
            before = set(values(old)) if old is not None else set()
            after = set(values(new)) if new is not None else set()
            for value in before - after:
                index[value].discard(key)
                if not index[value]:
                    del index[value]
            for value in after - before:
                index.setdefault(value, set()).add(key)

    # ---- reads -------------------------------------------------------------------------
    @property
    def resource_version(self) -> int:
        return self._rv

    def _table(self, resource: str) -> dict[tuple[str, str], Obj]:
        try:
            return self._objects[resource]
        except KeyError:
            msg = f'the server could not find the requested resource "{resource}"'
            raise NotFound(msg) from None

    def get(self, resource: str, namespace: str | None, name: str) -> Obj:
        obj = self._table(resource).get((namespace or "", name))
        if obj is None:
            info = BY_PLURAL[resource]
            group = f".{info.group}" if info.group else ""
            raise NotFound(f'{resource}{group} "{name}" not found')
        return copy.deepcopy(obj)

    def peek(self, resource: str, namespace: str | None, name: str) -> Obj:
        """The stored object itself, not a copy: for the API server's write path, which only
        reads the old object of an update (a deep copy there was most of an update's cost).
        Never mutate it. Raises NotFound like `get`."""
        obj = self._table(resource).get((namespace or "", name))
        if obj is None:
            self.get(resource, namespace, name)  # raises NotFound with the usual message
        return obj  # type: ignore[return-value]

    def find(self, resource: str, namespace: str | None, name: str) -> Obj | None:
        """Like `get` but None when absent (for controllers)."""
        obj = self._table(resource).get((namespace or "", name))
        return copy.deepcopy(obj) if obj is not None else None

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        selector: Selector | None = None,
        where: Callable[[Obj], bool] | None = None,
    ) -> tuple[list[Obj], int]:
        """Matching objects sorted by (namespace, name), and the store's resourceVersion.

        Only the objects of `namespace` are looked at, and only the matching ones copied."""
        table = self._table(resource)
        if namespace:
            keys: Iterable[Key] = sorted(self._by_namespace[resource].get(namespace, ()))
        else:
            keys = sorted(table)
        return self._matching(resource, keys, selector, where), self._rv

    def get_many(self, resource: str, keys: Iterable[Key]) -> list[Obj]:
        """Copies of the objects at `keys` that exist, sorted by (namespace, name): what
        `indexed` found."""
        return self._matching(resource, sorted(keys), None, None)

    def dependents(self, owner_uid: str) -> list[tuple[str, Obj]]:
        """(resource, copy) of every object with an ownerReference to `owner_uid`."""
        refs = sorted(self._by_owner.get(owner_uid, ()))
        return [(resource, copy.deepcopy(self._objects[resource][key]))
                for resource, key in refs]

    def _matching(self, resource: str, keys: Iterable[Key], selector: Selector | None,
                  where: Callable[[Obj], bool] | None) -> list[Obj]:
        table = self._objects[resource]
        out = []
        for key in keys:
            obj = table.get(key)
            if obj is None:
                continue
            if selector is not None and not selector.matches(obj["metadata"].get("labels")):
                continue
            if where is not None and not where(obj):
                continue
            out.append(copy.deepcopy(obj))
        return out

    # ---- writes ------------------------------------------------------------------------
    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def _publish(self, type_: EventType, resource: str, obj: Obj, rv: int) -> None:
        event = WatchEvent(type_, resource, copy.deepcopy(obj), rv)
        self._history.append(event)
        for watcher in list(self._watchers):
            if watcher.wants(event):
                watcher.queue.put_nowait(event)

    def create(self, resource: str, obj: Obj, *, dry_run: bool = False) -> Obj:
        """Store a new object; fills uid, resourceVersion, creationTimestamp, generation.

        `dry_run` (`?dryRun=All`) checks and fills the same way but stores nothing, publishes
        nothing and hands out no resourceVersion, as `DryRunnableStorage.Create`
        (`staging/src/k8s.io/apiserver/pkg/registry/generic/registry/dryrun.go`) answers with
        the object as it would have been stored, a fresh uid and no resourceVersion.
        """
        table = self._table(resource)
        obj = copy.deepcopy(obj)
        m = obj.setdefault("metadata", {})
        if not m.get("name") and m.get("generateName"):
            m["name"] = m["generateName"] + _random_suffix()
        key = key_of(obj)
        if key in table:
            info = BY_PLURAL[resource]
            group = f".{info.group}" if info.group else ""
            raise AlreadyExists(f'{resource}{group} "{key[1]}" already exists')
        m["uid"] = m.get("uid") or str(uuid.uuid4())  # a Job strategy names it first
        m["creationTimestamp"] = rfc3339(self.clock.now())
        if "spec" in obj:
            m["generation"] = 1
        if dry_run:
            m.pop("resourceVersion", None)
            return obj
        rv = self._next_rv()
        m["resourceVersion"] = str(rv)
        table[key] = obj
        self._reindex(resource, key, None, obj)
        self._publish(EventType.ADDED, resource, obj, rv)
        return copy.deepcopy(obj)

    def update(self, resource: str, obj: Obj, *, subresource: str | None = None,
               dry_run: bool = False) -> Obj:
        """Replace an object (main resource keeps the stored status; `status` keeps the rest).

        A stale `metadata.resourceVersion` raises Conflict; an absent one skips the check
        (as Kubernetes allows for unconditional updates). A no-op returns the stored object
        unchanged, without a new resourceVersion or event. `dry_run` returns the object as it
        would be stored, with the stored resourceVersion, and changes nothing (the dry-run
        `GuaranteedUpdate` of `dryrun.go`).
        """
        table = self._table(resource)
        key = key_of(obj)
        current = table.get(key)
        if current is None:
            self.get(resource, key[0], key[1])  # raises NotFound with the usual message
            raise AssertionError("unreachable")
        wanted_rv = (obj.get("metadata") or {}).get("resourceVersion")
        if wanted_rv and str(wanted_rv) != current["metadata"]["resourceVersion"]:
            raise Conflict(
                f'Operation cannot be fulfilled on {resource} "{key[1]}": the object has been '
                "modified; please apply your changes to the latest version and try again"
            )
        if subresource == "status":
            new = copy.deepcopy(current)
            if "status" in obj:
                new["status"] = copy.deepcopy(obj["status"])
        else:
            new = copy.deepcopy(obj)
            if subresource is None and _has_status_subresource(resource):
                new.pop("status", None)
                if "status" in current:
                    new["status"] = copy.deepcopy(current["status"])
        m, old_m = new.setdefault("metadata", {}), current["metadata"]
        for fixed in ("uid", "creationTimestamp", "namespace", "name"):
            if fixed in old_m:
                m[fixed] = old_m[fixed]
        if subresource == "status":
            m.update({k: v for k, v in old_m.items() if k != "resourceVersion"})
        m["resourceVersion"] = old_m["resourceVersion"]
        if "generation" in old_m:
            m["generation"] = old_m["generation"]
            if _spec_changed(current, new):
                m["generation"] = old_m["generation"] + 1
        if new == current:
            return copy.deepcopy(current)
        if dry_run:
            return new
        rv = self._next_rv()
        m["resourceVersion"] = str(rv)
        table[key] = new
        self._reindex(resource, key, current, new)
        self._publish(EventType.MODIFIED, resource, new, rv)
        return copy.deepcopy(new)

    def mutate(
        self, resource: str, namespace: str | None, name: str, change: Callable[[Obj], Any],
        *, subresource: str | None = None,
    ) -> Obj | None:
        """Read, apply `change` in place, write back. None if the object is gone."""
        obj = self.find(resource, namespace, name)
        if obj is None:
            return None
        change(obj)
        obj["metadata"].pop("resourceVersion", None)
        return self.update(resource, obj, subresource=subresource)

    def delete(self, resource: str, namespace: str | None, name: str, *,
               dry_run: bool = False) -> Obj:
        """Remove an object now and publish DELETED with its last state (`dry_run`: only
        the object as it is, nothing removed)."""
        table = self._table(resource)
        key = (namespace or "", name)
        if key not in table:
            self.get(resource, namespace, name)
        if dry_run:
            return copy.deepcopy(table[key])
        obj = table.pop(key)
        self._reindex(resource, key, obj, None)
        rv = self._next_rv()
        obj["metadata"]["resourceVersion"] = str(rv)
        self._publish(EventType.DELETED, resource, obj, rv)
        return copy.deepcopy(obj)

    # ---- watch -------------------------------------------------------------------------
    def watch(
        self,
        resource: str,
        namespace: str | None = None,
        selector: Selector | None = None,
        since: int | None = None,
    ) -> Watcher:
        """Events after resourceVersion `since`; with `since=None`, every current object as
        ADDED first (what `watch` without a resourceVersion returns), then the changes."""
        self._table(resource)
        watcher = Watcher(resource, namespace, selector, _store=self)
        if since is None:
            objs, rv = self.list(resource, namespace, selector)
            for obj in objs:
                watcher.queue.put_nowait(WatchEvent(EventType.ADDED, resource, obj, rv))
        else:
            oldest = self._history[0].rv if self._history else self._rv + 1
            if since < oldest - 1 and since < self._rv:
                raise Gone(f"too old resource version: {since} ({oldest - 1})")
            for event in self._history:
                if event.rv > since and watcher.wants(event):
                    watcher.queue.put_nowait(event)
        self._watchers.add(watcher)
        return watcher

    def close_watchers(self) -> None:
        """End every watch stream (engine shutdown)."""
        for watcher in list(self._watchers):
            watcher.close()


def _owner_uids(obj: Obj | None) -> set[str]:
    if obj is None:
        return set()
    refs = obj["metadata"].get("ownerReferences") or []
    return {r["uid"] for r in refs if isinstance(r, dict) and isinstance(r.get("uid"), str)}


def _has_status_subresource(resource: str) -> bool:
    return "status" in BY_PLURAL[resource].subresources


def _spec_changed(old: Obj, new: Obj) -> bool:
    """Kubernetes bumps `metadata.generation` on changes outside metadata and status
    (`pkg/registry/apps/deployment/strategy.go` PrepareForUpdate), and on setting
    deletionTimestamp."""
    ignore = ("metadata", "status", "apiVersion", "kind")
    if _without(old, *ignore) != _without(new, *ignore):
        return True
    return bool(new["metadata"].get("deletionTimestamp")) and not old["metadata"].get(
        "deletionTimestamp"
    )
