"""Per-kind rules of the API server on top of the store: what happens on create, update, patch
and delete of each resource, before and after the generic metadata rules of `Store`.

Mirrors `pkg/registry/<group>/<kind>/strategy.go` (PrepareForCreate/Update, Validate) and
`staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go` (namespace checks, graceful
deletion, returning the deleted object or a Status). Service address allocation lives in
`registry.allocation`, the k8s model calls in `apiserver.model`.
Callers: the API handlers (`apiserver.handlers`).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from probelab.engine.apiserver import model
from probelab.engine.apiserver.params import DeleteOptions
from probelab.engine.apiserver.registry import allocation
from probelab.engine.apiserver.status import (
    ApiError,
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
from probelab.engine.core import deletion
from probelab.engine.core.clock import rfc3339
from probelab.engine.core.store import NotFound, Obj, Store, StoreError
from probelab.k8s.labels import SelectorError, from_label_selector
from probelab.k8s.resources import BY_PLURAL, RESOURCES, ResourceInfo

# Kinds whose DELETE returns the object rather than a Status (`ReturnDeletedObject` in their
# REST storage, and namespaces/pods that stay while they terminate).
RETURNS_OBJECT = frozenset({"pods", "services", "namespaces"})
# Namespaces every cluster has; they cannot be deleted (`pkg/registry/core/namespace`).
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
SELECTOR_IMMUTABLE = frozenset({"deployments", "replicasets"})


@dataclass
class Result:
    """What a write returns to the client: the object (or a Status), and Warning headers."""

    obj: Obj
    warnings: list[str] = field(default_factory=list)
    code: int = 200


class Registry:
    def __init__(self, store: Store, rng: random.Random | None = None,
                 service_prefix: str = "127.96") -> None:
        self.store = store
        self.rng = rng or random.Random()
        self.service_prefix = service_prefix

    # ---- bootstrap -------------------------------------------------------------------------
    def ensure_system_namespaces(self) -> None:
        for name in SYSTEM_NAMESPACES:
            if self.store.find("namespaces", None, name) is None:
                self.store.create("namespaces", _new_namespace(name))

    # ---- decoding --------------------------------------------------------------------------
    def decode(self, info: ResourceInfo, group_version: str, body: Any, field_validation: str,
               ) -> tuple[Obj, list[str]]:
        """Check kind/apiVersion against the URL, convert legacy versions, check unknown fields.

        Missing kind/apiVersion are taken from the URL, as the real decoder defaults them.
        """
        if not isinstance(body, dict):
            raise bad_request(f"Object 'Kind' is missing in '{str(body)[:200]}'")
        obj = copy.deepcopy(body)
        api_version = obj.get("apiVersion") or group_version
        kind = obj.get("kind") or info.kind
        if not isinstance(api_version, str) or not isinstance(kind, str):
            raise bad_request("apiVersion and kind must be strings")
        if api_version != group_version:
            raise bad_request(f"the API version in the data ({api_version}) does not match the "
                              f"expected API version ({group_version})")
        if kind != info.kind:
            raise bad_request(f'{kind} in version "{api_version}" cannot be handled as a '
                              f'{info.kind}: no kind "{kind}" is registered for the URL')
        obj["apiVersion"], obj["kind"] = api_version, kind
        _check_metadata_types(obj)
        warnings: list[str] = []
        obj, warning = model.to_served_version(obj)
        if warning:
            warnings.append(warning)
        wrong = model.type_errors(obj)
        if wrong:  # a real server fails these while decoding, before any validation
            version = group_version.rsplit("/", 1)[-1]
            raise bad_request(f'{info.kind} in version "{version}" cannot be handled as a '
                              f"{info.kind}: " + "; ".join(wrong))
        unknown = model.unknown_fields(obj) if field_validation != "Ignore" else []
        if unknown and field_validation == "Strict":
            version = group_version.rsplit("/", 1)[-1]
            raise bad_request(f'{info.kind} in version "{version}" cannot be handled as a '
                              f"{info.kind}: strict decoding error: "
                              + ", ".join(f'unknown field "{p}"' for p in unknown))
        warnings.extend(f'unknown field "{p}"' for p in unknown)
        obj["apiVersion"], obj["kind"] = info.api_version, info.kind
        return obj, warnings

    # ---- create ----------------------------------------------------------------------------
    def create(self, info: ResourceInfo, namespace: str | None, obj: Obj) -> Obj:
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
        for server_field in ("uid", "creationTimestamp", "deletionTimestamp",
                             "deletionGracePeriodSeconds", "generation", "managedFields"):
            m.pop(server_field, None)
        _reset_status(info, obj)
        obj = model.apply_defaults(obj)
        if info.plural == "namespaces":
            obj = _namespace_rules(obj)
        self._check(info, obj, None)
        if info.plural == "services":
            obj = allocation.allocate(self.store, self.rng, obj, None, self.service_prefix)
        try:
            return self.store.create(info.plural, obj)
        except StoreError as exc:
            raise _store_error(exc, info, obj["metadata"].get("name", name)) from None

    # ---- update ----------------------------------------------------------------------------
    def update(self, info: ResourceInfo, namespace: str | None, name: str, obj: Obj,
               subresource: str | None = None) -> Obj:
        m = obj.setdefault("metadata", {})
        if m.get("name") and m["name"] != name:
            raise bad_request(f"the name of the object ({m['name']}) does not match the name "
                              f"on the URL ({name})")
        m["name"] = name
        self._place(info, namespace, obj)
        old = self.get_object(info, namespace, name)
        for kept in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            m.pop(kept, None)
            if kept in old["metadata"]:
                m[kept] = old["metadata"][kept]
        m.pop("managedFields", None)
        if subresource != "status":
            obj = model.apply_defaults(obj)
            if info.plural == "namespaces":
                obj = _namespace_rules(obj)
            self._check_immutable(info, old, obj)
            self._check(info, obj, old)
            if info.plural == "services":
                obj = allocation.allocate(self.store, self.rng, obj, old, self.service_prefix)
        try:
            return self.store.update(info.plural, obj, subresource=subresource)
        except StoreError as exc:
            raise _store_error(exc, info, name) from None

    def patch(self, info: ResourceInfo, namespace: str | None, name: str, served: Obj,
              patch_doc: Any, patch_type: str, group_version: str, field_validation: str,
              subresource: str | None = None) -> tuple[Obj, list[str]]:
        """Apply a patch to the object as served (`served`), then update it."""
        patched = model.apply_patch(served, patch_doc, patch_type, info.kind)
        if not isinstance(patched, dict):
            raise bad_request("the patch produced a non-object")
        precondition = _patch_resource_version(patch_doc)
        obj, warnings = self.decode(info, group_version, patched, field_validation)
        obj.setdefault("metadata", {})["resourceVersion"] = (
            precondition or served["metadata"].get("resourceVersion"))
        return self.update(info, namespace, name, obj, subresource), warnings

    # ---- delete ----------------------------------------------------------------------------
    def delete(self, info: ResourceInfo, namespace: str | None, name: str,
               options: DeleteOptions) -> Result:
        current = self.get_object(info, namespace, name)
        self._check_preconditions(info, current, options)
        if info.plural == "namespaces":
            return Result(self._delete_namespace(current))
        if info.plural == "pods":
            pod = deletion.delete_pod(self.store, namespace or "", name, options.grace_period_s)
            return Result(pod)
        try:
            gone = self.store.delete(info.plural, namespace, name)
        except StoreError as exc:
            raise _store_error(exc, info, name) from None
        self._cascade(gone, options.propagation)
        if info.plural in RETURNS_OBJECT:
            return Result(gone)
        return Result(success_status(info, name, gone["metadata"].get("uid")))

    def _delete_namespace(self, ns: Obj) -> Obj:
        name = ns["metadata"]["name"]
        info = BY_PLURAL["namespaces"]
        if name in SYSTEM_NAMESPACES:
            raise forbidden(info, name, "this namespace may not be deleted")
        if ns["metadata"].get("deletionTimestamp"):
            raise conflict(info, name, "The system is ensuring all content is removed from "
                           "this namespace.  Upon completion, this namespace will "
                           "automatically be purged by the system.")

        def mark(obj: Obj) -> None:
            obj["metadata"]["deletionTimestamp"] = rfc3339(self.store.clock.now())

        def terminating(obj: Obj) -> None:
            obj.setdefault("status", {})["phase"] = "Terminating"

        # Only marked here: the namespace controller empties it and then removes it
        # (`pkg/registry/core/namespace/storage` Delete; `pkg/controller/namespace`).
        self.store.mutate("namespaces", None, name, mark)
        self.store.mutate("namespaces", None, name, terminating, subresource="status")
        return self.store.get("namespaces", None, name)

    def _cascade(self, owner: Obj, propagation: str) -> None:
        """Background (and, simplified, Foreground) propagation: delete the dependents now;
        Orphan: drop their ownerReference. (`pkg/controller/garbagecollector`)"""
        uid = owner["metadata"].get("uid")
        namespace = owner["metadata"].get("namespace")
        for info in RESOURCES:
            if not info.namespaced:
                continue
            dependents, _ = self.store.list(info.plural, namespace, where=_owned_by(uid))
            for dep in dependents:
                dep_name = dep["metadata"]["name"]
                if propagation == "Orphan":
                    self.store.mutate(info.plural, namespace, dep_name, _drop_owner(uid))
                elif info.plural == "pods":
                    if not dep["metadata"].get("deletionTimestamp"):
                        deletion.delete_pod(self.store, namespace or "", dep_name)
                else:
                    self.delete(info, namespace, dep_name, DeleteOptions())

    # ---- scale subresource ---------------------------------------------------------------
    def get_scale(self, info: ResourceInfo, namespace: str | None, name: str) -> Obj:
        return scale_of(self.get_object(info, namespace, name))

    def update_scale(self, info: ResourceInfo, namespace: str | None, name: str,
                     scale: Any) -> Obj:
        if not isinstance(scale, dict):
            raise bad_request("Object 'Kind' is missing in the Scale body")
        kind = scale.get("kind") or "Scale"
        if kind != "Scale":
            raise bad_request(f'{kind} cannot be handled as a Scale')
        obj = self.get_object(info, namespace, name)
        wanted_rv = (scale.get("metadata") or {}).get("resourceVersion")
        if wanted_rv and str(wanted_rv) != obj["metadata"]["resourceVersion"]:
            raise conflict(info, name, "the object has been modified; please apply your "
                           "changes to the latest version and try again")
        replicas = (scale.get("spec") or {}).get("replicas", 0)
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
            raise ApiError(422, "Invalid", f'Scale.autoscaling "{name}" is invalid: '
                           f"spec.replicas: Invalid value: {replicas!r}: must be greater than "
                           "or equal to 0",
                           {"name": name, "group": "autoscaling", "kind": "Scale", "causes": [
                               field_cause("spec.replicas", "must be greater than or equal "
                                           "to 0")]})
        obj["spec"]["replicas"] = replicas
        return scale_of(self.update(info, namespace, name, obj))

    # ---- helpers ---------------------------------------------------------------------------
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
        ns = self.store.find("namespaces", None, namespace)
        if ns is None:
            raise not_found(BY_PLURAL["namespaces"], namespace)
        if ns["metadata"].get("deletionTimestamp"):
            err = forbidden(info, name, f"unable to create new content in namespace "
                            f"{namespace} because it is being terminated")
            err.details = {**(err.details or {}), "causes": [{
                "reason": "NamespaceTerminating", "message": f"namespace {namespace} is "
                "being terminated", "field": "metadata.namespace"}]}
            raise err

    def _check(self, info: ResourceInfo, obj: Obj, old: Obj | None) -> None:
        causes = model.validate(obj, old)
        if causes:
            raise invalid(info, obj["metadata"].get("name", ""), causes)

    def _check_immutable(self, info: ResourceInfo, old: Obj, new: Obj) -> None:
        name = old["metadata"]["name"]
        causes = []
        if info.plural in SELECTOR_IMMUTABLE:
            old_sel = (old.get("spec") or {}).get("selector")
            new_sel = (new.get("spec") or {}).get("selector")
            if new_sel != old_sel:
                causes.append(field_cause("spec.selector", f"Invalid value: {new_sel!r}: "
                                          "field is immutable"))
        if info.plural == "pods":
            causes.extend(_pod_update_forbidden(old, new))
        if causes:
            raise invalid(info, name, causes)

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


def scale_of(obj: Obj) -> Obj:
    """The autoscaling/v1 Scale view of a Deployment or ReplicaSet."""
    m = obj["metadata"]
    spec = obj.get("spec") or {}
    try:
        selector = selector_string(spec.get("selector"))
    except SelectorError:
        selector = ""
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: m[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                       "creationTimestamp") if k in m},
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                   "selector": selector},
    }


def selector_string(spec: Any) -> str:
    """The string form of a structured label selector (`app=web,tier in (a,b)`)."""
    parts = []
    for req in from_label_selector(spec).requirements:
        values = sorted(req.values)
        if req.op.value == "In" and len(values) == 1:
            parts.append(f"{req.key}={values[0]}")
        elif req.op.value in ("In", "NotIn"):
            parts.append(f"{req.key} {req.op.value.lower()} ({','.join(values)})")
        elif req.op.value == "Exists":
            parts.append(req.key)
        else:
            parts.append(f"!{req.key}")
    return ",".join(parts)


def _new_namespace(name: str) -> Obj:
    return _namespace_rules({"apiVersion": "v1", "kind": "Namespace",
                             "metadata": {"name": name}})


def _namespace_rules(obj: Obj) -> Obj:
    """`pkg/registry/core/namespace/strategy.go`: the `kubernetes` finalizer, phase Active and
    the immutable `kubernetes.io/metadata.name` label."""
    obj = copy.deepcopy(obj)
    name = obj["metadata"]["name"]
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")
    return obj


def _reset_status(info: ResourceInfo, obj: Obj) -> None:
    """PrepareForCreate clears user-supplied status of kinds with a status subresource."""
    if "status" not in info.subresources:
        return
    if info.plural == "pods":
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    elif info.plural == "services":
        obj["status"] = {"loadBalancer": {}}
    elif info.plural == "namespaces":
        obj["status"] = {"phase": "Active"}
    elif info.plural == "replicasets":
        obj["status"] = {"replicas": 0}  # not omitempty in ReplicaSetStatus
    else:
        obj["status"] = {}


def _check_metadata_types(obj: Obj) -> None:
    """Type errors the real decoder reports before any validation (400)."""
    m = obj.get("metadata", {})
    if not isinstance(m, dict):
        raise bad_request("json: cannot unmarshal into Go struct field .metadata of type "
                          "v1.ObjectMeta (metadata must be an object)")
    for key in ("name", "namespace", "generateName", "resourceVersion", "uid"):
        if key in m and m[key] is not None and not isinstance(m[key], str):
            raise bad_request(f"json: cannot unmarshal {type(m[key]).__name__} into Go struct "
                              f"field ObjectMeta.metadata.{key} of type string")
    for key in ("labels", "annotations"):
        value = m.get(key)
        if value is None:
            continue
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise bad_request(f"json: cannot unmarshal into Go struct field "
                              f"ObjectMeta.metadata.{key} of type map[string]string")
    for key in ("spec", "status"):
        if key in obj and obj[key] is not None and not isinstance(obj[key], dict):
            raise bad_request(f"json: cannot unmarshal {type(obj[key]).__name__} into Go "
                              f"struct field .{key} (must be an object)")


def _pod_update_forbidden(old: Obj, new: Obj) -> list[dict[str, str]]:
    """`pkg/apis/core/validation` ValidatePodUpdate: only images, activeDeadlineSeconds and
    added tolerations may change in a pod spec."""
    def comparable(spec: Any) -> Any:
        spec = copy.deepcopy(spec or {})
        for key in ("containers", "initContainers"):
            for c in spec.get(key) or []:
                if isinstance(c, dict):
                    c.pop("image", None)
        for key in ("activeDeadlineSeconds", "tolerations"):
            spec.pop(key, None)
        return spec

    if comparable(old.get("spec")) == comparable(new.get("spec")):
        return []
    return [field_cause("spec", "Forbidden: pod updates may not change fields other than "
                        "`spec.containers[*].image`, `spec.initContainers[*].image`, "
                        "`spec.activeDeadlineSeconds`, `spec.tolerations` (only additions "
                        "to existing tolerations)", "FieldValueForbidden")]


def _patch_resource_version(doc: Any) -> str | None:
    if isinstance(doc, dict):
        rv = (doc.get("metadata") or {}).get("resourceVersion")
        return str(rv) if rv else None
    return None


def _owned_by(uid: str | None) -> Callable[[Obj], bool]:
    def check(obj: Obj) -> bool:
        refs = obj["metadata"].get("ownerReferences") or []
        return any(isinstance(r, dict) and r.get("uid") == uid for r in refs)
    return check


def _drop_owner(uid: str | None) -> Callable[[Obj], None]:
    def change(obj: Obj) -> None:
        refs = [r for r in obj["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
        if refs:
            obj["metadata"]["ownerReferences"] = refs
        else:
            obj["metadata"].pop("ownerReferences", None)
    return change


def _store_error(exc: StoreError, info: ResourceInfo, name: str) -> ApiError:
    return from_store_error(exc, info, name)
