"""StatefulSets, DaemonSets, Jobs, CronJobs, Ingresses and HPAs end to end: real kubectl and
the official client against a real `probelab cluster up` with real pods.

One engine serves the module; each test works in its own namespace. Orders are read from the
controllers' Events (their `eventTime` has microseconds), never from sleeps.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from support.real_engine import RealEngine, e2e_engine
from support.waiting import wait_until

WEB = {"name": "web", "image": "probelab/simpleweb:1.0",
       "ports": [{"containerPort": 8080, "name": "http"},
                 {"containerPort": 8081, "name": "admin"}],
       "readinessProbe": {"httpGet": {"path": "/healthz", "port": "admin"},
                          "periodSeconds": 1}}


@pytest.fixture(scope="module")
def eng(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealEngine]:
    with e2e_engine(tmp_path_factory.mktemp("kinds"), "--image", "busybox=/bin/sh") as engine:
        yield engine


def apply(eng: RealEngine, tmp: Path, docs: list[dict], *flags: str) -> str:
    path = tmp / "manifest.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return eng.kubectl("apply", "-f", str(path), *flags).stdout


def namespace(eng: RealEngine, name: str) -> None:
    eng.kubectl("create", "namespace", name)


def pod_events(eng: RealEngine, ns: str, owner: str) -> list[tuple[str, str]]:
    """(reason, message) of the owner's SuccessfulCreate/SuccessfulDelete Events, in order."""
    return [(e.reason, e.message) for e in eng.events(ns, owner)
            if e.reason in ("SuccessfulCreate", "SuccessfulDelete")]


def statefulset(replicas: int) -> dict:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "web"},
            "spec": {"serviceName": "web", "replicas": replicas,
                     "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"terminationGracePeriodSeconds": 1,
                                           "containers": [WEB]}}}}


def test_statefulset_ordered_start_scale_down_restart_and_partition(eng: RealEngine,
                                                                     tmp_path: Path) -> None:
    ns = "sts"
    namespace(eng, ns)
    apply(eng, tmp_path, [statefulset(3)], "-n", ns)
    out = eng.kubectl("-n", ns, "rollout", "status", "sts/web", "--timeout", "90s").stdout
    assert "partitioned roll out complete: 3 new pods have been updated" in out
    creates = pod_events(eng, ns, "web")
    assert creates == [("SuccessfulCreate", f"create Pod web-{i} in StatefulSet web successful")
                       for i in range(3)]
    # OrderedReady: each pod was created only after the one before it was Ready.
    pods = {p.metadata.name: p for p in eng.pods(ns)}
    created_at = {e.message.split()[2]: e.event_time for e in eng.events(ns, "web")}
    for before, after in (("web-0", "web-1"), ("web-1", "web-2")):
        ready = next(c for c in pods[before].status.conditions if c.type == "Ready")
        assert ready.status == "True"
        assert ready.last_transition_time <= created_at[after]
    web1 = pods["web-1"]
    assert web1.metadata.labels["statefulset.kubernetes.io/pod-name"] == "web-1"
    assert web1.metadata.labels["apps.kubernetes.io/pod-index"] == "1"
    assert web1.metadata.labels["controller-revision-hash"].startswith("web-")
    assert (web1.spec.hostname, web1.spec.subdomain) == ("web-1", "web")
    table = eng.kubectl("-n", ns, "get", "sts").stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "AGE"]
    assert table[1].split()[:2] == ["web", "3/3"]

    # Scale down: the highest ordinal first, one at a time.
    eng.kubectl("-n", ns, "scale", "sts/web", "--replicas=1")
    wait_until(lambda: [p.metadata.name for p in eng.pods(ns)] == ["web-0"], timeout_s=60,
               what="only web-0 left")
    assert pod_events(eng, ns, "web")[3:] == [
        ("SuccessfulDelete", "delete Pod web-2 in StatefulSet web successful"),
        ("SuccessfulDelete", "delete Pod web-1 in StatefulSet web successful")]
    eng.kubectl("-n", ns, "scale", "sts/web", "--replicas=3")
    eng.kubectl("-n", ns, "rollout", "status", "sts/web", "--timeout", "90s")

    # rollout restart: from the highest ordinal down, each recreated before the next goes.
    seen = len(pod_events(eng, ns, "web"))
    eng.kubectl("-n", ns, "rollout", "restart", "sts/web")
    eng.kubectl("-n", ns, "rollout", "status", "sts/web", "--timeout", "90s")
    sts = eng.apps.read_namespaced_stateful_set("web", ns)
    wait_until(lambda: eng.apps.read_namespaced_stateful_set("web", ns).status.current_revision
               == sts.status.update_revision, what="the update revision to become current")
    steps = pod_events(eng, ns, "web")[seen:]
    assert [(reason[10:], msg.split()[2]) for reason, msg in steps] == [
        ("Delete", "web-2"), ("Create", "web-2"), ("Delete", "web-1"), ("Create", "web-1"),
        ("Delete", "web-0"), ("Create", "web-0")]
    revisions = {p.metadata.name: p.metadata.labels["controller-revision-hash"]
                 for p in eng.pods(ns)}
    assert set(revisions.values()) == {sts.status.update_revision}
    history = eng.kubectl("-n", ns, "rollout", "history", "sts/web").stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]

    # partition 2: only web-2 moves to the next revision.
    eng.kubectl("-n", ns, "patch", "sts/web", "-p",
                '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}}}}')
    eng.kubectl("-n", ns, "set", "image", "sts/web", "web=probelab/simpleweb:2.0")
    out = eng.kubectl("-n", ns, "rollout", "status", "sts/web", "--timeout", "90s").stdout
    assert "partitioned roll out complete: 1 new pods have been updated" in out
    images = {p.metadata.name: p.spec.containers[0].image for p in eng.pods(ns)}
    assert images == {"web-0": "probelab/simpleweb:1.0", "web-1": "probelab/simpleweb:1.0",
                      "web-2": "probelab/simpleweb:2.0"}

    # Deleting the set cascades to its pods; deleting the namespace removes the rest.
    eng.kubectl("-n", ns, "delete", "sts", "web")
    wait_until(lambda: not eng.pods(ns), timeout_s=60, what="the set's pods to go")
    eng.kubectl("delete", "namespace", ns, "--timeout", "60s")


