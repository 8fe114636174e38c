"""`probelab test`'s pure decisions, table-tested: scenarios, workload discovery, scale
targets, patches, verdict, attribution, diagnosis and JUnit XML."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

import pytest

from probelab.errors import UsageError
from probelab.report.model import EndpointSample, PodMark, PodStep
from probelab.workloadtest import attribution, diagnosis, junit
from probelab.workloadtest.actions import (
    RESTARTED_AT,
    plan_steps,
    rollout_patch,
    scale_down_target,
    scale_up_target,
)
from probelab.workloadtest.attribution import Failure
from probelab.workloadtest.config import Action, Scenario, parse_scenarios
from probelab.workloadtest.target import find_target, service_url
from probelab.workloadtest.verdict import Limits, ScenarioResult, judge, overall


def deployment(name: str = "web", ns: str = "shop", labels: dict | None = None,
               replicas: int | None = 3, containers: tuple[str, ...] = ("app",)) -> dict:
    labels = labels or {"app": name}
    spec: dict = {"selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels},
                               "spec": {"containers": [{"name": c, "image": "x:1"}
                                                       for c in containers]}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def service(name: str = "web", ns: str = "shop", selector: dict | None = None,
            ports: list | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"app": name} if selector is None else selector,
                     "ports": ports or [{"name": "http", "port": 8080}]}}


# ---- scenarios ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("values", "labels"), [
    ((), ["rolling-update", "scale-down"]),
    (("scale-down=1",), ["scale-down=1"]),
    (("delete-pod", "scale-up,rolling-update"), ["delete-pod", "scale-up", "rolling-update"]),
])
def test_parse_scenarios(values, labels) -> None:
    assert [s.label for s in parse_scenarios(values)] == labels


@pytest.mark.parametrize("value", ["cordon", "drain=1", "scale-down=0", "scale-down=x",
                                   "delete-pod=2", ","])
def test_parse_scenarios_refuses(value) -> None:
    with pytest.raises(UsageError):
        parse_scenarios((value,))


# ---- discovery ----------------------------------------------------------------------------------

def test_the_one_deployment_a_service_selects() -> None:
    objs = [deployment(), service(), deployment("worker")]  # worker: no Service
    target = find_target(objs)
    assert (target.namespace, target.deployment, target.service, target.replicas) == \
        ("shop", "web", "web", 3)
    assert target.port.name == "http" and target.containers == ("app",)


def test_replicas_default_to_one_and_namespace_to_default() -> None:
    dep, svc = deployment(replicas=None), service()
    del dep["metadata"]["namespace"], svc["metadata"]["namespace"]
    target = find_target([dep, svc])
    assert (target.namespace, target.replicas) == ("default", 1)


@pytest.mark.parametrize(("objs", "kwargs", "words"), [
    ([service()], {}, "no Deployment"),
    ([deployment("a"), service("a"), deployment("b"), service("b")], {},
     "2 Deployments are behind a Service: deployment/a (namespace shop), deployment/b"),
    ([deployment(), service(selector={"app": "other"})], {}, "service/web selects app=other"),
    ([deployment()], {}, "no Service"),
    ([deployment(), service()], {"workload": "deployment/nope"}, "candidates: deployment/web"),
    ([deployment(), service()], {"workload": "statefulset/web"}, "only Deployments"),
    ([deployment(), service(), service("other", selector={"app": "x"})], {"service": "other"},
     "service/other selects no Deployment"),
    ([deployment(), service()], {"port": "9999"}, "ports: 8080 (http)"),
    ([deployment(), service(), service("web2", selector={"app": "web"})], {},
     "2 Services select deployment/web"),
])
def test_discovery_errors_name_the_candidates(objs, kwargs, words) -> None:
    with pytest.raises(UsageError, match=None) as info:
        find_target(objs, **kwargs)
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_choices_by_flag() -> None:
    objs = [deployment("a"), service("a", ports=[{"name": "x", "port": 1},
                                                   {"name": "web", "port": 8081}]),
            deployment("b"), service("b")]
    target = find_target(objs, workload="a", port="web")
    assert (target.deployment, target.port.port) == ("a", 8081)
    assert find_target(objs, service="b").deployment == "b"


@pytest.mark.parametrize(("spec", "url"), [
    ({"clusterIP": "127.100.0.5", "ports": [{"port": 8080}]}, "http://127.100.0.5:8080/p"),
    ({"clusterIP": "10.0.0.5", "ports": [{"port": 8080, "nodePort": 30001}]},
     "http://127.0.0.1:30001/p"),
])
def test_service_url(spec, url) -> None:
    target = find_target([deployment(), service()])
    port = type(target.port)("", 8080, None)
    assert service_url({"metadata": {"name": "web"}, "spec": spec}, port, "/p") == url


# ---- actions ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("replicas", "wanted", "expected"), [
    (3, None, 1), (10, None, 4), (4, None, 2), (3, 2, 2)])
def test_scale_down_target(replicas, wanted, expected) -> None:
    assert scale_down_target(replicas, wanted) == expected


@pytest.mark.parametrize(("replicas", "wanted"), [(1, None), (3, 3), (3, 5)])
def test_scale_down_target_refuses(replicas, wanted) -> None:
    with pytest.raises(UsageError):
        scale_down_target(replicas, wanted)


def test_scale_up_target() -> None:
    assert scale_up_target(3, None) == 6
    assert scale_up_target(1, None) == 2
    with pytest.raises(UsageError):
        scale_up_target(3, 3)


def test_new_image_with_an_unknown_container_is_refused_before_anything_runs() -> None:
    target = find_target([deployment(containers=("app", "sidecar")), service()])
    scenarios = (Scenario(Action.ROLLING_UPDATE),)
    with pytest.raises(UsageError, match="no container 'web' \\(containers: app, sidecar\\)"):
        plan_steps(target, scenarios, (("web", "x:2"),))
    steps = plan_steps(target, scenarios, (("app", "x:2"),))
    assert steps[0].description == "roll out (app=x:2)"


def test_rollout_patch_is_a_restart_plus_images_by_name() -> None:
    assert rollout_patch((), "T") == {
        "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: "T"}}}}}
    patch = rollout_patch((("app", "x:2"),), "T")
    assert patch["spec"]["template"]["spec"] == {"containers": [{"name": "app", "image": "x:2"}]}


# ---- verdict ------------------------------------------------------------------------------------

def _done(**kw) -> ScenarioResult:
    base = {"scenario": "s", "requests": 100, "failed": 0, "rollout_s": 3.0}
    return ScenarioResult(**{**base, **kw})


@pytest.mark.parametrize(("result", "limits", "passed", "kind"), [
    (_done(), Limits(), True, ""),
    (_done(failed=1), Limits(), False, "RequestsFailed"),
    (_done(failed=2), Limits(max_failures=2), True, ""),
    (_done(failed=2), Limits(max_error_rate=2.0), True, ""),
    (_done(failed=3), Limits(max_error_rate=2.0), False, "RequestsFailed"),
    # a rollout that never finished never passes, however clean the traffic
    (_done(rollout_s=None, rollout_problem="rollout did not complete"), Limits(max_failures=9),
     False, "RolloutIncomplete"),
    (_done(ready_problem="rollout did not complete within 5 s"), Limits(), False,
     "RolloutIncomplete"),
    (_done(setup_problem="never answered"), Limits(), False, "NotServing"),
    (_done(requests=0), Limits(), False, "NoRequests"),
    # requests the client never sent are not a clean run, whatever the limits
    (_done(not_sent=5), Limits(max_failures=9), False, "ClientBehind"),
    (_done(skipped="earlier failed"), Limits(), False, "Skipped"),
])
def test_judge(result, limits, passed, kind) -> None:
    judgement = judge(result, limits)
    assert (judgement.passed, judgement.kind) == (passed, kind)


def test_overall() -> None:
    assert overall([], Limits())[0] is False
    assert overall([_done(), _done()], Limits()) == (True, "all 2 scenario(s) passed")
    assert overall([_done(), _done(scenario="x", failed=1)], Limits())[0] is False


# ---- attribution --------------------------------------------------------------------------------

def marks(*items: tuple[float, str, PodStep]) -> list[PodMark]:
    return [PodMark(t, pod, step) for t, pod, step in items]


TERM = marks((1.0, "web-1", PodStep.TERMINATING), (1.0, "web-1", PodStep.SIGTERM))
PROXY_LATE = [EndpointSample(0.5, 3, 0, "proxy"), EndpointSample(2.0, 2, 1, "proxy")]
PROXY_EARLY = [EndpointSample(1.6, 2, 1, "proxy")]


@pytest.mark.parametrize(("failure", "pod_marks", "proxy", "key"), [
    (Failure(1.5, "reset"), TERM, PROXY_LATE, attribution.IN_ENDPOINTS),
    (Failure(1.5, "reset"), TERM, [], attribution.IN_ENDPOINTS),
    (Failure(2.5, "closed"),
     marks((1.0, "web-1", PodStep.TERMINATING), (2.0, "web-1", PodStep.SIGTERM)),
     PROXY_EARLY, attribution.DRAIN),
    (Failure(3.0, "reset"), [*TERM, PodMark(2.9, "web-1", PodStep.KILLED)], PROXY_LATE,
     attribution.KILLED),
    (Failure(1.2, "refused"), marks((1.0, "web-9", PodStep.STARTED),
                                    (1.0, "web-9", PodStep.READY)), [], attribution.STARTUP),
    # a rolling update: an old pod's SIGTERM explains it, not the new pod started just after
    (Failure(1.5, "reset"), [*TERM, PodMark(1.2, "web-9", PodStep.STARTED)], PROXY_LATE,
     attribution.IN_ENDPOINTS),
    (Failure(9.0, "http_5xx"), TERM, PROXY_LATE, attribution.UNEXPLAINED),
])
def test_classify(failure, pod_marks, proxy, key) -> None:
    assert attribution.classify(failure, pod_marks, proxy, 3.0, lag_s=1.0)[0] == key


def test_an_older_proxy_apply_is_not_the_pods_removal() -> None:
    """A proxy apply 0.1 s after the pod began terminating is an older change in the queue
    (the lag is 1 s), so the pod was still routed to when it got SIGTERM at 1.0 s."""
    proxy = [EndpointSample(1.1, 4, 0, "proxy"), EndpointSample(2.0, 3, 1, "proxy")]
    key, pod, gap = attribution.classify(Failure(1.5, "reset"), TERM, proxy, 3.0, lag_s=1.0)
    assert (key, pod, gap) == (attribution.IN_ENDPOINTS, "web-1", 1.0)


def test_attribute_groups_causes_with_a_sentence_and_a_cure() -> None:
    other = PodMark(1.0, "db-1", PodStep.SIGTERM)  # another workload's pod: ignored
    causes = attribution.attribute(
        [Failure(1.2, "reset"), Failure(1.4, "refused"), Failure(9.0, "reset")],
        [*TERM, other], PROXY_LATE, "web-", 3.0, lag_s=1.0)
    assert [c.key for c in causes] == [attribution.IN_ENDPOINTS, attribution.UNEXPLAINED]
    first = causes[0]
    assert first.count == 2 and first.pods == ("web-1",)
    assert "after SIGTERM, still in the proxy's endpoints" in first.text
    assert "1.0 s before the proxy stopped routing to it" in first.text
    assert "Cure: a preStop hook" in first.text


# ---- diagnosis ----------------------------------------------------------------------------------

def pod(name: str, ready: bool, waiting: str | None = None) -> dict:
    status: dict = {"phase": "Running",
                    "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if waiting:
        status["containerStatuses"] = [{"state": {"waiting": {"reason": waiting}}}]
    return {"metadata": {"name": name}, "status": status}


def event(pod_name: str, reason: str, message: str, t: str) -> dict:
    return {"involvedObject": {"name": pod_name}, "reason": reason, "message": message,
            "eventTime": t}


def test_not_ready_names_pods_and_their_last_distinct_events() -> None:
    events = [event("a", "Started", "Started container", "2026-01-01T00:00:01Z"),
              event("a", "Unhealthy", "Readiness probe failed: 503", "2026-01-01T00:00:02Z"),
              event("a", "Unhealthy", "Readiness probe failed: 503", "2026-01-01T00:00:03Z"),
              event("b", "Pulled", "ok", "2026-01-01T00:00:01Z")]
    text = diagnosis.not_ready([pod("a", False), pod("b", True), pod("c", False, "ErrImagePull")],
                               events, 40)
    assert text.startswith("rollout did not complete within 40 s: pod a (Running, not ready; "
                           "last events: Started: Started container; Unhealthy: Readiness "
                           "probe failed: 503)")
    assert "pod c (ErrImagePull, not ready; last events: no events)" in text
    assert "pod b" not in text


# ---- JUnit --------------------------------------------------------------------------------------

def test_junit_has_one_testcase_per_scenario_and_failures_with_attribution() -> None:
    cause = attribution.attribute([Failure(1.2, "reset")], TERM, PROXY_LATE, "web-", 3.0, 1.0)
    results = [_done(scenario="rolling-update"),
               _done(scenario="scale-down", failed=1, causes=cause),
               _done(scenario="delete-pod", rollout_s=None,
                     rollout_problem="rollout did not complete within 5 s: pod a <x> & y"),
               _done(scenario="scale-up", skipped="delete-pod did not complete")]
    root = ET.fromstring(junit.render("shop/deployment/web", copy.deepcopy(results), Limits(),
                                      "2026-01-01T00:00:00+00:00"))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "2", "1")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert list(cases) == ["rolling-update", "scale-down", "delete-pod", "scale-up"]
    assert cases["rolling-update"].find("failure") is None
    failure = cases["scale-down"].find("failure")
    assert failure is not None and failure.get("type") == "RequestsFailed"
    assert "still in the proxy's endpoints" in (failure.text or "")
    rollout = cases["delete-pod"].find("failure")
    assert rollout is not None and rollout.get("type") == "RolloutIncomplete"
    assert "pod a <x> & y" in (rollout.text or "")
    assert cases["scale-up"].find("skipped") is not None
    for case in cases.values():
        float(case.get("time") or "x")


def test_an_image_without_a_command_is_refused_up_front() -> None:
    from probelab.workloadtest.actions import check_images_mapped

    target = find_target([deployment(), service()])
    assert target.images == ("x:1",)
    check_images_mapped(target, (), lambda image: False)
    with pytest.raises(UsageError, match="image y:2 has no command on the local engine"):
        check_images_mapped(target, (("app", "y:2"),), lambda image: image == "y:2")


def test_termination_timelines_against_the_grace_period() -> None:
    from probelab.workloadtest import timeline

    steps = marks((1.0, "web-1", PodStep.TERMINATING), (1.0, "web-1", PodStep.PRESTOP),
                  (3.0, "web-1", PodStep.SIGTERM), (3.1, "web-1", PodStep.EXITED),
                  (1.2, "web-2", PodStep.TERMINATING), (1.2, "web-2", PodStep.SIGTERM),
                  (11.2, "web-2", PodStep.KILLED), (0.5, "web-3", PodStep.STARTED),
                  (1.0, "db-1", PodStep.TERMINATING))
    items = timeline.terminations(steps, "web-")
    assert [(t.pod, t.prestop_s, t.killed) for t in items] == [
        ("web-1", 2.0, False), ("web-2", None, True)]
    assert items[1].exit_s == pytest.approx(10.0)
    assert timeline.summary(items, 10) == (
        "2 pods terminated: preStop 2.0 s, SIGTERM -> exit 0.1-10.0 s, 1 SIGKILLed "
        "(terminationGracePeriodSeconds 10)")
    assert timeline.summary([], 30) == ""


def test_pods_stopped_in_an_earlier_scenario_are_left_out() -> None:
    from probelab.workloadtest import timeline

    replayed = marks((-4.0, "web-old", PodStep.PRESTOP), (-2.0, "web-old", PodStep.SIGTERM),
                     (1.0, "web-old", PodStep.TERMINATING))
    current = marks((0.1, "web-1", PodStep.READY), (1.0, "web-1", PodStep.TERMINATING))
    assert timeline.this_run(replayed + current) == current


def test_causes_link_the_check_findings_that_predict_them() -> None:
    causes = attribution.attribute([Failure(1.2, "reset"), Failure(1.3, "reset")], TERM,
                                   PROXY_LATE, "web-", 3.0, 1.0)
    linked = attribution.with_check_rules(causes, {"prestop-missing", "readiness-missing"})
    assert linked[0].check_rules == ("prestop-missing",)
    assert linked[0].text.endswith("(probelab check: prestop-missing).")


def test_probelab_yaml_next_to_the_manifests_gives_image_mappings(tmp_path) -> None:
    from probelab.commands.test import file_images

    (tmp_path / "app.yaml").write_text("kind: List\n")
    (tmp_path / "probelab.yaml").write_text(
        "images:\n  myapp:1: python3 app.py $(POD_IP) 8080\n  worker: [node, w.js]\n")
    pairs = file_images((str(tmp_path), str(tmp_path / "app.yaml"), "-"))
    assert pairs == (("myapp:1", "python3 app.py '$(POD_IP)' 8080"), ("worker", "node w.js"))


# ---- --repeat, --url, drain ---------------------------------------------------------------------

def test_repeat_counts_failed_rounds_per_scenario_and_names_junit_cases() -> None:
    ok = dict(requests=10, rollout_s=1.0)
    results = [ScenarioResult("rolling-update", round=1, **ok),
               ScenarioResult("scale-down", round=1, **ok),
               ScenarioResult("rolling-update", round=2, failed=3, **ok),
               ScenarioResult("scale-down", round=2, **ok)]
    passed, message = overall(results, Limits())
    assert not passed
    assert message == ("1 of 4 runs failed: rolling-update 1/2 failed, scale-down 0/2 failed")
    root = ET.fromstring(junit.render("ns/deployment/web", results, Limits(), "t"))
    names = [c.get("name") for c in root.iter("testcase")]
    assert names == ["rolling-update #1", "scale-down #1", "rolling-update #2", "scale-down #2"]
    assert overall(results[:2], Limits()) == (True, "all 2 scenario(s) passed")  # no rounds


@pytest.mark.parametrize(("url", "path", "expected"), [
    ("http://10.0.0.5:31000", "/api", "http://10.0.0.5:31000/api"),
    ("http://10.0.0.5:31000/", "/", "http://10.0.0.5:31000/"),
    ("http://lb.example/shop/", "/api", "http://lb.example/shop/"),  # the URL's own path wins
])
def test_join_url(url, path, expected) -> None:
    from probelab.workloadtest.target import join_url
    assert join_url(url, path) == expected


def test_node_url_prefers_external_then_internal_and_asks_for_url() -> None:
    from probelab.workloadtest.target import ServicePort, node_url
    svc = {"metadata": {"name": "web"}, "spec": {"ports": [
        {"port": 80, "nodePort": 31001}, {"port": 8080, "nodePort": 31002}]}}
    port = ServicePort("", 8080, 31002)
    nodes = [{"type": "InternalIP", "address": "192.0.2.1"},
             {"type": "ExternalIP", "address": "2001:db8::1"}]
    assert node_url(svc, port, nodes, "/x") == "http://[2001:db8::1]:31002/x"
    assert node_url(svc, port, nodes[:1], "/") == "http://192.0.2.1:31002/"
    with pytest.raises(UsageError, match="pass --url"):
        node_url(svc, port, [], "/")
    with pytest.raises(UsageError, match="has no nodePort"):
        node_url({"metadata": {"name": "web"}, "spec": {"ports": [{"port": 8080}]}}, port,
                 nodes, "/")


def _pod(name: str, node: str | None, terminating: bool = False) -> dict:
    meta: dict = {"name": name}
    if terminating:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"nodeName": node} if node else {}}


def _node(name: str, ready: bool = True, unschedulable: bool = False) -> dict:
    return {"metadata": {"name": name}, "spec": {"unschedulable": unschedulable},
            "status": {"conditions": [{"type": "Ready", "status": str(ready)}]}}


@pytest.mark.parametrize(("status", "outcome"), [
    (201, "evicted"), (200, "evicted"), (429, "blocked"), (404, "gone"), (500, "failed"),
    (403, "failed"),
])
def test_eviction_outcome_as_kubectl_drain(status, outcome) -> None:
    from probelab.workloadtest import drain
    assert drain.outcome(status).value == outcome


def test_drain_cordons_the_nodes_of_live_pods_only() -> None:
    from probelab.workloadtest import drain
    pods = [_pod("a", "n2"), _pod("b", "n1"), _pod("c", "n2"), _pod("d", "n3", True),
            _pod("e", None)]
    assert drain.nodes_of(pods) == ["n1", "n2"]
    assert drain.pods_on(pods, "n2") == ["a", "c"]
    assert drain.pods_on(pods, "n3") == []  # d is terminating already
    assert drain.eviction_body("shop", "a") == {
        "apiVersion": "policy/v1", "kind": "Eviction",
        "metadata": {"name": "a", "namespace": "shop"}}


@pytest.mark.parametrize(("serves", "nodes", "pods", "words"), [
    (False, [], [], "serves no nodes resource"),
    (True, [_node("n1")], [_pod("a", None)], "no pod of the workload is bound"),
    (True, [_node("n1")], [_pod("a", "n1")], "no schedulable node besides n1"),
    (True, [_node("n1"), _node("n2", unschedulable=True)], [_pod("a", "n1")],
     "no schedulable node besides n1"),
    (True, [_node("n1"), _node("n2", ready=False)], [_pod("a", "n1")],
     "no schedulable node besides n1"),
    (True, [_node("n1"), _node("n2")], [_pod("a", "n1")], ""),
    # one node at a time: each node's pods go to the other while it is drained
    (True, [_node("n1"), _node("n2")], [_pod("a", "n1"), _pod("b", "n2")], ""),
    (True, [_node("n1"), _node("n2", ready=False)], [_pod("a", "n1"), _pod("b", "n2")],
     "no schedulable node besides n1:"),
])
def test_drain_is_measurable_only_with_somewhere_to_go(serves, nodes, pods, words) -> None:
    from probelab.workloadtest import drain
    problem = drain.unmeasurable(serves, nodes, pods)
    assert (words in problem) if words else problem == ""


def test_drain_retries_what_a_pdb_blocks_and_stops_on_other_errors() -> None:
    from probelab.workloadtest import drain
    assert drain.pending(["a", "b", "c"], {"a": 201, "b": 429, "c": 404}) == (["b"], "")
    retry, failure = drain.pending(["a", "b"], {"a": 500, "b": 429})
    assert retry == ["b"] and failure == "eviction of pod a failed: HTTP 500"
    assert drain.pending([], {}) == ([], "")


@pytest.mark.parametrize(("scenarios", "nodes", "expected"), [
    (("rolling-update,scale-down",), None, 1),
    (("rolling-update", "drain"), None, 2),  # a drain needs somewhere to move the pods
    (("drain",), 1, 1),  # asked for: kept (the drain is then skipped, saying why)
    (("scale-down",), 3, 3),
])
def test_local_engine_nodes(scenarios, nodes, expected) -> None:
    from probelab.workloadtest.config import TestSettings, parse_scenarios
    settings = TestSettings(paths=("x",), scenarios=parse_scenarios(scenarios), nodes=nodes)
    assert settings.engine_nodes == expected


def _unhealthy(pod: str, message: str, last: str, count: int = 1, reason: str = "Unhealthy"):
    return {"reason": reason, "message": message, "count": count, "lastTimestamp": last,
            "involvedObject": {"kind": "Pod", "name": pod}}


def test_readiness_failures_of_the_run_only_summed_per_pod_and_message():
    t0 = 1_764_720_000.0  # 2025-12-03T00:00:00Z
    events = [
        _unhealthy("web-b", "Readiness probe failed: context deadline exceeded",
                   "2025-12-03T00:00:05Z", 2),
        _unhealthy("web-b", "Readiness probe failed: context deadline exceeded",
                   "2025-12-03T00:00:07Z"),
        _unhealthy("web-a", "Readiness probe failed: HTTP probe failed with statuscode: 503",
                   "2025-12-03T00:00:09Z"),
        _unhealthy("web-c", "Readiness probe failed: old run", "2025-12-02T23:59:58Z"),
        _unhealthy("web-c", "Liveness probe failed: x", "2025-12-03T00:00:09Z"),
        _unhealthy("web-c", "Readiness probe failed: y", "2025-12-03T00:00:09Z", reason="Other"),
        _unhealthy("web-c", "Readiness probe failed: z", "not a time"),
    ]
    assert diagnosis.readiness_failures(events, t0) == [
        "web-a: Readiness probe failed: HTTP probe failed with statuscode: 503 (×1)",
        "web-b: Readiness probe failed: context deadline exceeded (×3)",
    ]
    assert diagnosis.readiness_failures(events, t0 + 60) == []
