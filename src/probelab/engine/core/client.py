"""How the engine's own components write cluster state: through the API's rules, never around
them.

In Kubernetes the controllers, the scheduler and the kubelet are API clients like kubectl: every
object they create or change passes the same admission (NamespaceLifecycle), defaulting,
validation and resourceVersion checks. The engine keeps that: its components read from the
`Store` (their informer cache) but write only through a `Client`. The one implementation,
`apiserver.client.LocalClient`, calls the API server's registry in-process, so the rules live
once, in `apiserver/registry/`, and a component cannot store an object the API would refuse.

Failures arrive as the store's error classes (`NotFound`, `AlreadyExists`, `Conflict`) or as
`Rejected` with the Status the API server would have sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from probelab.engine.core.store import StoreError
from probelab.k8s.objects import Obj

NAMESPACE_TERMINATING = "NamespaceTerminating"  # v1.NamespaceTerminatingCause


class Rejected(StoreError):
    """The API refused a write (Invalid, Forbidden, BadRequest...): code, reason, causes."""

    def __init__(self, code: int, reason: str, message: str,
                 causes: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.causes = causes  # the `reason` of each Status cause

    def has_cause(self, reason: str) -> bool:
        return reason in self.causes


class Client(Protocol):
    def create(self, resource: str, obj: Obj) -> Obj:
        """Create `obj` in the namespace its metadata names."""
        ...

    def update(self, resource: str, obj: Obj, *, subresource: str | None = None) -> Obj:
        """Replace the object; a `metadata.resourceVersion` in `obj` is a precondition."""
        ...

    def mutate(self, resource: str, namespace: str | None, name: str,
               change: Callable[[Obj], Any], *, subresource: str | None = None) -> Obj | None:
        """Read the object, apply `change` in place, update it unconditionally; None if the
        object is gone."""
        ...

    def delete(self, resource: str, namespace: str | None, name: str, *,
               grace_s: int | None = None, uid: str | None = None) -> Obj | None:
        """Delete as `kubectl delete` does (graceful for pods, cascading to dependents), with
        an optional uid precondition; returns the object as the API returns it, if it does."""
        ...

    def bind(self, namespace: str, name: str, node: str) -> Obj:
        """pods/binding: assign a pod to a node."""
        ...

    def finalize(self, name: str, finalizers: list[str]) -> Obj:
        """namespaces/finalize: set a namespace's finalizers (empty: it may go)."""
        ...
