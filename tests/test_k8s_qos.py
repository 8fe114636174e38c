"""The QoS class rule (`pkg/apis/core/v1/helper/qos/qos.go`) and quantity parsing, as tables;
the class a created pod gets through the API is in tests/test_kubectl_apimisc.py."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from probelab.k8s.defaults import apply_defaults
from probelab.k8s.qos import BEST_EFFORT, BURSTABLE, GUARANTEED, qos_class
from probelab.k8s.quantity import QuantityError, parse_quantity


def res(requests: dict[str, Any] | None = None, limits: dict[str, Any] | None = None
        ) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if requests is not None:
        out["requests"] = requests
    if limits is not None:
        out["limits"] = limits
    return out


def pod(*containers: dict[str, Any], init: tuple[dict[str, Any], ...] = (),
        pod_level: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [{"name": f"c{i}", "image": "i", "resources": r}
                       for i, r in enumerate(containers)],
        "initContainers": [{"name": f"i{i}", "image": "i", "resources": r}
                           for i, r in enumerate(init)]}
    if pod_level is not None:
        spec["resources"] = pod_level
    return apply_defaults({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                           "spec": spec})


BOTH = {"cpu": "100m", "memory": "64Mi"}


@pytest.mark.parametrize(("the_pod", "expected"), [
    (pod(res()), BEST_EFFORT),
    (pod(res(), res()), BEST_EFFORT),
    # only cpu and memory count
    (pod(res({"ephemeral-storage": "1Gi"}, {"ephemeral-storage": "1Gi"})), BEST_EFFORT),
    # zero amounts count as absent
    (pod(res({"cpu": "0", "memory": "0"})), BEST_EFFORT),
    (pod(res(BOTH, BOTH)), GUARANTEED),
    # limits only: requests default to the limits
    (pod(res(limits=BOTH)), GUARANTEED),
    # the same amount written differently
    (pod(res({"cpu": "0.1", "memory": "65536Ki"}, BOTH)), GUARANTEED),
    (pod(res(BOTH)), BURSTABLE),  # requests without limits
    (pod(res({"cpu": "10m", "memory": "30Mi"}, {"cpu": "50m", "memory": "50Mi"})), BURSTABLE),
    (pod(res(limits={"cpu": "1"})), BURSTABLE),  # memory not limited
    (pod(res(limits=BOTH), res()), BURSTABLE),  # one container without limits
    (pod(res(limits=BOTH), res(limits=BOTH)), GUARANTEED),
    # init containers count too
    (pod(res(limits=BOTH), init=(res(),)), BURSTABLE),
    (pod(res(limits=BOTH), init=(res(limits={"cpu": "2", "memory": "1Gi"}),)), GUARANTEED),
    (pod(res(), init=(res({"cpu": "1"}),)), BURSTABLE),
    # pod-level resources decide when set
    (pod(res(), pod_level=res(limits=BOTH)), GUARANTEED),
    (pod(res(limits=BOTH), pod_level=res({"cpu": "1"})), BURSTABLE),
    (pod(res(), pod_level=res({"cpu": "1", "memory": "1Gi"}, {"cpu": "2", "memory": "1Gi"})),
     BURSTABLE),
    (pod(res(limits=BOTH), pod_level={}), GUARANTEED),  # empty: the containers decide
])
def test_qos_class(the_pod: dict[str, Any], expected: str) -> None:
    assert qos_class(the_pod) == expected


def test_defaulting_copies_limits_into_missing_requests_of_pods_only() -> None:
    defaulted = pod(res({"cpu": "5m"}, {"cpu": "1", "memory": "1Gi"}))
    assert defaulted["spec"]["containers"][0]["resources"]["requests"] == {
        "cpu": "5m", "memory": "1Gi"}
    template = apply_defaults({"apiVersion": "apps/v1", "kind": "Deployment",
                               "metadata": {"name": "d"}, "spec": {"template": {"spec": {
                                   "containers": [{"name": "c", "image": "i",
                                                   "resources": res(limits=BOTH)}]}}}})
    assert "requests" not in template["spec"]["template"]["spec"]["containers"][0]["resources"]


@pytest.mark.parametrize(("text", "amount"), [
    ("1", Decimal(1)), ("100m", Decimal("0.1")), ("1.5", Decimal("1.5")),
    ("64Mi", Decimal(64 * 2**20)), ("1Ki", Decimal(1024)), ("2G", Decimal(2 * 10**9)),
    ("1e3", Decimal(1000)), ("5E-1", Decimal("0.5")), (".5", Decimal("0.5")), (3, Decimal(3)),
    ("250u", Decimal("0.00025")), ("7n", Decimal("7e-9")),
])
def test_quantities(text: Any, amount: Decimal) -> None:
    assert parse_quantity(text) == amount


@pytest.mark.parametrize("text", ["", "m", "1mi", "1 Gi", "abc", "1KB", True])
def test_not_quantities(text: Any) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(text)
