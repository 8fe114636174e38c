"""Pods (`pkg/registry/core/pod/strategy.go`, `pkg/registry/core/pod/storage/storage.go`).

- Create: status starts `Pending`, with the pod's QoS class (`probelab.k8s.qos`).
- Update: only container images, `activeDeadlineSeconds` and added tolerations may change in
  the spec (`ValidatePodUpdate`); `spec.nodeName` is set once, through the binding subresource.
- Delete is graceful (`CheckGracefulDelete`, `rest.BeforeDelete`): a pod bound to a node stays,
  with `deletionTimestamp` = now + grace and `deletionGracePeriodSeconds`, until its kubelet has
  stopped every container and deletes it with grace 0. A pod never bound, or a delete with
  grace 0, goes at once. A second delete may only shorten the grace period.
"""

from __future__ import annotations

import copy
from typing import Any

from probelab.engine.apiserver.params import DeleteOptions
from probelab.engine.apiserver.registry.strategy import Env, Result, Strategy
from probelab.engine.apiserver.status import conflict, field_cause, invalid
from probelab.engine.core.clock import rfc3339
from probelab.k8s.defaults import DEFAULT_GRACE_PERIOD_S
from probelab.k8s.objects import Obj, meta, spec
from probelab.k8s.qos import qos_class
from probelab.k8s.resources import BY_PLURAL


def grace_period_s(pod: Obj, requested_s: int | None) -> int:
    """The grace period a DELETE applies: the request's, else the pod spec's, else 30 s."""
    if requested_s is not None:
        return max(0, int(requested_s))
    value = spec(pod).get("terminationGracePeriodSeconds")
    return DEFAULT_GRACE_PERIOD_S if value is None else max(0, int(value))


def graceful_deletion(pod: Obj, requested_s: int | None, now: float) -> Obj | None:
    """The pod marked for a graceful deletion, or None when it goes at once (unbound, or
    grace 0). A pod already terminating with a grace at least as short is returned as is."""
    grace = grace_period_s(pod, requested_s)
    if not spec(pod).get("nodeName") or grace == 0:
        return None
    current = meta(pod).get("deletionGracePeriodSeconds")
    if current is not None and current <= grace:
        return pod
    marked = copy.deepcopy(pod)
    marked["metadata"]["deletionTimestamp"] = rfc3339(now + grace)
    marked["metadata"]["deletionGracePeriodSeconds"] = grace
    return marked


def update_forbidden(old: Obj, new: Obj) -> list[dict[str, str]]:
    """`ValidatePodUpdate`: only images, activeDeadlineSeconds and tolerations may change."""
    def comparable(pod_spec: Any) -> Any:
        pod_spec = copy.deepcopy(pod_spec or {})
        for key in ("containers", "initContainers"):
            for c in pod_spec.get(key) or []:
                if isinstance(c, dict):
                    c.pop("image", None)
        for key in ("activeDeadlineSeconds", "tolerations"):
            pod_spec.pop(key, None)
        return pod_spec

    if comparable(old.get("spec")) == comparable(new.get("spec")):
        return []
    return [field_cause("spec", "Forbidden: pod updates may not change fields other than "
                        "`spec.containers[*].image`, `spec.initContainers[*].image`, "
                        "`spec.activeDeadlineSeconds`, `spec.tolerations` (only additions "
                        "to existing tolerations)", "FieldValueForbidden")]


class PodStrategy(Strategy):
    returns_deleted_object = True

    def initial_status(self, obj: Obj) -> Obj:
        return {"phase": "Pending"}

    def prepare_for_create(self, env: Env, obj: Obj) -> Obj:
        """`PrepareForCreate`: the QoS class of the defaulted pod, set once (`qos.py`)."""
        obj.setdefault("status", {})["qosClass"] = qos_class(obj)
        return obj

    def validate_update(self, old: Obj, new: Obj) -> list[dict[str, str]]:
        return update_forbidden(old, new)

    def delete(self, env: Env, current: Obj, options: DeleteOptions) -> Result:
        marked = graceful_deletion(current, options.grace_period_s,
                                   env.store.clock.now())
        m = current["metadata"]
        if marked is None:
            return Result(env.store.delete("pods", m.get("namespace"), m["name"],
                                           dry_run=options.dry_run))
        if marked is current:
            return Result(current)
        marked["metadata"].pop("resourceVersion", None)
        return Result(env.store.update("pods", marked, dry_run=options.dry_run))

    def bind(self, env: Env, pod: Obj, node: str) -> Obj:
        """The binding subresource (`BindingREST.setPodHostAndAnnotations`): set
        `spec.nodeName` once; a pod already bound elsewhere is a conflict, one being deleted
        cannot be bound."""
        name = meta(pod)["name"]
        if meta(pod).get("deletionTimestamp"):
            raise conflict(BY_PLURAL["pods"], name, f"pod {name} is being deleted, cannot be "
                           "assigned to a host")
        bound = spec(pod).get("nodeName")
        if bound:
            if bound == node:
                return pod
            raise conflict(BY_PLURAL["pods"], name, f"pod {name} is already assigned to node "
                           f'"{bound}"')
        if not node:
            raise invalid(BY_PLURAL["pods"], name, [field_cause(
                "target.name", "Required value", "FieldValueRequired")])
        bound_pod = copy.deepcopy(pod)
        bound_pod["spec"]["nodeName"] = node
        bound_pod["metadata"].pop("resourceVersion", None)
        return env.store.update("pods", bound_pod)