def test_daemonset_one_pod_per_node_and_rollout(eng: RealEngine, tmp_path: Path) -> None:
    ns = "ds"
    namespace(eng, ns)
    if eng.kubectl("get", "node", "probelab", check=False).returncode != 0:
        apply(eng, tmp_path, [{"apiVersion": "v1", "kind": "Node",
                               "metadata": {"name": "probelab"}}])
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
          "spec": {"selector": {"matchLabels": {"app": "agent"}},
                   "template": {"metadata": {"labels": {"app": "agent"}},
                                "spec": {"terminationGracePeriodSeconds": 1,
                                         "containers": [WEB]}}}}
    apply(eng, tmp_path, [ds], "-n", ns)
    out = eng.kubectl("-n", ns, "rollout", "status", "ds/agent", "--timeout", "90s").stdout
    assert 'daemon set "agent" successfully rolled out' in out
    [first] = eng.pods(ns)
    assert first.spec.node_name == "probelab"
    tolerated = {(t.key, t.effect) for t in first.spec.tolerations}
    assert ("node.kubernetes.io/unschedulable", "NoSchedule") in tolerated
    table = eng.kubectl("-n", ns, "get", "ds").stdout.splitlines()
    assert table[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE",
                                "AVAILABLE", "NODE", "SELECTOR", "AGE"]
    assert table[1].split()[:7] == ["agent", "1", "1", "1", "1", "1", "<none>"]
    eng.kubectl("-n", ns, "rollout", "restart", "ds/agent")
    eng.kubectl("-n", ns, "rollout", "status", "ds/agent", "--timeout", "90s")
    wait_until(lambda: [p.metadata.name for p in eng.pods(ns)] not in ([], [first.metadata.name])
               and len(eng.pods(ns)) == 1, timeout_s=60, what="the old daemon pod replaced")
    steps = pod_events(eng, ns, "agent")
    # the old pod went before its replacement was made: never two on the node
    assert [reason for reason, _ in steps] == ["SuccessfulCreate", "SuccessfulDelete",
                                               "SuccessfulCreate"]
    eng.kubectl("delete", "namespace", ns, "--timeout", "60s")


