"""Server-side printing: kubectl's columns and cell rules, as tables of objects -> cells.

Expected values follow kubernetes `pkg/printers/internalversion/printers.go` and
`apimachinery/pkg/util/duration` (HumanDuration).
"""

from __future__ import annotations

import pytest

from probelab.engine.apiserver.printing import printers
from probelab.engine.apiserver.printing.tables import IncludeObject, columns, to_table, wants_table
from probelab.engine.core.clock import rfc3339

NOW = 1_800_000_000.0


def ago(seconds: float) -> str:
    return rfc3339(NOW - seconds)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"), (-1, "0s"), (0, "0s"), (59, "59s"), (119, "119s"), (120, "2m"),
        (182, "3m2s"), (599, "9m59s"), (600, "10m"), (179 * 60 + 59, "179m"),
        (3 * 3600, "3h"), (5 * 3600 + 3 * 60, "5h3m"), (8 * 3600 + 59 * 60, "8h"),
        (47 * 3600, "47h"), (48 * 3600, "2d"), (3 * 86400 + 4 * 3600, "3d4h"),
        (8 * 86400 + 5 * 3600, "8d"), (729 * 86400, "729d"), (730 * 86400, "2y"),
        (733 * 86400, "2y3d"), (8 * 365 * 86400 + 5 * 86400, "8y"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert printers.human_duration(seconds) == text


def pod(status: dict | None = None, *, deleting: bool = False, created: float = 30,
        containers: int = 1, **spec) -> dict:
    meta = {"name": "web-1", "namespace": "probes", "creationTimestamp": ago(created)}
    if deleting:
        meta["deletionTimestamp"] = ago(0)
    spec.setdefault("containers", [{"name": f"c{i}", "image": "x"} for i in range(containers)])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
            "status": status or {}}


def running(ready: bool = True, restarts: int = 0, last_exit_ago: float | None = None) -> dict:
    cs = {"name": "c0", "ready": ready, "restartCount": restarts, "state": {"running": {}}}
    if last_exit_ago is not None:
        cs["lastState"] = {"terminated": {"exitCode": 1, "finishedAt": ago(last_exit_ago)}}
    return cs


def waiting(reason: str) -> dict:
    return {"name": "c0", "ready": False, "restartCount": 0,
            "state": {"waiting": {"reason": reason}}}


def terminated(reason: str = "", exit_code: int = 0, signal: int = 0) -> dict:
    term = {"exitCode": exit_code, "reason": reason, "signal": signal}
    return {"name": "c0", "ready": False, "restartCount": 0,
            "state": {"terminated": {k: v for k, v in term.items() if v}}}


READY = [{"type": "Ready", "status": "True"}]


