"""Legacy Deployments and ReplicaSets become apps/v1 objects that behave as they used to."""

from __future__ import annotations

from pathlib import Path

import pytest

from probelab.k8s.convert import MAX_INT32, to_served_version
from probelab.k8s.defaults import apply_defaults
from probelab.k8s.manifests import load_manifests
from probelab.k8s.validation import describe, validate

LEGACY = Path(__file__).parent / "fixtures" / "legacy" / "convert"


def legacy_deployment(name: str) -> dict:
    return next(o for o in load_manifests([LEGACY / name]) if o["kind"] == "Deployment")


def test_extensions_v1beta1_fixture() -> None:
    original = legacy_deployment("deployment-extensions-v1beta1.yaml")
    obj, warning = to_served_version(original)
    assert warning == ("extensions/v1beta1 Deployment is deprecated in v1.8+, unavailable in "
                       "v1.16+; use apps/v1 Deployment")
    assert obj["apiVersion"] == "apps/v1"
    spec = obj["spec"]
    assert spec["selector"] == {"matchLabels": {"app": "simpleprobe"}}
    assert obj["metadata"]["labels"] == {"app": "simpleprobe"}
    assert spec["strategy"] == {"type": "RollingUpdate",
                                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}
    assert spec["revisionHistoryLimit"] == MAX_INT32
    assert spec["progressDeadlineSeconds"] == MAX_INT32
    assert "rollbackTo" not in spec
    assert original["apiVersion"] == "extensions/v1beta1"  # the input is not changed
    served = apply_defaults(obj)
    assert validate(served, None) == []
    assert served["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 1}


def test_apps_v1beta1_defaults_selector_and_keeps_two_old_replica_sets() -> None:
    obj, warning = to_served_version(legacy_deployment("deployment-apps-v1beta1.yaml"))
    assert warning == ("apps/v1beta1 Deployment is deprecated in v1.8+, unavailable in "
                       "v1.16+; use apps/v1 Deployment")
    assert obj["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert obj["metadata"]["labels"] == {"team": "demo"}  # given labels are kept
    assert obj["spec"]["revisionHistoryLimit"] == 2
    served = apply_defaults(obj)
    assert served["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": "25%",
                                                           "maxSurge": "25%"}
    assert validate(served, None) == []


def test_apps_v1beta2_required_a_selector_already() -> None:
    obj, warning = to_served_version(legacy_deployment("deployment-apps-v1beta2-no-selector"
                                                       ".yaml"))
    assert warning is not None and "deprecated in v1.9+" in warning
    assert "selector" not in obj["spec"]
    served = apply_defaults(obj)
    assert describe(served, validate(served, None)) == (
        'Deployment "web": spec.selector: Required value')


def test_extensions_recreate_keeps_its_strategy() -> None:
    obj, _ = to_served_version({
        "apiVersion": "extensions/v1beta1", "kind": "Deployment", "metadata": {"name": "a"},
        "spec": {"strategy": {"type": "Recreate"}, "template": {"metadata": {}}}})
    assert obj["spec"]["strategy"] == {"type": "Recreate"}
    assert "selector" not in obj["spec"]  # no template labels, nothing to default from


def test_extensions_partial_rolling_update_is_completed_with_ones() -> None:
    obj, _ = to_served_version({
        "apiVersion": "extensions/v1beta1", "kind": "Deployment", "metadata": {"name": "a"},
        "spec": {"strategy": {"rollingUpdate": {"maxSurge": "50%"}}}})
    assert obj["spec"]["strategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": "50%", "maxUnavailable": 1}}


def test_legacy_replica_set() -> None:
    obj, warning = to_served_version({
        "apiVersion": "extensions/v1beta1", "kind": "ReplicaSet", "metadata": {"name": "a"},
        "spec": {"template": {"metadata": {"labels": {"app": "a"}}}}})
    assert warning == ("extensions/v1beta1 ReplicaSet is deprecated in v1.8+, unavailable in "
                       "v1.16+; use apps/v1 ReplicaSet")
    assert obj["apiVersion"] == "apps/v1"
    assert obj["spec"]["selector"] == {"matchLabels": {"app": "a"}}
    assert "strategy" not in obj["spec"]


@pytest.mark.parametrize("obj", [
    {"apiVersion": "apps/v1", "kind": "Deployment"},
    {"apiVersion": "v1", "kind": "Pod"},
    {"apiVersion": "extensions/v1beta1", "kind": "Ingress"},
    {"kind": "Deployment"},
    "not an object",
])
def test_current_and_unknown_objects_are_unchanged(obj: object) -> None:
    assert to_served_version(obj) == (obj, None)


def test_wrong_types_in_legacy_objects_do_not_raise() -> None:
    obj, warning = to_served_version({"apiVersion": "extensions/v1beta1", "kind": "Deployment",
                                      "metadata": "x", "spec": {"template": [],
                                                                "strategy": "fast"}})
    assert warning and obj["spec"]["strategy"] == "fast"
