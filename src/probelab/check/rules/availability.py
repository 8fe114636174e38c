"""Replica arithmetic: rollouts, disruption budgets and autoscalers."""

from __future__ import annotations

from collections.abc import Iterator

from probelab.check.model import Severity, TimingModel
from probelab.check.rules.catalogue import Hit, rule
from probelab.check.rules.common import names, serving_containers, unmatched
from probelab.check.workloads import Budget, Inventory, Workload, mapping
from probelab.k8s.defaults import ROLLING_UPDATE_DEFAULTS
from probelab.k8s.intstr import resolve_fenceposts, scaled_value

DOCS_DEPLOYMENT = ("https://kubernetes.io/docs/concepts/workloads/controllers/deployment/"
                   "#rolling-update-deployment")
DOCS_PDB = "https://kubernetes.io/docs/tasks/run-application/configure-pdb/"
DOCS_HPA = ("https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/"
            "#migrating-deployments-and-statefulsets-to-horizontal-autoscaling")


def expected_replicas(inv: Inventory, workload: Workload) -> int | None:
    """The replica count to reason about: the spec's, or the HPA's minimum when larger."""
    replicas = workload.replicas
    if replicas is None:
        return None
    return max([replicas, *(a.min_replicas for a in inv.autoscalers_for(workload))])


def _rolling(workload: Workload) -> dict | None:
    key = "strategy" if workload.ref.kind == "Deployment" else "updateStrategy"
    strategy = mapping(mapping(workload.obj.get("spec")).get(key))
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return None
    rolling = strategy.get("rollingUpdate")
    return rolling if isinstance(rolling, dict) else {}


@rule("rollout-takes-all-down", Severity.ERROR,
      "A rolling update that may stop every replica at once.",
      source=f"{DOCS_DEPLOYMENT} ; pkg/controller/deployment/util/deployment_util.go "
             "(ResolveFenceposts)",
      why="""maxUnavailable (rounded down) is how many old pods the controller may stop before
      new ones are Ready. When it reaches the replica count (1 replica with maxUnavailable 1, or
      100 %), a rollout can stop every pod before a new one serves: an outage on every deploy,
      and forever if the new version does not start.""")
def rollout_takes_all_down(inv: Inventory, model: TimingModel) -> Iterator[Hit]:
    for workload in inv.workloads:
        if workload.ref.kind not in ("Deployment", "DaemonSet"):
            continue
        rolling = _rolling(workload)
        if rolling is None:
            continue
        field_path = ("spec.strategy.rollingUpdate.maxUnavailable"
                      if workload.ref.kind == "Deployment"
                      else "spec.updateStrategy.rollingUpdate.maxUnavailable")
        if workload.ref.kind == "DaemonSet":
            if rolling.get("maxUnavailable") == "100%":
                yield Hit(workload.ref, None, field_path,
                          "maxUnavailable 100%: an update stops the pod on every node at once",
                          "set maxUnavailable to 1 (the default) or a small percentage")
            continue
        replicas = expected_replicas(inv, workload) or 0
        surge = rolling.get("maxSurge", ROLLING_UPDATE_DEFAULTS["maxSurge"])
        unavailable = rolling.get("maxUnavailable", ROLLING_UPDATE_DEFAULTS["maxUnavailable"])
        try:
            _, down = resolve_fenceposts(surge, unavailable, replicas)
        except ValueError:
            continue  # invalid values: the API server's validation reports them
        if replicas >= 1 and down >= replicas:
            yield Hit(workload.ref, None, field_path,
                      f"maxUnavailable {unavailable} of {replicas} replica(s) allows {down} "
                      "pod(s) down: a rollout can stop every replica before a new one is Ready",
                      "set maxUnavailable: 0 and maxSurge: 1")


@rule("recreate-strategy", Severity.WARNING,
      "A Deployment with strategy Recreate behind a Service.",
      source=DOCS_DEPLOYMENT.replace("#rolling-update-deployment", "#recreate-deployment"),
      why="""Recreate stops all old pods before it starts any new one: the Service has no
      endpoints for the whole start-up of the new version, on every deploy. Use it only when two
      versions must never run together, and then expect downtime.""")
def recreate_strategy(inv: Inventory, model: TimingModel) -> Iterator[Hit]:
    for workload in inv.workloads:
        strategy = mapping(mapping(workload.obj.get("spec")).get("strategy"))
        if workload.ref.kind == "Deployment" and strategy.get("type") == "Recreate":
            services, _ = serving_containers(inv, workload)
            if services:
                yield Hit(workload.ref, None, "spec.strategy.type",
                          f"strategy Recreate: Service {names(services)} has no endpoints "
                          "while the new pods start, on every rollout",
                          "use RollingUpdate with maxUnavailable: 0, maxSurge: 1")


def min_available(budget: Budget, replicas: int) -> int | None:
    """Pods that must stay up, as the disruption controller computes it (percent rounds up,
    pkg/controller/disruption/disruption.go); None when the budget cannot be read."""
    try:
        if budget.min_available is not None:
            return scaled_value(budget.min_available, replicas, round_up=True)
        if budget.max_unavailable is not None:
            return replicas - scaled_value(budget.max_unavailable, replicas, round_up=True)
    except ValueError:
        return None
    return None