@pytest.mark.parametrize(
    ("obj", "status", "ready"),
    [
        (pod(), "Pending", "0/1"),
        (pod({"phase": "Pending", "containerStatuses": [waiting("ContainerCreating")]}),
         "ContainerCreating", "0/1"),
        (pod({"phase": "Pending", "containerStatuses": [waiting("ErrImagePull")]}),
         "ErrImagePull", "0/1"),
        (pod({"phase": "Running", "containerStatuses": [waiting("CrashLoopBackOff")]}),
         "CrashLoopBackOff", "0/1"),
        (pod({"phase": "Running", "containerStatuses": [running()], "conditions": READY}),
         "Running", "1/1"),
        (pod({"phase": "Running", "containerStatuses": [running(ready=False)]}),
         "Running", "0/1"),
        (pod({"phase": "Succeeded", "containerStatuses": [terminated("Completed")]}),
         "Completed", "0/1"),
        (pod({"phase": "Failed", "containerStatuses": [terminated("Error", 1)]}),
         "Error", "0/1"),
        (pod({"phase": "Failed", "containerStatuses": [terminated(exit_code=137)]}),
         "ExitCode:137", "0/1"),
        (pod({"phase": "Failed", "containerStatuses": [terminated(signal=9)]}),
         "Signal:9", "0/1"),
        (pod({"phase": "Running", "containerStatuses": [running()], "conditions": READY},
             deleting=True), "Terminating", "1/1"),
        (pod({"phase": "Succeeded", "containerStatuses": [terminated("Completed")]},
             deleting=True), "Completed", "0/1"),
        (pod({"phase": "Running", "reason": "NodeLost"}, deleting=True), "Unknown", "0/1"),
        (pod({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
         "SchedulingGated", "0/1"),
        # one container finished, the other still serving: Running, not Completed
        (pod({"phase": "Running", "conditions": READY, "containerStatuses": [
            {**running(), "name": "c1"}, terminated("Completed")]}, containers=2),
         "Running", "1/2"),
        (pod({"phase": "Running", "containerStatuses": [
            {**running(), "name": "c1"}, terminated("Completed")]}, containers=2),
         "NotReady", "1/2"),
    ],
)
def test_pod_status_and_ready(obj: dict, status: str, ready: str) -> None:
    cells = printers.pod_cells(obj, NOW)
    assert (cells[2], cells[1]) == (status, ready)


@pytest.mark.parametrize(
    ("obj", "status"),
    [
        (pod({"phase": "Pending", "initContainerStatuses": [
            {"name": "init", "restartCount": 0, "state": {"running": {}}}]},
            initContainers=[{"name": "init"}]), "Init:0/1"),
        (pod({"phase": "Pending", "initContainerStatuses": [
            {"name": "init", "restartCount": 3,
             "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]},
            initContainers=[{"name": "init"}]), "Init:CrashLoopBackOff"),
        (pod({"phase": "Pending", "initContainerStatuses": [
            {"name": "init", "restartCount": 0, "state": {"terminated": {"exitCode": 2}}}]},
            initContainers=[{"name": "init"}]), "Init:ExitCode:2"),
        (pod({"phase": "Running", "conditions": READY, "initContainerStatuses": [
            {"name": "init", "restartCount": 0, "state": {"terminated": {"exitCode": 0}}}],
            "containerStatuses": [running()]}, initContainers=[{"name": "init"}]), "Running"),
    ],
)
def test_pod_status_of_init_containers(obj: dict, status: str) -> None:
    assert printers.pod_cells(obj, NOW)[2] == status


def test_restarts_show_how_long_ago_the_last_one_was() -> None:
    restarted = pod({"phase": "Running", "containerStatuses": [running(restarts=2,
                                                                       last_exit_ago=5)]})
    assert printers.pod_cells(restarted, NOW)[3] == "2 (5s ago)"
    assert printers.pod_cells(pod({"containerStatuses": [running()]}), NOW)[3] == "0"
    no_time = pod({"containerStatuses": [running(restarts=1)]})
    assert printers.pod_cells(no_time, NOW)[3] == "1"


def test_pod_wide_cells() -> None:
    bound = pod({"phase": "Running", "podIP": "127.244.0.7", "podIPs": [{"ip": "127.244.0.7"}],
                 "conditions": [{"type": "gate-a", "status": "True"}]},
                nodeName="probelab", readinessGates=[{"conditionType": "gate-a"},
                                                     {"conditionType": "gate-b"}])
    assert printers.pod_cells(bound, NOW)[4:] == ["30s", "127.244.0.7", "probelab", "<none>",
                                                  "1/2"]
    assert printers.pod_cells(pod(), NOW)[5:] == ["<none>"] * 4


def test_deployment_and_replicaset_cells() -> None:
    template = {"spec": {"containers": [{"name": "simpleweb", "image": "probelab/simpleweb:1.0"},
                                        {"name": "side", "image": "busybox"}]}}
    selector = {"matchLabels": {"tier": "web", "app": "simpleprobe"},
                "matchExpressions": [{"key": "env", "operator": "In", "values": ["b", "a"]},
                                     {"key": "legacy", "operator": "DoesNotExist"}]}
    dep = {"metadata": {"name": "simpleprobe", "creationTimestamp": ago(3 * 86400)},
           "spec": {"replicas": 10, "selector": selector, "template": template},
           "status": {"readyReplicas": 9, "updatedReplicas": 4, "availableReplicas": 8}}
    assert printers.deployment_cells(dep, NOW) == [
        "simpleprobe", "9/10", 4, 8, "3d", "simpleweb,side", "probelab/simpleweb:1.0,busybox",
        "app=simpleprobe,env in (a,b),!legacy,tier=web",
    ]
    fresh = {"metadata": {"name": "d", "creationTimestamp": ago(1)}, "spec": {}}
    assert printers.deployment_cells(fresh, NOW)[:5] == ["d", "0/1", 0, 0, "1s"]
    rs = {"metadata": {"name": "simpleprobe-5d8f", "creationTimestamp": ago(70)},
          "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "x"}},
                   "template": template},
          "status": {"replicas": 4, "readyReplicas": 2}}
    assert printers.replicaset_cells(rs, NOW)[:5] == ["simpleprobe-5d8f", 3, 4, 2, "70s"]


@pytest.mark.parametrize(
    ("spec", "status", "cells"),
    [
        ({"type": "NodePort", "clusterIP": "127.96.0.10", "clusterIPs": ["127.96.0.10"],
          "ports": [{"port": 8080, "nodePort": 31461, "protocol": "TCP"}],
          "selector": {"app": "simpleprobe"}}, {},
         ["NodePort", "127.96.0.10", "<none>", "8080:31461/TCP"]),
        ({"clusterIP": "127.96.0.11", "ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]},
         {}, ["ClusterIP", "127.96.0.11", "<none>", "80/TCP,53/UDP"]),
        ({"type": "LoadBalancer", "clusterIP": "127.96.0.12", "ports": []}, {},
         ["LoadBalancer", "127.96.0.12", "<pending>", "<none>"]),
        ({"type": "LoadBalancer", "clusterIP": "None", "ports": [{"port": 1}]},
         {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}},
         ["LoadBalancer", "None", "1.2.3.4", "1/TCP"]),
        ({"type": "ExternalName", "externalName": "example.org"}, {},
         ["ExternalName", "<none>", "example.org", "<none>"]),
    ],
)
def test_service_cells(spec: dict, status: dict, cells: list) -> None:
    svc = {"metadata": {"name": "s", "creationTimestamp": ago(5)}, "spec": spec,
           "status": status}
    got = printers.service_cells(svc, NOW)
    assert got[1:5] == cells
    assert got[6] == printers.format_labels(spec.get("selector"))


def test_endpoints_list_ready_addresses_three_at_most() -> None:
    def eps(subsets):
        return {"metadata": {"name": "e", "creationTimestamp": ago(5)}, "subsets": subsets}

    addresses = [{"ip": f"127.244.0.{i}"} for i in range(1, 6)]
    five = eps([{"addresses": addresses, "notReadyAddresses": [{"ip": "127.244.0.9"}],
                 "ports": [{"port": 8080}]}])
    assert printers.endpoints_cells(five, NOW)[1] == (
        "127.244.0.1:8080,127.244.0.2:8080,127.244.0.3:8080 + 2 more..."
    )
    assert printers.endpoints_cells(eps([]), NOW)[1] == "<none>"
    only_unready = eps([{"notReadyAddresses": addresses, "ports": [{"port": 8080}]}])
    assert printers.endpoints_cells(only_unready, NOW)[1] == ""
    no_ports = eps([{"addresses": addresses[:2]}])
    assert printers.endpoints_cells(no_ports, NOW)[1] == "127.244.0.1,127.244.0.2"


def test_endpointslice_cells() -> None:
    es = {"metadata": {"name": "simpleprobe-abc12", "creationTimestamp": ago(5)},
          "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}],
          "endpoints": [{"addresses": [f"127.244.0.{i}"], "conditions": {"ready": i < 3}}
                        for i in range(1, 5)]}
    assert printers.endpointslice_cells(es, NOW) == [
        "simpleprobe-abc12", "IPv4", "8080",
        "127.244.0.1,127.244.0.2,127.244.0.3 + 1 more...", "5s",
    ]
    empty = {"metadata": {"name": "x"}, "addressType": "IPv4", "ports": [{"name": "http"}]}
    assert printers.endpointslice_cells(empty, NOW)[2:4] == ["http", "<unset>"]


def test_event_cells() -> None:
    ev = {"metadata": {"name": "web-1.17f"},
          "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{c}"},
          "reason": "Unhealthy", "message": "Readiness probe failed \n", "type": "Warning",
          "source": {"component": "kubelet"}, "reportingInstance": "probelab",
          "firstTimestamp": ago(300), "lastTimestamp": ago(7), "count": 4}
    assert printers.event_cells(ev, NOW) == [
        "7s", "Warning", "Unhealthy", "pod/web-1", "spec.containers{c}", "kubelet, probelab",
        "Readiness probe failed", "5m", 4, "web-1.17f",
    ]
    new_style = {"metadata": {"name": "n"}, "involvedObject": {"kind": "Namespace"},
                 "eventTime": rfc3339(NOW - 3).replace("Z", ".250000Z"), "type": "Normal",
                 "reportingComponent": "proxy"}
    cells = printers.event_cells(new_style, NOW)  # 2.75 s ago: ages truncate to whole seconds
    assert (cells[0], cells[3], cells[5], cells[7], cells[8]) == ("2s", "namespace", "proxy",
                                                                  "2s", 1)


def test_table_shape_and_row_objects() -> None:
    obj = pod({"phase": "Succeeded"})
    table = to_table("pods", [obj], NOW, resource_version="42")
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42"}
    names = [(c["name"], c["priority"]) for c in table["columnDefinitions"]]
    assert names[:5] == [("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0)]
    assert all(p == 1 for _, p in names[5:])
    (row,) = table["rows"]
    assert len(row["cells"]) == len(names)
    assert row["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": obj["metadata"]}
    assert row["conditions"][0]["type"] == "Completed"
    assert to_table("pods", [obj], NOW, "Object")["rows"][0]["object"] is obj
    assert "object" not in to_table("pods", [obj], NOW, IncludeObject.NONE)["rows"][0]


@pytest.mark.parametrize("resource", ["pods", "deployments", "replicasets", "services",
                                      "endpoints", "endpointslices", "events", "namespaces",
                                      "widgets"])
def test_every_row_has_a_cell_per_column(resource: str) -> None:
    empty = {"metadata": {"name": "x", "creationTimestamp": ago(1)}}
    table = to_table(resource, [empty], NOW)
    assert len(table["rows"][0]["cells"]) == len(columns(resource))


def test_namespace_cells() -> None:
    ns = {"metadata": {"name": "probes", "creationTimestamp": ago(61)},
          "status": {"phase": "Terminating"}}
    assert to_table("namespaces", [ns], NOW)["rows"][0]["cells"] == ["probes", "Terminating",
                                                                      "61s"]


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;"
         "g=meta.k8s.io,application/json", True),
        ("application/json; as=Table; v=v1; g=meta.k8s.io", True),
        ("application/json", False),
        ("application/json, */*", False),
        ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", False),
        ("application/yaml;as=Table;v=v1;g=meta.k8s.io", False),
        (None, False),
    ],
)
def test_wants_table(accept: str | None, expected: bool) -> None:
    assert wants_table(accept) is expected


# ---- the workload kinds (printing/workloads.py) ----------------------------------------------
def test_workload_kind_columns_follow_kubectl() -> None:
    from probelab.engine.apiserver.printing.tables import columns

    def names(resource: str) -> list[str]:
        return [c["name"] for c in columns(resource) if c["priority"] == 0]

    assert names("statefulsets") == ["Name", "Ready", "Age"]
    assert names("daemonsets") == ["Name", "Desired", "Current", "Ready", "Up-to-date",
                                   "Available", "Node Selector", "Age"]
    assert names("jobs") == ["Name", "Status", "Completions", "Duration", "Age"]
    assert names("cronjobs") == ["Name", "Schedule", "Timezone", "Suspend", "Active",
                                 "Last Schedule", "Age"]
    assert names("ingresses") == ["Name", "Class", "Hosts", "Address", "Ports", "Age"]
    assert names("horizontalpodautoscalers") == ["Name", "Reference", "Targets", "MinPods",
                                                 "MaxPods", "Replicas", "Age"]
    assert names("controllerrevisions") == ["Name", "Controller", "Revision", "Age"]


def test_workload_kind_cells() -> None:
    from probelab.engine.apiserver.printing import workloads

    now = 1_700_000_100.0
    start = "2023-11-14T22:13:20Z"  # 1_700_000_000
    job = {"metadata": {"name": "j"}, "spec": {"parallelism": 3},
           "status": {"startTime": start, "succeeded": 1, "conditions": [
               {"type": "FailureTarget", "status": "True"}]}}
    assert workloads.job_cells(job, now)[:4] == ["j", "FailureTarget", "1/1 of 3", "100s"]
    job["status"]["conditions"].append({"type": "Failed", "status": "True"})
    assert workloads.job_cells(job, now)[1] == "Failed"
    job = {"metadata": {"name": "j"}, "spec": {"completions": 2},
           "status": {"startTime": start, "completionTime": "2023-11-14T22:13:50Z",
                      "succeeded": 2}}
    assert workloads.job_cells(job, now)[2:4] == ["2/2", "30s"]
    ing = {"metadata": {"name": "i"}, "spec": {"tls": [{}], "rules": [
        {"host": "a"}, {}, {"host": "c"}, {"host": "d"}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}, {"hostname": "lb"}]}}}
    assert workloads.ingress_cells(ing, now)[1:5] == ["<none>", "a,*,c + 1 more...",
                                                      "10.0.0.1,lb", "80, 443"]
    hpa = {"metadata": {"name": "h"}, "spec": {
        "scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 4,
        "minReplicas": 2, "metrics": [
            {"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": 80}}},
            {"type": "Resource", "resource": {"name": "memory", "target": {
                "type": "AverageValue", "averageValue": "100Mi"}}}]},
        "status": {"currentReplicas": 3, "currentMetrics": [
            {"type": "Resource", "resource": {"name": "cpu", "current": {
                "averageUtilization": 12}}}]}}
    assert workloads.hpa_cells(hpa, now)[1:6] == [
        "Deployment/web", "cpu: 12%/80%, memory: <unknown>/100Mi", 2, 4, 3]
    ds = {"metadata": {"name": "d"}, "spec": {"template": {"spec": {
        "nodeSelector": {"b": "2", "a": "1"}}}}, "status": {"desiredNumberScheduled": 2}}
    assert workloads.daemonset_cells(ds, now)[1:7] == [2, 0, 0, 0, 0, "a=1,b=2"]
    cron = {"metadata": {"name": "c"}, "spec": {"schedule": "@hourly", "suspend": True,
                                                  "timeZone": "Etc/UTC"},
            "status": {"active": [{}], "lastScheduleTime": start}}
    assert workloads.cronjob_cells(cron, now)[1:6] == ["@hourly", "Etc/UTC", "True", 1, "100s"]
    rev = {"metadata": {"name": "web-1", "ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "controller": True}]},
        "revision": 2}
    assert workloads.controllerrevision_cells(rev, now)[:3] == ["web-1", "statefulset.apps/web",
                                                                2]
