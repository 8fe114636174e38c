"""The API server's write path, the same for every kind: what create, update, patch and delete
do between the decoded request and the store (`staging/src/k8s.io/apiserver/pkg/registry/
generic/registry/store.go`, `staging/src/k8s.io/apiserver/pkg/registry/rest/create.go` and
`update.go`).

Create: place the object in the URL's namespace, refuse new content in a missing or terminating
namespace (the NamespaceLifecycle admission plugin), drop server-owned metadata and any status,
default, let the kind's strategy prepare it, validate, let the strategy allocate, store (a
`generateName` that collides is retried, as `rest.BeforeCreate` callers do). Update: keep
server-owned metadata, default, prepare, check immutable fields, validate, store with the
resourceVersion precondition. Delete: preconditions, the kind's own deletion or removal, then
the cascade to dependents (`registry.gc`). Everything kind-specific is in `registry.kinds`.

Server-side dry run (`dryRun=All`) runs every one of these steps and stops at the store, which
answers with the object as it would be stored and keeps nothing (`DryRunnableStorage`,
`staging/src/k8s.io/apiserver/pkg/registry/generic/registry/dryrun.go`). So a strategy that
writes the store itself (a graceful delete) passes `dry_run` on; allocations (ClusterIPs,
NodePorts) are read from the stored Services, so a dry-run one holds nothing.

The HTTP handlers and the in-process client (`apiserver.client`, used by the controllers, the
kubelet and the proxy) both come here, so every write obeys the same rules once.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from probelab.engine.apiserver import model
from probelab.engine.apiserver.params import DeleteOptions
from probelab.engine.apiserver.registry import allocation, gc, scale
from probelab.engine.apiserver.registry import decode as decoding
from probelab.engine.apiserver.registry.kinds import NAMESPACES, PODS, strategy_for
from probelab.engine.apiserver.registry.namespaces import SYSTEM_NAMESPACES, new_namespace
from probelab.engine.apiserver.registry.strategy import Env, Result
from probelab.engine.apiserver.status import (
    already_exists,
    bad_request,
    conflict,
    field_cause,
    forbidden,
    from_store_error,
    internal,
    invalid,
    not_found,
    success_status,
)
from probelab.engine.core.client import NAMESPACE_TERMINATING
from probelab.engine.core.store import AlreadyExists, NotFound, Store, StoreError
from probelab.k8s.objects import Obj
from probelab.k8s.resources import BY_PLURAL, ResourceInfo

SERVER_OWNED = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                "generation", "managedFields")
GENERATE_NAME_TRIES = 8  # a generated name that is taken is tried again with a new suffix

__all__ = ["Registry", "Result"]


class Registry:
    def __init__(self, store: Store, rng: random.Random | None = None,
                 service_prefix: str = "127.96") -> None:
        self.store = store
        self.env = Env(store, rng or random.Random(), service_prefix)
        allocation.add_indexes(store)

    # ---- bootstrap -------------------------------------------------------------------------
    def ensure_system_namespaces(self) -> None:
        for name in SYSTEM_NAMESPACES:
            if self.store.find("namespaces", None, name) is None:
                self.store.create("namespaces", new_namespace(name))

    def decode(self, info: ResourceInfo, group_version: str, body: Any, field_validation: str,
               ) -> tuple[Obj, list[str]]:
        return decoding.decode(info, group_version, body, field_validation)

    # ---- create ----------------------------------------------------------------------------
    def create(self, info: ResourceInfo, namespace: str | None, obj: Obj,
               dry_run: bool = False) -> Obj:
        strategy = strategy_for(info.plural)
        m = obj.setdefault("metadata", {})
        self._place(info, namespace, obj)
        name = m.get("name") or m.get("generateName") or ""
        if not m.get("name") and not m.get("generateName"):
            raise invalid(info, "", [field_cause(
                "metadata.name", "Required value: name or generateName is required",
                "FieldValueRequired")])
        if m.get("resourceVersion"):
            raise internal("resourceVersion should not be set on objects to be created")
        if info.namespaced:
            self._check_namespace_open(info, namespace or "", name)
        for server_field in SERVER_OWNED:
            m.pop(server_field, None)
        if "status" in info.subresources:
            obj["status"] = strategy.initial_status(obj)
        obj = strategy.prepare_for_create(self.env, model.apply_defaults(obj))
        self._check(info, obj, None)
        obj = strategy.begin_write(self.env, obj, None)
        tries = 1 if obj["metadata"].get("name") else GENERATE_NAME_TRIES
        for attempt in range(1, tries + 1):
            try:
                return self.store.create(info.plural, obj, dry_run=dry_run)
            except AlreadyExists:
                if attempt == tries:
                    raise already_exists(info, name) from None
            except StoreError as exc:
                raise from_store_error(exc, info, name) from None
        raise AssertionError("unreachable")

    # ---- update ----------------------------------------------------------------------------
    def update(self, info: ResourceInfo, namespace: str | None, name: str, obj: Obj,
               subresource: str | None = None, dry_run: bool = False) -> Obj:
        strategy = strategy_for(info.plural)
        m = obj.setdefault("metadata", {})
        if m.get("name") and m["name"] != name:
            raise bad_request(f"the name of the object ({m['name']}) does not match the name "
                              f"on the URL ({name})")
        m["name"] = name
        self._place(info, namespace, obj)
        old = self._stored(info, namespace, name)  # read only: never mutated below
        for kept in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            m.pop(kept, None)
            if kept in old["metadata"]:
                m[kept] = old["metadata"][kept]
        m.pop("managedFields", None)
        if subresource != "status":
            obj = strategy.prepare_for_update(self.env, model.apply_defaults(obj), old)
            causes = strategy.validate_update(old, obj)
            if causes:
                raise invalid(info, name, causes)
            self._check(info, obj, old)
            obj = strategy.begin_write(self.env, obj, old)
        with _as_api_errors(info, name):
            return self.store.update(info.plural, obj, subresource=subresource,
                                     dry_run=dry_run)

    def patch(self, info: ResourceInfo, namespace: str | None, name: str, served: Obj,
              patch_doc: Any, patch_type: str, group_version: str, field_validation: str,
              subresource: str | None = None, dry_run: bool = False
              ) -> tuple[Obj, list[str]]:
        """Apply a patch to the object as served (`served`), then update it."""
        patched = model.apply_patch(served, patch_doc, patch_type, info.kind)
        if not isinstance(patched, dict):
            raise bad_request("the patch produced a non-object")
        precondition = decoding.patch_resource_version(patch_doc)
        obj, warnings = self.decode(info, group_version, patched, field_validation)
        obj.setdefault("metadata", {})["resourceVersion"] = (
            precondition or served["metadata"].get("resourceVersion"))
        return self.update(info, namespace, name, obj, subresource, dry_run), warnings

    # ---- delete ----------------------------------------------------------------------------
    def delete(self, info: ResourceInfo, namespace: str | None, name: str,
               options: DeleteOptions) -> Result:
        strategy = strategy_for(info.plural)
        current = self.get_object(info, namespace, name)
        self._check_preconditions(info, current, options)
        with _as_api_errors(info, name):
            own = strategy.delete(self.env, current, options)
            if own is not None:
                return own
            gone = self.store.delete(info.plural, namespace, name, dry_run=options.dry_run)
        if options.dry_run:  # nothing was removed, so no dependent loses its owner
            return Result(gone if strategy.returns_deleted_object else success_status(
                info, name, gone["metadata"].get("uid")))
        gc.cascade(self.store, gone, options.propagation,
                   lambda info, ns, dep: self.delete(info, ns, dep, DeleteOptions()))
        if strategy.returns_deleted_object:
            return Result(gone)
        return Result(success_status(info, name, gone["metadata"].get("uid")))

    # ---- subresources ----------------------------------------------------------------------
    def get_scale(self, info: ResourceInfo, namespace: str | None, name: str) -> Obj:
        return scale.scale_of(self.get_object(info, namespace, name))

    def update_scale(self, info: ResourceInfo, namespace: str | None, name: str,
                     body: Any, dry_run: bool = False) -> Obj:
        obj = scale.scaled(info, self.get_object(info, namespace, name), body)
        return scale.scale_of(self.update(info, namespace, name, obj, dry_run=dry_run))

    def bind(self, namespace: str, name: str, node: str) -> Obj:
        """pods/binding: assign the pod to `node` (the scheduler's write)."""
        info = BY_PLURAL["pods"]
        with _as_api_errors(info, name):
            return PODS.bind(self.env, self.get_object(info, namespace, name), node)

    def finalize(self, name: str, finalizers: list[str]) -> Obj:
        """namespaces/finalize: the namespace controller's last step."""
        info = BY_PLURAL["namespaces"]
        with _as_api_errors(info, name):
            return NAMESPACES.finalize(self.env, self.get_object(info, None, name), finalizers)

    # ---- helpers ---------------------------------------------------------------------------
    def _stored(self, info: ResourceInfo, namespace: str | None, name: str) -> Obj:
        try:
            return self.store.peek(info.plural, namespace if info.namespaced else None, name)
        except NotFound:
            raise not_found(info, name) from None

    def get_object(self, info: ResourceInfo, namespace: str | None, name: str) -> Obj:
        try:
            return self.store.get(info.plural, namespace if info.namespaced else None, name)
        except NotFound:
            raise not_found(info, name) from None

    def _place(self, info: ResourceInfo, namespace: str | None, obj: Obj) -> None:
        m = obj["metadata"]
        if not info.namespaced:
            m.pop("namespace", None)
            return
        body_ns = m.get("namespace")
        if body_ns and body_ns != namespace:
            raise bad_request("the namespace of the provided object does not match the "
                              "namespace sent on the request")
        m["namespace"] = namespace

    def _check_namespace_open(self, info: ResourceInfo, namespace: str, name: str) -> None:
        """NamespaceLifecycle (`plugin/pkg/admission/namespace/lifecycle`): no new content in
        a namespace that does not exist or is being deleted."""
        ns = self.store.find("namespaces", None, namespace)
        if ns is None:
            raise not_found(BY_PLURAL["namespaces"], namespace)
        if ns["metadata"].get("deletionTimestamp"):
            err = forbidden(info, name, f"unable to create new content in namespace "
                            f"{namespace} because it is being terminated")
            err.details = {**(err.details or {}), "causes": [{
                "reason": NAMESPACE_TERMINATING, "message": f"namespace {namespace} is "
                "being terminated", "field": "metadata.namespace"}]}
            raise err

    def _check(self, info: ResourceInfo, obj: Obj, old: Obj | None) -> None:
        causes = model.validate(obj, old)
        if causes:
            raise invalid(info, obj["metadata"].get("name", ""), causes)

    def _check_preconditions(self, info: ResourceInfo, obj: Obj, options: DeleteOptions) -> None:
        m = obj["metadata"]
        name = m["name"]
        if options.precondition_uid and options.precondition_uid != m.get("uid"):
            raise conflict(info, name, f"Precondition failed: UID in precondition: "
                           f"{options.precondition_uid}, UID in object meta: {m.get('uid')}")
        if options.precondition_rv and options.precondition_rv != m.get("resourceVersion"):
            raise conflict(info, name, "Precondition failed: ResourceVersion in precondition: "
                           f"{options.precondition_rv}, ResourceVersion in object meta: "
                           f"{m.get('resourceVersion')}")


@contextmanager
def _as_api_errors(info: ResourceInfo, name: str) -> Iterator[None]:
    """A store error (NotFound, Conflict...) as the Status the API answers with."""
    try:
        yield
    except StoreError as exc:
        raise from_store_error(exc, info, name) from None
