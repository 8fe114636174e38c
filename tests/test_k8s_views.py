"""Typed views: what the kubelet and controllers read from defaulted objects."""

from __future__ import annotations

from k8s_samples import container, deployment, pod, service
from probelab.k8s.defaults import apply_defaults
from probelab.k8s.views import (
    Container,
    DeploymentSpec,
    DeploymentStrategy,
    Handler,
    HandlerKind,
    PodSpec,
    Probe,
    ServiceSpec,
    StrategyType,
)


def test_pod_spec_view_of_the_sample_deployment() -> None:
    obj = apply_defaults(deployment())
    spec = PodSpec.parse(obj["spec"]["template"])
    assert spec.restart_policy == "Always"
    assert spec.termination_grace_period_s == 30
    web = spec.container("simpleweb")
    assert web is not None and spec.container("nope") is None
    assert web.image == "probelab/simpleweb:1.0"
    assert web.readiness == Probe(Handler(HandlerKind.HTTP_GET, port="admin", path="/healthz"),
                                  timeout_s=1, period_s=10, success_threshold=1,
                                  failure_threshold=3)
    assert web.liveness is None and web.startup is None
    assert web.pre_stop == Handler(HandlerKind.HTTP_GET, port="admin", path="/prestop")
    assert web.resolve_port("admin") == 8081
    assert web.resolve_port(9000) == 9000
    assert web.resolve_port("8080") == 8080
    assert web.resolve_port("metrics") is None


def test_probe_and_hook_kinds() -> None:
    obj = pod()
    c = container(obj)
    c["livenessProbe"] = {"exec": {"command": ["cat", "/ok"]}, "periodSeconds": 3,
                          "failureThreshold": 5, "initialDelaySeconds": 4,
                          "terminationGracePeriodSeconds": 7}
    c["startupProbe"] = {"tcpSocket": {"port": 8080, "host": "10.0.0.1"}}
    c["lifecycle"] = {"preStop": {"sleep": {"seconds": 5}}}
    c["env"] = [{"name": "A", "value": "1"},
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]
    view = Container.parse(apply_defaults(obj)["spec"]["containers"][0])
    assert view.liveness == Probe(Handler(HandlerKind.EXEC, command=("cat", "/ok")),
                                  initial_delay_s=4, period_s=3, failure_threshold=5,
                                  termination_grace_period_s=7)
    assert view.startup is not None and view.startup.handler.host == "10.0.0.1"
    assert view.pre_stop == Handler(HandlerKind.SLEEP, seconds=5)
    assert [(e.name, e.value) for e in view.env] == [("A", "1"), ("POD_IP", None)]
    assert PodSpec.parse(apply_defaults(obj)).containers[0].name == "simpleweb"


def test_a_probe_without_handler_is_none() -> None:
    assert Probe.parse({"periodSeconds": 3}) is None
    assert Probe.parse(None) is None


def test_deployment_view_and_fenceposts() -> None:
    spec = DeploymentSpec.parse(apply_defaults(deployment()))
    assert spec.replicas == 3
    assert spec.selector.matches({"app": "simpleprobe"})
    assert spec.strategy == DeploymentStrategy(StrategyType.ROLLING_UPDATE, "25%", "25%")
    assert spec.strategy.fenceposts(spec.replicas) == (1, 0)
    assert spec.strategy.fenceposts(10) == (3, 2)
    assert (spec.min_ready_s, spec.revision_history_limit, spec.progress_deadline_s) == (
        0, 10, 600)
    recreate = DeploymentStrategy.parse({"type": "Recreate"})
    assert recreate.type is StrategyType.RECREATE


def test_service_view() -> None:
    obj = service()
    obj["spec"]["ports"].append({"name": "admin", "port": 81, "nodePort": 30081})
    spec = ServiceSpec.parse(apply_defaults(obj))
    assert spec.type == "NodePort"
    assert spec.selector == {"app": "simpleprobe"}
    assert [(p.port, p.target_port, p.node_port) for p in spec.ports] == [
        (80, "http", None), (81, 81, 30081)]
    assert not spec.publish_not_ready_addresses
