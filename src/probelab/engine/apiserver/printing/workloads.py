"""Cells of `kubectl get` for StatefulSets, DaemonSets, Jobs, CronJobs, Ingresses and
HorizontalPodAutoscalers, after `printStatefulSet`, `printDaemonSet`, `printJob`,
`printCronJob`, `printIngress` and `printHorizontalPodAutoscaler` in kubernetes
`pkg/printers/internalversion/printers.go`. Pure: an object and `now` in, cells out;
`printing.tables` holds the column definitions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from probelab.engine.apiserver.printing.printers import (
    NONE,
    Cells,
    _age,
    _containers_and_images,
    _name,
    format_labels,
    format_selector,
    human_duration,
    since,
)
from probelab.engine.core.clock import parse_rfc3339
from probelab.k8s.objects import Obj


def _has_condition(obj: Obj, kind: str) -> bool:
    return any(isinstance(c, dict) and c.get("type") == kind and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or ())


def statefulset_cells(sts: Obj, now: float) -> Cells:
    spec, status = sts.get("spec") or {}, sts.get("status") or {}
    containers, images = _containers_and_images(spec.get("template") or {})
    return [_name(sts), f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
            _age(sts, now), containers, images]


def daemonset_cells(ds: Obj, now: float) -> Cells:
    spec, status = ds.get("spec") or {}, ds.get("status") or {}
    template = spec.get("template") or {}
    containers, images = _containers_and_images(template)
    node_selector = (template.get("spec") or {}).get("nodeSelector")
    return [
        _name(ds), status.get("desiredNumberScheduled", 0),
        status.get("currentNumberScheduled", 0), status.get("numberReady", 0),
        status.get("updatedNumberScheduled", 0), status.get("numberAvailable", 0),
        format_labels(node_selector), _age(ds, now), containers, images,
        format_selector(spec.get("selector")),
    ]


def job_status_text(job: Obj) -> str:
    """The STATUS column: the first of Complete, Failed, Terminating, Suspended,
    FailureTarget, SuccessCriteriaMet that holds, else Running."""
    if _has_condition(job, "Complete"):
        return "Complete"
    if _has_condition(job, "Failed"):
        return "Failed"
    if (job.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    for kind in ("Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if _has_condition(job, kind):
            return kind
    return "Running"


def _duration(start: str | None, end: str | None, now: float) -> str:
    if not start:
        return ""
    if not end:
        return since(start, now)
    try:
        return human_duration(parse_rfc3339(end) - parse_rfc3339(start))
    except ValueError:
        return ""


def job_cells(job: Obj, now: float) -> Cells:
    spec, status = job.get("spec") or {}, job.get("status") or {}
    succeeded = status.get("succeeded", 0)
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif (spec.get("parallelism") or 0) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    containers, images = _containers_and_images(spec.get("template") or {})
    return [
        _name(job), job_status_text(job), completions,
        _duration(status.get("startTime"), status.get("completionTime"), now), _age(job, now),
        containers, images, format_selector(spec.get("selector")),
    ]


def cronjob_cells(cj: Obj, now: float) -> Cells:
    spec, status = cj.get("spec") or {}, cj.get("status") or {}
    job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    containers, images = _containers_and_images(job_spec.get("template") or {})
    last = status.get("lastScheduleTime")
    return [
        _name(cj), spec.get("schedule", ""), spec.get("timeZone") or NONE,
        "True" if spec.get("suspend") else "False", len(status.get("active") or ()),
        since(last, now) if last else NONE, _age(cj, now), containers, images,
        format_selector(job_spec.get("selector")),
    ]


def _ingress_hosts(rules: list[Mapping[str, Any]] | None) -> str:
    """`formatHosts`: up to three hosts, `*` for a rule without one, then `+ N more...`."""
    hosts = [(r.get("host") or "*") for r in rules or () if isinstance(r, Mapping)]
    if not hosts:
        return "*"
    text = ",".join(hosts[:3])
    return f"{text} + {len(hosts) - 3} more..." if len(hosts) > 3 else text


def ingress_cells(ing: Obj, now: float) -> Cells:
    spec, status = ing.get("spec") or {}, ing.get("status") or {}
    addresses = [a.get("ip") or a.get("hostname") or ""
                 for a in ((status.get("loadBalancer") or {}).get("ingress") or ())
                 if isinstance(a, Mapping)]
    return [
        _name(ing), spec.get("ingressClassName") or NONE, _ingress_hosts(spec.get("rules")),
        ",".join(a for a in addresses if a), "80, 443" if spec.get("tls") else "80",
        _age(ing, now),
    ]


def _metric_target(metric: Mapping[str, Any], current: Mapping[str, Any] | None) -> str:
    """One metric of the TARGETS column: `cpu: <unknown>/80%`, `cpu: 12%/80%`..."""
    kind = metric.get("type")
    source = metric.get({"Resource": "resource", "ContainerResource": "containerResource",
                         "Pods": "pods", "Object": "object", "External": "external"}
                        .get(str(kind), "")) or {}
    name = source.get("name") or (source.get("metric") or {}).get("name") or "<unknown>"
    target = source.get("target") or {}
    cur_value = ((current or {}).get(
        {"Resource": "resource", "ContainerResource": "containerResource", "Pods": "pods",
         "Object": "object", "External": "external"}.get(str(kind), "")) or {}).get(
        "current") or {}
    if target.get("averageUtilization") is not None:
        now_text = (f"{cur_value['averageUtilization']}%"
                    if cur_value.get("averageUtilization") is not None else "<unknown>")
        return f"{name}: {now_text}/{target['averageUtilization']}%"
    wanted = target.get("averageValue") or target.get("value") or "<unset>"
    now_text = cur_value.get("averageValue") or cur_value.get("value") or "<unknown>"
    prefix = f"{name}: " if kind in ("Resource", "ContainerResource") else ""
    return f"{prefix}{now_text}/{wanted}" + (" (avg)" if kind in ("Object", "External")
                                              and target.get("averageValue") else "")


def hpa_cells(hpa: Obj, now: float) -> Cells:
    spec, status = hpa.get("spec") or {}, hpa.get("status") or {}
    ref = spec.get("scaleTargetRef") or {}
    metrics = [m for m in spec.get("metrics") or () if isinstance(m, Mapping)]
    currents = [c for c in status.get("currentMetrics") or () if isinstance(c, Mapping)]
    parts = [_metric_target(m, currents[i] if i < len(currents) else None)
             for i, m in enumerate(metrics)]
    if not parts:
        targets = "<none>"
    elif len(parts) > 3:
        targets = ", ".join(parts[:3]) + f" + {len(parts) - 3} more..."
    else:
        targets = ", ".join(parts)
    low = spec.get("minReplicas")
    return [
        _name(hpa), f"{ref.get('kind', '')}/{ref.get('name', '')}", targets,
        "<unset>" if low is None else low, spec.get("maxReplicas", 0),
        status.get("currentReplicas", 0), _age(hpa, now),
    ]


def controllerrevision_cells(rev: Obj, now: float) -> Cells:
    """`printControllerRevision`: the controller as `statefulset.apps/web`."""
    controller = NONE
    for ref in (rev.get("metadata") or {}).get("ownerReferences") or ():
        if isinstance(ref, Mapping) and ref.get("controller"):
            group = str(ref.get("apiVersion") or "").rpartition("/")[0]
            kind = str(ref.get("kind") or "").lower()
            controller = f"{kind}.{group}/{ref.get('name')}" if group else \
                f"{kind}/{ref.get('name')}"
    return [_name(rev), controller, rev.get("revision", 0), _age(rev, now)]


def ingressclass_cells(ic: Obj, now: float) -> Cells:
    """`printIngressClass`: controller and `Kind/name` of the parameters (`<none>`)."""
    spec = ic.get("spec") or {}
    params = spec.get("parameters") or {}
    shown = NONE
    if params:
        group = params.get("apiGroup")
        kind = f"{params.get('kind')}.{group}" if group else str(params.get("kind"))
        shown = f"{kind}/{params.get('name')}"
    return [_name(ic), spec.get("controller", ""), shown, _age(ic, now)]