@rule("pdb-blocks-eviction", Severity.ERROR,
      "A PodDisruptionBudget that allows no eviction (minAvailable >= replicas, or "
      "maxUnavailable 0).",
      source=f"{DOCS_PDB} ; pkg/controller/disruption/disruption.go",
      why="""With disruptionsAllowed stuck at 0, the Eviction API refuses every eviction:
      `kubectl drain`, node upgrades and the cluster autoscaler wait forever (managed upgrades
      give up after a timeout and delete the pods anyway, without the budget's protection).""")
def pdb_blocks_eviction(inv: Inventory, model: TimingModel) -> Iterator[Hit]:
    for budget in inv.budgets:
        for workload in inv.in_namespace("workloads", budget.ref.namespace):
            if budget not in inv.budgets_for(workload):
                continue
            replicas = expected_replicas(inv, workload)
            if budget.max_unavailable in (0, "0%"):
                yield Hit(budget.ref, None, "spec.maxUnavailable",
                          f"maxUnavailable {budget.max_unavailable}: no pod of "
                          f"{workload.ref.kind} {workload.ref.name} can ever be evicted",
                          "allow at least 1 unavailable pod")
            elif replicas is not None and budget.min_available is not None:
                needed = min_available(budget, replicas)
                if needed is not None and needed >= replicas:
                    yield Hit(budget.ref, None, "spec.minAvailable",
                              f"minAvailable {budget.min_available} with {replicas} replica(s) "
                              f"of {workload.ref.kind} {workload.ref.name}: no pod can ever be "
                              "evicted, so node drains hang",
                              f"set minAvailable to {replicas - 1} or below, or use "
                              "maxUnavailable: 1" if replicas > 1 else
                              "run at least 2 replicas, or use maxUnavailable: 1")


@rule("pdb-selects-nothing", Severity.WARNING,
      "A PodDisruptionBudget whose selector matches no pod template of its namespace.",
      source=DOCS_PDB,
      why="""A budget that selects nothing protects nothing: drains evict the pods it was meant
      to keep. Only checked when the input has pod templates in that namespace.""")
def pdb_selects_nothing(inv: Inventory, model: TimingModel) -> Iterator[Hit]:
    for budget, count in unmatched(inv, inv.budgets, lambda b, w: b in inv.budgets_for(w)):
        yield Hit(budget.ref, None, "spec.selector",
                  f"selector matches none of the {count} pod template(s) in "
                  f"namespace {budget.ref.namespace}: the budget protects nothing",
                  "make spec.selector match the pod template's labels")


@rule("hpa-min-below-pdb", Severity.WARNING,
      "HPA minReplicas at or below the PDB's minAvailable.",
      source=f"{DOCS_PDB} ; {DOCS_HPA}",
      why="""When the autoscaler scales down to minReplicas, a budget with minAvailable at or
      above that number allows no eviction: drains hang exactly when the cluster is quiet,
      which is when maintenance usually runs.""")
def hpa_min_below_pdb(inv: Inventory, model: TimingModel) -> Iterator[Hit]:
    for workload in inv.workloads:
        for hpa in inv.autoscalers_for(workload):
            for budget in inv.budgets_for(workload):
                low = min_available(budget, hpa.min_replicas)
                if (budget.min_available is not None and low is not None
                        and low >= hpa.min_replicas):
                    yield Hit(hpa.ref, None, "spec.minReplicas",
                              f"minReplicas {hpa.min_replicas} and PodDisruptionBudget "
                              f"{budget.ref.name} minAvailable {budget.min_available}: at "
                              "minReplicas no pod can be evicted",
                              f"set minReplicas to at least {low + 1}")


@rule("replicas-with-hpa", Severity.WARNING,
      "spec.replicas set on a workload an HPA scales.",
      source=DOCS_HPA,
      why="""With spec.replicas in the manifest, every `kubectl apply` (or Helm upgrade) resets
      the replica count to that number, undoing the autoscaler: a workload scaled to 20 under
      load drops to the manifest's 3 for a moment on each deploy. The Kubernetes docs say to
      remove spec.replicas once an HPA manages the workload.""")
def replicas_with_hpa(inv: Inventory, model: TimingModel) -> Iterator[Hit]:
    for workload in inv.workloads:
        hpas = inv.autoscalers_for(workload)
        if hpas and workload.replicas_declared:
            yield Hit(workload.ref, None, "spec.replicas",
                      f"spec.replicas {workload.replicas} while HorizontalPodAutoscaler "
                      f"{hpas[0].ref.name} scales it: every apply resets the replica count",
                      "remove spec.replicas from the manifest")


@rule("hpa-target-missing", Severity.WARNING,
      "A HorizontalPodAutoscaler whose scaleTargetRef names no workload of its namespace.",
      source=DOCS_HPA.split("#")[0],
      why="""An autoscaler that points at a renamed or misspelt Deployment scales nothing: the
      workload stays at its manifest's replica count under load, and a PodDisruptionBudget
      computed for the autoscaler's minimum no longer matches. Only checked when the input has
      pod templates in that namespace.""")
def hpa_target_missing(inv: Inventory, model: TimingModel) -> Iterator[Hit]:
    for hpa, count in unmatched(inv, inv.autoscalers,
                                lambda a, w: a in inv.autoscalers_for(w)):
        yield Hit(hpa.ref, None, "spec.scaleTargetRef.name",
                  f"scaleTargetRef {hpa.target_kind}/{hpa.target_name} is none of the "
                  f"{count} workload(s) in namespace {hpa.ref.namespace}: the autoscaler "
                  "scales nothing", "point scaleTargetRef at the workload's kind and name")
