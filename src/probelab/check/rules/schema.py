"""What the API server would refuse or silently drop, checked with `probelab.k8s`.

A typo in a rollout field is the quietest rollout bug there is: `readinesProbe` or
`preStopHook` is rejected by `kubectl apply` (strict decoding since kubectl 1.27 sends
`fieldValidation=Strict`), but dropped with a mere warning by clients that do not ask for strict
validation (older kubectl, many operators, `fieldValidation=Warn`), and the pod then runs
without the probe or the hook. The offline schema (`probelab.k8s.schema`) and validation
(`probelab.k8s.validation`) are the ones the local engine's API server applies.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from probelab.check.model import Severity, TimingModel
from probelab.check.rules.catalogue import Hit, rule
from probelab.check.workloads import Inventory
from probelab.k8s import schema, validation

# Field names whose misspellings silently remove a rollout safeguard.
ROLLOUT_FIELDS = (
    "readinessProbe", "livenessProbe", "startupProbe", "lifecycle", "preStop", "postStart",
    "terminationGracePeriodSeconds", "initialDelaySeconds", "periodSeconds", "timeoutSeconds",
    "failureThreshold", "successThreshold", "httpGet", "tcpSocket", "exec", "sleep", "seconds",
    "strategy", "rollingUpdate", "maxUnavailable", "maxSurge", "minReadySeconds", "replicas",
    "minAvailable", "selector", "matchLabels", "targetPort", "containerPort", "ports",
    "minReplicas", "maxReplicas", "scaleTargetRef", "externalTrafficPolicy", "updateStrategy",
)
# Covered, version-aware, by `sleep-action-invalid`.
_COVERED_SUFFIXES = (".lifecycle.preStop.sleep.seconds", ".lifecycle.postStart.sleep.seconds")


def suggest(name: str) -> str | None:
    """The rollout field `name` is probably a misspelling of."""
    close = difflib.get_close_matches(name, ROLLOUT_FIELDS, n=1, cutoff=0.75)
    return close[0] if close and close[0] != name else None


def did_you_mean(path: str) -> str:
    close = suggest(path.rsplit(".", 1)[-1].split("[", 1)[0])
    return f" (did you mean {close}?)" if close else ""


@rule("unknown-field", Severity.ERROR,
      "A field the Kubernetes schema does not know, such as readinesProbe or preStopHook.",
      source="KEP-2885 (server-side field validation) ; staging/src/k8s.io/apimachinery "
             "(strict decoding errors) ; kubernetes/ingress-gce#2222",
      why="""kubectl apply rejects an unknown field ("strict decoding error: unknown field");
      clients that do not ask for strict validation get a warning and the API server drops the
      field. Either way a misspelt probe, hook or grace period is not there: the pod rolls out
      without the safeguard the manifest seems to have.""")
def unknown_field(inv: Inventory, model: TimingModel) -> Iterator[Hit]:
    for ref, _, stored in inv.everything:
        for path in schema.unknown_fields(stored):
            yield Hit(ref, None, path,
                      f'unknown field "{path}": rejected by kubectl apply, silently dropped by '
                      "clients without strict field validation",
                      "correct or remove it" + did_you_mean(path))


@rule("invalid-object", Severity.ERROR,
      "An object the API server's validation rejects.",
      source="pkg/apis/core/validation/validation.go, pkg/apis/apps/validation/validation.go "
             "(as reimplemented in probelab.k8s.validation)",
      why="""A Deployment whose selector does not match its template labels, a probe without a
      handler, a port out of range: the API server answers 422 and nothing rolls out, or (for a
      pod template) the controller cannot create a single pod. Checked for the kinds
      probelab.k8s validates: Pod, Deployment, ReplicaSet, Service.""")
def invalid_object(inv: Inventory, model: TimingModel) -> Iterator[Hit]:
    for ref, _, stored in inv.everything:
        for error in validation.validate(stored):
            if error.field.endswith(_COVERED_SUFFIXES):
                continue
            yield Hit(ref, None, error.field, str(error).replace("\n", " "),
                      "correct the field (the API server would refuse the object)")
