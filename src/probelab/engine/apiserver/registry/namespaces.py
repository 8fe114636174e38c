"""Namespaces (`pkg/registry/core/namespace/strategy.go` and `storage/storage.go`).

A namespace carries the `kubernetes` finalizer, starts `Active` and always has the immutable
`kubernetes.io/metadata.name` label. DELETE only marks it (deletionTimestamp, phase
`Terminating`); the namespace controller empties it and then calls the `finalize` subresource,
which removes the finalizer, and with the last finalizer gone the namespace itself goes.
The system namespaces cannot be deleted.
"""

from __future__ import annotations

import copy

from probelab.engine.apiserver.params import DeleteOptions
from probelab.engine.apiserver.registry.strategy import Env, Result, Strategy
from probelab.engine.apiserver.status import conflict, forbidden
from probelab.engine.core.clock import rfc3339
from probelab.k8s.objects import Obj, meta
from probelab.k8s.resources import BY_PLURAL

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
NAME_LABEL = "kubernetes.io/metadata.name"


def namespace_rules(obj: Obj) -> Obj:
    """The finalizer, phase Active and the name label, on create and on every update."""
    obj = copy.deepcopy(obj)
    name = obj["metadata"]["name"]
    obj["metadata"].setdefault("labels", {})[NAME_LABEL] = name
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")
    return obj


def new_namespace(name: str) -> Obj:
    return namespace_rules({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


class NamespaceStrategy(Strategy):
    returns_deleted_object = True

    def initial_status(self, obj: Obj) -> Obj:
        return {"phase": "Active"}

    def prepare_for_create(self, env: Env, obj: Obj) -> Obj:
        return namespace_rules(obj)

    def prepare_for_update(self, env: Env, new: Obj, old: Obj) -> Obj:
        return namespace_rules(new)

    def delete(self, env: Env, current: Obj, options: DeleteOptions) -> Result:
        name = meta(current)["name"]
        info = BY_PLURAL["namespaces"]
        if name in SYSTEM_NAMESPACES:
            raise forbidden(info, name, "this namespace may not be deleted")
        if meta(current).get("deletionTimestamp"):
            raise conflict(info, name, "The system is ensuring all content is removed from "
                           "this namespace.  Upon completion, this namespace will "
                           "automatically be purged by the system.")
        store = env.store
        now = rfc3339(store.clock.now())
        if options.dry_run:  # the namespace as the two writes below would leave it
            marked = copy.deepcopy(current)
            marked["metadata"]["deletionTimestamp"] = now
            marked.setdefault("status", {})["phase"] = "Terminating"
            return Result(marked)
        store.mutate("namespaces", None, name,
                     lambda obj: obj["metadata"].__setitem__("deletionTimestamp", now))
        store.mutate("namespaces", None, name,
                     lambda obj: obj.setdefault("status", {}).__setitem__("phase", "Terminating"),
                     subresource="status")
        return Result(store.get("namespaces", None, name))

    def finalize(self, env: Env, current: Obj, finalizers: list[str]) -> Obj:
        """`FinalizeREST`: set `spec.finalizers`; a terminating namespace without finalizers
        is removed (what the namespace controller's last step triggers)."""
        name = meta(current)["name"]
        updated = copy.deepcopy(current)
        updated.setdefault("spec", {})["finalizers"] = list(finalizers)
        updated["metadata"].pop("resourceVersion", None)
        stored = env.store.update("namespaces", updated)
        if meta(stored).get("deletionTimestamp") and not finalizers:
            return env.store.delete("namespaces", None, name)
        return stored
