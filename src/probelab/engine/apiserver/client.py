"""`LocalClient`: the engine components' API client, the registry called in-process.

It does what an HTTP round trip through `apiserver.handlers` would do for a typed client (no
encoding, no authentication: the callers are the engine itself) and turns the API's `Status`
errors into the `core` error classes components handle (`core.client`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from probelab.engine.apiserver.params import DeleteOptions
from probelab.engine.apiserver.registry.generic import Registry
from probelab.engine.apiserver.status import ApiError
from probelab.engine.core.client import Rejected
from probelab.engine.core.store import AlreadyExists, Conflict, NotFound, StoreError
from probelab.k8s.objects import Obj, meta
from probelab.k8s.resources import BY_PLURAL


@contextmanager
def _as_store_errors() -> Iterator[None]:
    try:
        yield
    except ApiError as exc:
        raise _translate(exc) from None


def _own(obj: Obj) -> Obj:
    """What the registry may change of a caller's object: the top level and `metadata` (it
    defaults into a deep copy of its own); a shallow copy of those keeps the caller's object
    intact without deep-copying the whole of it on every write."""
    return {**obj, "metadata": dict(obj.get("metadata") or {})}


def _translate(exc: ApiError) -> StoreError:
    if exc.code == 404:
        return NotFound(exc.message)
    if exc.code == 409 and exc.reason == "AlreadyExists":
        return AlreadyExists(exc.message)
    if exc.code == 409:
        return Conflict(exc.message)
    causes = tuple(str(c.get("reason", "")) for c in (exc.details or {}).get("causes") or ()
                   if isinstance(c, dict))
    return Rejected(exc.code, exc.reason, exc.message, causes)


class LocalClient:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def create(self, resource: str, obj: Obj) -> Obj:
        info = BY_PLURAL[resource]
        with _as_store_errors():
            return self.registry.create(info, meta(obj).get("namespace"), _own(obj))

    def update(self, resource: str, obj: Obj, *, subresource: str | None = None) -> Obj:
        info = BY_PLURAL[resource]
        m = meta(obj)
        with _as_store_errors():
            return self.registry.update(info, m.get("namespace"), m.get("name") or "",
                                        _own(obj), subresource)

    def mutate(self, resource: str, namespace: str | None, name: str,
               change: Callable[[Obj], Any], *, subresource: str | None = None) -> Obj | None:
        current = self.registry.store.find(resource, namespace, name)
        if current is None:
            return None
        change(current)
        current["metadata"].pop("resourceVersion", None)
        try:
            return self.update(resource, current, subresource=subresource)
        except NotFound:
            return None

    def delete(self, resource: str, namespace: str | None, name: str, *,
               grace_s: int | None = None, uid: str | None = None) -> Obj | None:
        info = BY_PLURAL[resource]
        options = DeleteOptions(grace_period_s=grace_s, precondition_uid=uid)
        with _as_store_errors():
            result = self.registry.delete(info, namespace, name, options)
        return result.obj if result.obj.get("kind") != "Status" else None

    def bind(self, namespace: str, name: str, node: str) -> Obj:
        with _as_store_errors():
            return self.registry.bind(namespace, name, node)

    def finalize(self, name: str, finalizers: list[str]) -> Obj:
        with _as_store_errors():
            return self.registry.finalize(name, finalizers)