def test_job_runs_three_completions_two_at_a_time(eng: RealEngine, tmp_path: Path) -> None:
    ns = "job"
    namespace(eng, ns)
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "work"},
           "spec": {"completions": 3, "parallelism": 2, "template": {"spec": {
               "restartPolicy": "Never",
               "containers": [{"name": "c", "image": "busybox", "command": [
                   "sh", "-c", "echo done by $HOSTNAME; sleep 0.3"]}]}}}}
    apply(eng, tmp_path, [job], "-n", ns)
    out = eng.kubectl("-n", ns, "wait", "--for=condition=complete", "job/work",
                      "--timeout=90s").stdout
    assert "job.batch/work condition met" in out
    got = client.BatchV1Api(eng.api).read_namespaced_job("work", ns)
    assert got.status.succeeded == 3 and not got.status.failed
    assert [c.type for c in got.status.conditions] == ["SuccessCriteriaMet", "Complete"]
    assert got.spec.selector.match_labels == {
        "batch.kubernetes.io/controller-uid": got.metadata.uid}
    pods = eng.pods(ns)
    assert len(pods) == 3 and {p.status.phase for p in pods} == {"Succeeded"}
    assert {p.metadata.labels["batch.kubernetes.io/job-name"] for p in pods} == {"work"}
    # at most `parallelism` pods were ever created before one had finished
    creates = [e for e in eng.events(ns, "work") if e.reason == "SuccessfulCreate"]
    finished = sorted(c.state.terminated.finished_at for p in pods
                      for c in p.status.container_statuses)
    assert len(creates) == 3 and creates[2].event_time >= finished[0]
    logs = eng.kubectl("-n", ns, "logs", "job/work").stdout
    assert logs.startswith("done by work-")
    table = eng.kubectl("-n", ns, "get", "jobs").stdout.splitlines()
    assert table[0].split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert table[1].split()[:3] == ["work", "Complete", "3/3"]
    eng.kubectl("-n", ns, "delete", "job", "work")
    wait_until(lambda: not eng.pods(ns), timeout_s=30, what="the job's pods to go")
    indexed = json.loads(json.dumps(job))
    indexed["metadata"]["name"] = "each"
    indexed["spec"].update(completionMode="Indexed", completions=2)
    indexed["spec"]["template"]["spec"]["containers"][0]["command"] = [
        "sh", "-c", "echo index $JOB_COMPLETION_INDEX"]
    apply(eng, tmp_path, [indexed], "-n", ns)
    eng.kubectl("-n", ns, "wait", "--for=condition=complete", "job/each", "--timeout=90s")
    got = client.BatchV1Api(eng.api).read_namespaced_job("each", ns)
    assert got.status.completed_indexes == "0-1"
    logs = {eng.kubectl("-n", ns, "logs", p.metadata.name).stdout.strip()
            for p in eng.pods(ns)}
    assert logs == {"index 0", "index 1"}
    eng.kubectl("delete", "namespace", ns, "--timeout", "60s")


