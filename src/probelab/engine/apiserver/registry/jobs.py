"""Jobs (`pkg/registry/batch/job/strategy.go`): unless `spec.manualSelector` is true, the
server generates the selector from the Job's own uid and labels the template with it and with
the Job's name (`generateSelector`), so a Job's pods are never matched by another Job. The uid is
chosen here, before the object is stored (the store keeps a uid it is given), because the
selector must name it on the first write."""

from __future__ import annotations

import uuid

from probelab.engine.apiserver.registry.strategy import Env, Strategy
from probelab.k8s.objects import Obj

JOB_NAME = "batch.kubernetes.io/job-name"
CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
LEGACY_JOB_NAME = "job-name"
LEGACY_CONTROLLER_UID = "controller-uid"


def generate_selector(job: Obj) -> None:
    """The template labels and the `matchLabels` entry that tie the Job's pods to it."""
    m = job["metadata"]
    spec = job.get("spec")
    if not isinstance(spec, dict) or spec.get("manualSelector") is True:
        return
    template = spec.get("template")
    if not isinstance(template, dict):
        return
    tmeta = template.setdefault("metadata", {})
    if not isinstance(tmeta, dict):
        return
    labels = tmeta.get("labels") if isinstance(tmeta.get("labels"), dict) else {}
    labels.update({LEGACY_JOB_NAME: m.get("name") or "", JOB_NAME: m.get("name") or "",
                   LEGACY_CONTROLLER_UID: m["uid"], CONTROLLER_UID: m["uid"]})
    tmeta["labels"] = labels
    selector = spec.get("selector") if isinstance(spec.get("selector"), dict) else {}
    match = selector.get("matchLabels") if isinstance(selector.get("matchLabels"), dict) else {}
    match.setdefault(CONTROLLER_UID, m["uid"])
    selector["matchLabels"] = match
    spec["selector"] = selector
    if not m.get("labels"):  # SetDefaults_Job: the Job takes its template's labels
        m["labels"] = dict(labels)


class JobStrategy(Strategy):
    def prepare_for_create(self, env: Env, obj: Obj) -> Obj:
        m = obj["metadata"]
        m["uid"] = str(uuid.uuid4())
        generate_selector(obj)
        return obj
