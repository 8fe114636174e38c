"""The `pods/eviction` subresource: delete a pod unless that would break its disruption budget
(`pkg/registry/core/pod/storage/eviction.go`, EvictionREST.Create).

1. The body is a policy/v1 (or v1beta1) `Eviction` naming the pod of the URL; its
   `deleteOptions` are the delete's.
2. A pod that is terminal, Pending or already terminating is deleted without asking any budget
   (`canIgnorePDB`).
3. The PodDisruptionBudgets of the pod's namespace whose selector matches it: more than one is a
   500 ("This pod has more than one PodDisruptionBudget, which the eviction subresource does
   not support."); none: delete.
4. A pod that is not ready is deleted without spending the budget if the budget says
   `unhealthyPodEvictionPolicy: AlwaysAllow`, or (IfHealthyBudget, the default) if the budget
   is met now (currentHealthy >= desiredHealthy > 0); the delete then carries the pod's
   resourceVersion as a precondition, so a pod that turned ready meanwhile is not deleted.
5. Otherwise `checkAndDecrement`: a budget the controller has not seen in its current
   generation, or one that allows no disruption, is a 429 TooManyRequests whose cause
   (type DisruptionBudget) says why; a negative count or too many pending evictions is a 403.
   Else disruptionsAllowed drops by one and the pod is recorded in `status.disruptedPods`,
   written through the status subresource with the budget's resourceVersion; a conflict reads
   the budget again and retries (EvictionsRetry: 20 steps), then the pod is deleted.

Success is a `Status` with `status: Success`, answered with 201 as every create is.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from probelab.engine.apiserver.params import DeleteOptions, delete_options
from probelab.engine.apiserver.status import ApiError, bad_request, forbidden, internal
from probelab.k8s import disruption
from probelab.k8s.objects import Obj
from probelab.k8s.resources import BY_PLURAL

if TYPE_CHECKING:
    from probelab.engine.apiserver.registry.generic import Registry

EVICTION_VERSIONS = ("policy/v1", "policy/v1beta1")
RETRY_STEPS = 20  # eviction.go EvictionsRetry.Steps
MAX_DISRUPTED_PODS = 2000  # eviction.go MaxDisruptedPodSize
VIOLATES = "Cannot evict pod as it would violate the pod's disruption budget."
MORE_THAN_ONE = ("This pod has more than one PodDisruptionBudget, which the eviction "
                 "subresource does not support.")
CAUSE = "DisruptionBudget"  # policyv1.DisruptionBudgetCause


def too_many_requests(cause: str) -> ApiError:
    """`errors.NewTooManyRequests(VIOLATES, 0)` with a DisruptionBudget cause."""
    return ApiError(429, "TooManyRequests", VIOLATES,
                    {"causes": [{"reason": CAUSE, "message": cause}]})


def parse(body: Any, name: str) -> DeleteOptions:
    """The Eviction's delete options; 400 for a body that is not an Eviction of this pod."""
    if not isinstance(body, Mapping):
        raise bad_request("the body of an eviction must be an Eviction object")
    # An empty TypeMeta takes the endpoint's (the official client sends none).
    if (body.get("kind") or "Eviction") != "Eviction" or (
            body.get("apiVersion") or EVICTION_VERSIONS[0]) not in EVICTION_VERSIONS:
        raise bad_request(f"expected an Eviction of policy/v1 or policy/v1beta1, got "
                          f"{body.get('apiVersion')!s}/{body.get('kind')!s}")
    meta = body.get("metadata") or {}
    if not isinstance(meta, Mapping):
        raise bad_request("metadata must be an object")
    if meta.get("name") and meta["name"] != name:
        raise bad_request("name in URL does not match name in Eviction object")
    options = body.get("deleteOptions")
    if isinstance(options, Mapping) and options.get("dryRun"):
        raise bad_request("dryRun is not supported by the probelab engine")
    return delete_options({}, options)


def evict(registry: Registry, namespace: str, name: str, body: Any) -> Obj:
    """POST pods/NAME/eviction; returns the success Status or raises the ApiError."""
    options = parse(body, name)
    pods = BY_PLURAL["pods"]
    pod = registry.get_object(pods, namespace, name)
    if disruption.needs_no_budget(pod):
        return _delete(registry, namespace, name, options)
    budgets = [b for b in registry.store.list("poddisruptionbudgets", namespace)[0]
               if disruption.selects(b, pod)]
    if len(budgets) > 1:
        raise internal(MORE_THAN_ONE)
    if not budgets:
        return _delete(registry, namespace, name, options)
    pdb = budgets[0]
    if not disruption.is_ready(pod) and _unhealthy_may_go(pdb):
        if options.precondition_rv is None:
            options = replace(options, precondition_rv=pod["metadata"].get("resourceVersion"))
        return _delete(registry, namespace, name, options)
    for attempt in range(1, RETRY_STEPS + 1):
        try:
            _check_and_decrement(registry, pdb, name)
            break
        except ApiError as exc:
            if exc.code != 409 or attempt == RETRY_STEPS:
                raise
            pdb = registry.get_object(BY_PLURAL["poddisruptionbudgets"], namespace,
                                      pdb["metadata"]["name"])
    return _delete(registry, namespace, name, options)


def _unhealthy_may_go(pdb: Obj) -> bool:
    spec, status = pdb.get("spec") or {}, pdb.get("status") or {}
    if spec.get("unhealthyPodEvictionPolicy") == "AlwaysAllow":
        return True
    desired = int(status.get("desiredHealthy") or 0)
    return int(status.get("currentHealthy") or 0) >= desired and desired > 0


def _check_and_decrement(registry: Registry, pdb: Obj, pod_name: str) -> None:
    info = BY_PLURAL["poddisruptionbudgets"]
    m, status = pdb["metadata"], pdb.get("status") or {}
    if int(status.get("observedGeneration") or 0) < int(m.get("generation") or 0):
        raise too_many_requests(f"The disruption budget {m['name']} is still being processed "
                                "by the server.")
    allowed = int(status.get("disruptionsAllowed") or 0)
    if allowed < 0:
        raise forbidden(info, m["name"], "pdb disruptions allowed is negative")
    if len(status.get("disruptedPods") or {}) > MAX_DISRUPTED_PODS:
        raise forbidden(info, m["name"], "DisruptedPods map too big - too many evictions not "
                        "confirmed by PDB controller")
    if allowed == 0:
        raise too_many_requests(
            f"The disruption budget {m['name']} needs {int(status.get('desiredHealthy') or 0)} "
            f"healthy pods and has {int(status.get('currentHealthy') or 0)} currently")
    changed = copy.deepcopy(pdb)
    new_status = changed.setdefault("status", {})
    new_status["disruptionsAllowed"] = allowed - 1
    now = registry.store.clock.now()
    if allowed - 1 == 0:
        new_status["conditions"] = disruption.allowed_condition(
            0, new_status.get("conditions"), now, new_status.get("observedGeneration"))
    new_status["disruptedPods"] = {**(new_status.get("disruptedPods") or {}),
                                   pod_name: disruption.rfc3339(now)}
    registry.update(info, m.get("namespace"), m["name"], changed, subresource="status")


def _delete(registry: Registry, namespace: str, name: str, options: DeleteOptions) -> Obj:
    registry.delete(BY_PLURAL["pods"], namespace, name, options)
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
