"""Revisions of a StatefulSet and the pods made from them (`pkg/controller/statefulset/
stateful_set_utils.go`: newRevision, newStatefulSetPod, newVersionedStatefulSetPod,
initIdentity).

A revision is a ControllerRevision named `<set>-<hash>` holding the pod template; the hash is
the one the Deployment controller uses for templates (FNV-32a, `controllers.deployment.util`)
mixed with `status.collisionCount`. Every pod carries its revision's name in the
`controller-revision-hash` label, so the controller knows which pods are current and which are
updated.
"""

from __future__ import annotations

import copy
import re

from probelab.engine.controllers import pods as podutil
from probelab.engine.controllers.deployment.util import template_hash
from probelab.k8s.objects import Obj, meta, spec, status

REVISION_LABEL = "controller-revision-hash"  # apps.ControllerRevisionHashLabelKey
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


def start_ordinal(sts: Obj) -> int:
    """`spec.ordinals.start` (0 when absent)."""
    return int((spec(sts).get("ordinals") or {}).get("start") or 0)


def ordinal_of(sts: Obj, pod: Obj) -> int | None:
    """The ordinal in a pod's name `<set>-<n>`, or None when the name is not of that form
    (`getParentNameAndOrdinal`)."""
    match = re.fullmatch(r"(.*)-(\d+)", meta(pod).get("name") or "")
    if match is None or match.group(1) != meta(sts).get("name"):
        return None
    return int(match.group(2))


def revision_name(sts: Obj) -> str:
    """The name of the revision of the set's current template."""
    template = spec(sts).get("template") or {}
    count = int(status(sts).get("collisionCount") or 0)  # 0 when unset, as upstream
    return f"{meta(sts)['name']}-{template_hash(template, count)}"


def new_revision(sts: Obj, number: int) -> Obj:
    """The ControllerRevision for the set's current template (`newRevision`): the data is the
    template to restore, the labels are the template's, and the set controls it."""
    labels = dict(((spec(sts).get("template") or {}).get("metadata") or {}).get("labels") or {})
    return {
        "apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": revision_name(sts), "namespace": meta(sts).get("namespace"),
                     "labels": labels,
                     "ownerReferences": [podutil.controller_ref(sts, "apps/v1",
                                                                "StatefulSet")]},
        "data": {"spec": {"template": {**copy.deepcopy(spec(sts).get("template") or {}),
                                       "$patch": "replace"}}},
        "revision": number,
    }


def template_of(revision: Obj) -> Obj:
    """The pod template a ControllerRevision holds."""
    template = copy.deepcopy(((revision.get("data") or {}).get("spec") or {}).get("template")
                             or {})
    template.pop("$patch", None)
    return template


def pod_name(sts: Obj, ordinal: int) -> str:
    return f"{meta(sts)['name']}-{ordinal}"


def new_pod(sts: Obj, template: Obj, ordinal: int, revision: str) -> Obj:
    """The pod of `ordinal` at `revision`: the template's labels, annotations and spec, the
    identity labels, hostname `<set>-<n>`, subdomain the governing service, and the set as
    controller (`newStatefulSetPod` + `initIdentity` + `setPodRevision`)."""
    name = pod_name(sts, ordinal)
    tmeta = template.get("metadata") or {}
    labels = dict(tmeta.get("labels") or {})
    labels.update({POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal),
                   REVISION_LABEL: revision})
    m: Obj = {"name": name, "namespace": meta(sts).get("namespace"), "labels": labels,
              "ownerReferences": [podutil.controller_ref(sts, "apps/v1", "StatefulSet")]}
    if tmeta.get("annotations"):
        m["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        m["finalizers"] = list(tmeta["finalizers"])
    pod_spec = copy.deepcopy(template.get("spec") or {})
    pod_spec["hostname"] = name
    if spec(sts).get("serviceName"):
        pod_spec["subdomain"] = spec(sts)["serviceName"]
    _claims_as_empty_dirs(sts, pod_spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": m, "spec": pod_spec}


def claim_names(sts: Obj) -> list[str]:
    return [str((c.get("metadata") or {}).get("name") or "")
            for c in spec(sts).get("volumeClaimTemplates") or () if isinstance(c, dict)]


def _claims_as_empty_dirs(sts: Obj, pod_spec: Obj) -> None:
    """The engine has no PersistentVolumeClaims: each claim template becomes an emptyDir
    volume of the same name, so the containers' mounts resolve (the controller says so in a
    Warning Event; docs/controllers.md)."""
    claims = claim_names(sts)
    if not claims:
        return
    volumes = [v for v in pod_spec.get("volumes") or () if isinstance(v, dict)]
    taken = {v.get("name") for v in volumes}
    volumes += [{"name": c, "emptyDir": {}} for c in claims if c and c not in taken]
    pod_spec["volumes"] = volumes


def pod_revision(pod: Obj) -> str:
    return (meta(pod).get("labels") or {}).get(REVISION_LABEL, "")