def test_cronjob_ingress_hpa_in_a_list(eng: RealEngine, tmp_path: Path) -> None:
    ns = "misc"
    namespace(eng, ns)
    items = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "w"}},
                  "template": {"metadata": {"labels": {"app": "w"}}, "spec": {
                      "terminationGracePeriodSeconds": 1, "containers": [WEB]}}}},
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"},
         "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {
             "restartPolicy": "OnFailure",
             "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}}}}}},
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "often"},
         "spec": {"schedule": "@every 2s", "concurrencyPolicy": "Forbid",
                  "jobTemplate": {"spec": {"template": {"spec": {
                      "restartPolicy": "Never",
                      "containers": [{"name": "c", "image": "busybox",
                                      "command": ["echo", "tick"]}]}}}}}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web"},
         "spec": {"ingressClassName": "nginx", "rules": [{"host": "web.example.com", "http": {
             "paths": [{"path": "/", "pathType": "Prefix", "backend": {
                 "service": {"name": "web", "port": {"number": 8080}}}}]}}]}},
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
         "metadata": {"name": "web"},
         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": "web"},
                  "minReplicas": 2, "maxReplicas": 4}},
    ]
    # kubectl's client-side validation of a List reads /openapi/v2 (docs/kubectl.md).
    out = apply(eng, tmp_path, [{"apiVersion": "v1", "kind": "List", "items": items}],
                "-n", ns, "--validate=false")
    assert out.split("\n")[:5] == ["deployment.apps/web created",
                                   "cronjob.batch/nightly created",
                                   "cronjob.batch/often created",
                                   "ingress.networking.k8s.io/web created",
                                   "horizontalpodautoscaler.autoscaling/web created"]
    # The CronJob controller starts a Job at the scheduled time and sees it complete.
    batch = client.BatchV1Api(eng.api)
    wait_until(lambda: batch.read_namespaced_cron_job("often", ns).status.last_successful_time,
               timeout_s=60, what="a Job of the CronJob to complete")
    [first, *_] = batch.list_namespaced_job(ns).items
    assert first.metadata.name.startswith("often-")
    assert first.metadata.owner_references[0].kind == "CronJob"
    assert first.metadata.annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"]
    assert any(e.reason == "SawCompletedJob" for e in eng.events(ns, "often"))
    eng.kubectl("-n", ns, "patch", "cronjob", "often", "-p", '{"spec":{"suspend":true}}')
    cron = eng.kubectl("-n", ns, "get", "cronjob").stdout.splitlines()
    assert cron[0].split() == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST",
                               "SCHEDULE", "AGE"]
    assert cron[1].split()[:9] == ["nightly", "0", "3", "*", "*", "*", "<none>", "False", "0"]
    ing = eng.kubectl("-n", ns, "get", "ingress").stdout.splitlines()
    assert ing[0].split() == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    assert ing[1].split()[:4] == ["web", "nginx", "web.example.com", "80"]
    assert "web.example.com" in eng.kubectl("-n", ns, "describe", "ingress", "web").stdout
    # The HPA holds minReplicas without metrics and says it has none.
    wait_until(lambda: eng.apps.read_namespaced_deployment("web", ns).spec.replicas == 2,
               what="the HPA to raise the Deployment to minReplicas")
    hpa_api = client.AutoscalingV2Api(eng.api)
    wait_until(lambda: any(c.type == "ScalingActive" for c in (
        hpa_api.read_namespaced_horizontal_pod_autoscaler("web", ns).status.conditions or [])),
        timeout_s=30, what="the HPA's ScalingActive condition")
    conds = {c.type: c for c in
             hpa_api.read_namespaced_horizontal_pod_autoscaler("web", ns).status.conditions}
    assert conds["AbleToScale"].status == "True"
    assert (conds["ScalingActive"].status, conds["ScalingActive"].reason) == (
        "False", "FailedGetResourceMetric")
    assert conds["ScalingActive"].message.startswith(
        "the HPA was unable to compute the replica count: failed to get cpu utilization")
    hpa = eng.kubectl("-n", ns, "get", "hpa").stdout.splitlines()
    assert hpa[0].split() == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS",
                              "AGE"]
    assert hpa[1].split()[:5] == ["web", "Deployment/web", "cpu:", "<unknown>/80%", "2"]
    described = eng.kubectl("-n", ns, "describe", "hpa", "web").stdout
    assert "FailedGetResourceMetric" in described
    assert "Schedule:" in eng.kubectl("-n", ns, "describe", "cronjob", "nightly").stdout
    # Bad input: a clear 422, nothing stored.
    bad = dict(items[1], metadata={"name": "broken"})
    bad = json.loads(json.dumps(bad))
    bad["spec"]["schedule"] = "every day"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    result = eng.kubectl("-n", ns, "apply", "-f", str(path), check=False)
    assert result.returncode != 0
    assert 'The CronJob "broken" is invalid: spec.schedule' in result.stderr
    eng.kubectl("delete", "namespace", ns, "--timeout", "60s")
    assert eng.kubectl("get", "namespace", ns, check=False).returncode != 0
