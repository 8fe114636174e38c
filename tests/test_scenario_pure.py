"""The demo runner's pure parts: URL discovery, image override, run plan, watch-to-mark rules."""

from pathlib import Path

import pytest

from probelab.errors import UsageError
from probelab.k8s.annotations import READY_ENDPOINTS, TERMINATING_ENDPOINTS
from probelab.report.model import PodStep
from probelab.scenario.config import DemoConfig, Scenario, Variant
from probelab.scenario.kube import service_url, with_image_repo, with_node_port
from probelab.scenario.observer import event_time, pod_marks, proxy_sample, slice_sample

SVC = {"metadata": {"name": "simpleprobe"},
       "spec": {"type": "NodePort", "ports": [{"port": 8080, "nodePort": 31461}]}}


@pytest.mark.parametrize(
    ("addresses", "local", "expected"),
    [
        ([], True, "http://127.0.0.1:31461/"),
        ([{"type": "InternalIP", "address": "192.168.49.2"}], False, "http://192.168.49.2:31461/"),
        ([{"type": "InternalIP", "address": "10.0.0.5"},
          {"type": "ExternalIP", "address": "203.0.113.7"}], False, "http://203.0.113.7:31461/"),
        ([{"type": "InternalIP", "address": "fd00::5"}], False, "http://[fd00::5]:31461/"),
    ],
)
def test_service_url(addresses, local, expected) -> None:
    assert service_url(SVC, addresses, local) == expected


def test_service_url_errors() -> None:
    with pytest.raises(UsageError, match="no nodePort"):
        service_url({"metadata": {"name": "x"}, "spec": {"ports": [{"port": 80}]}}, [], True)
    with pytest.raises(UsageError, match="no node address"):
        service_url(SVC, [{"type": "Hostname", "address": "node1"}], False)


def test_image_repo_override_touches_only_simpleweb() -> None:
    objs = [{"kind": "Deployment", "spec": {"template": {"spec": {"containers": [
        {"name": "simpleweb", "image": "probelab/simpleweb:1.0"},
        {"name": "side", "image": "busybox:1.36"}]}}}}]
    out = with_image_repo(objs, "registry.local:5000/me/simpleweb")
    images = [c["image"] for c in out[0]["spec"]["template"]["spec"]["containers"]]
    assert images == ["registry.local:5000/me/simpleweb:1.0", "busybox:1.36"]
    assert objs[0]["spec"]["template"]["spec"]["containers"][0]["image"].startswith("probelab/")


def test_the_demo_is_probelab_test_on_each_variant_folder() -> None:
    """No name of the sample service in the demo: each variant is a folder of manifests whose
    workload probelab test finds; the rolling update runs first (no scale-up back needed)."""
    from probelab.workloadtest.config import Action
    from probelab.workloadtest.demo import settings_for

    config = DemoConfig(repeat=2, manifests_dir=Path("/m"), rate_rps=300, keepalive=False)
    s = settings_for(config, Variant.WITHPROBES)
    assert s.paths == ("/m/withprobes",) and s.repeat == 2 and s.local
    assert [(x.action, x.replicas) for x in s.scenarios] == [
        (Action.ROLLING_UPDATE, None), (Action.SCALE_DOWN, 3)]
    assert (s.rate_rps, s.keepalive, s.warmup_s, s.settle_s) == (300, False, 2.0, 2.0)
    one = settings_for(DemoConfig(scenarios=(Scenario.SCALE_DOWN,), context="kind",
                                  url="http://127.0.0.1:30080"), Variant.NOPROBES)
    assert [x.label for x in one.scenarios] == ["scale-down=3"]
    assert (one.context, one.url, one.local) == ("kind", "http://127.0.0.1:30080", False)


def test_pod_marks_report_each_step_once() -> None:
    seen: dict = {}
    pod = {"metadata": {"name": "p1"},
           "status": {"containerStatuses": [{"state": {"running": {}}}],
                      "conditions": [{"type": "Ready", "status": "True"}]}}
    steps = [m.step for m in pod_marks(pod, seen, 1.0, False)]
    assert steps == [PodStep.STARTED, PodStep.READY]
    assert pod_marks(pod, seen, 2.0, False) == []
    pod["metadata"]["deletionTimestamp"] = "2026-11-25T00:00:00Z"
    assert [m.step for m in pod_marks(pod, seen, 3.0, True)] == [
        PodStep.TERMINATING, PodStep.DELETED]


def test_slice_sample_counts_ready_and_terminating() -> None:
    slices = {"s": {"endpoints": [
        {"conditions": {"ready": True, "serving": True, "terminating": False}},
        {"conditions": {"ready": False, "serving": True, "terminating": True}},
        {"conditions": {"ready": False, "serving": False, "terminating": False}},
    ]}}
    sample = slice_sample(slices, 4.0)
    assert (sample.ready, sample.terminating, sample.t_s) == (1, 1, 4.0)


def test_event_time_prefers_microseconds() -> None:
    ev = {"eventTime": "2026-11-25T00:00:01.250000Z", "firstTimestamp": "2026-11-25T00:00:01Z"}
    assert event_time(ev) % 10 == pytest.approx(1.25 % 10)
    assert event_time({}) is None


def test_url_port_pins_the_node_port_of_nodeport_services_only() -> None:
    svc = {"kind": "Service", "spec": {"type": "NodePort", "ports": [{"port": 8080}]}}
    other = {"kind": "Service", "spec": {"type": "ClusterIP", "ports": [{"port": 8080}]}}
    pinned = with_node_port([svc, other], "http://192.168.49.2:31234")
    assert pinned[0]["spec"]["ports"][0]["nodePort"] == 31234
    assert "nodePort" not in pinned[1]["spec"]["ports"][0]
    assert "nodePort" not in svc["spec"]["ports"][0]  # the input is left alone
    for url in (None, "http://127.0.0.1:8080", "http://lb.example"):
        assert "nodePort" not in with_node_port([svc], url)[0]["spec"]["ports"][0]


def test_an_unexpected_api_error_is_one_line() -> None:
    from kubernetes.client.exceptions import ApiException

    from probelab.scenario.kube import api_failure

    exc = ApiException(status=403, reason="Forbidden")
    exc.body = '{"kind":"Status","message":"deployments.apps is forbidden: no"}'
    assert str(api_failure(exc)) == (
        "the Kubernetes API answered 403 Forbidden: deployments.apps is forbidden: no")
    exc.body = "<html>proxy error</html>"
    assert str(api_failure(exc)) == "the Kubernetes API answered 403 Forbidden"


def test_the_proxy_sample_comes_from_the_events_annotations_not_its_prose() -> None:
    event = {"reason": "EndpointsApplied",
             "message": "proxy now routes to 9 ready endpoints (9 terminating, 0 used)",
             "metadata": {"annotations": {READY_ENDPOINTS: "2", TERMINATING_ENDPOINTS: "1"}}}
    sample = proxy_sample(event, 4.5)
    assert (sample.t_s, sample.ready, sample.terminating, sample.source) == (4.5, 2, 1, "proxy")
    assert proxy_sample({**event, "metadata": {}}, 4.5) is None  # a message alone is not data
    broken = {"metadata": {"annotations": {READY_ENDPOINTS: "x", TERMINATING_ENDPOINTS: "1"}}}
    assert proxy_sample(broken, 1.0) is None
