"""Cascading deletion of an owner's dependents (`pkg/controller/garbagecollector`), done at
once when the owner is deleted: Background (and, simplified, Foreground) deletes every object
whose ownerReferences name the owner's uid, through the registry so pods terminate gracefully;
Orphan only drops the reference."""

from __future__ import annotations

from collections.abc import Callable

from probelab.engine.apiserver.status import ApiError
from probelab.engine.core.store import Store
from probelab.k8s.objects import Obj, meta
from probelab.k8s.resources import BY_PLURAL, RESOURCES, ResourceInfo

# Deletes one dependent the way an API DELETE would (the registry's delete, default options).
DeleteDependent = Callable[[ResourceInfo, str | None, str], object]


def owned_by(uid: str | None, obj: Obj) -> bool:
    refs = meta(obj).get("ownerReferences") or []
    return any(isinstance(r, dict) and r.get("uid") == uid for r in refs)


def without_owner(obj: Obj, uid: str | None) -> None:
    refs = [r for r in obj["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
    if refs:
        obj["metadata"]["ownerReferences"] = refs
    else:
        obj["metadata"].pop("ownerReferences", None)


def cascade(store: Store, owner: Obj, propagation: str, delete: DeleteDependent) -> None:
    uid = meta(owner).get("uid")
    namespace = meta(owner).get("namespace")
    if not uid:
        return
    order = {info.plural: i for i, info in enumerate(RESOURCES)}
    found = [(resource, dep) for resource, dep in store.dependents(uid)
             if BY_PLURAL[resource].namespaced and meta(dep).get("namespace") == namespace]
    found.sort(key=lambda item: order[item[0]])  # kind by kind, as the scan did before
    for resource, dep in found:
        info = BY_PLURAL[resource]
        name = meta(dep)["name"]
        if propagation == "Orphan":
            store.mutate(info.plural, namespace, name, lambda obj: without_owner(obj, uid))
        elif not meta(dep).get("deletionTimestamp"):
            try:
                delete(info, namespace, name)
            except ApiError as exc:  # gone meanwhile (a dependent's own cascade)
                if exc.code != 404:
                    raise
