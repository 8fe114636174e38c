"""The pieces under the rules: preStop parsing, YAML line lookup, the timing model flags."""

from __future__ import annotations

import pytest

from probelab.check import lines
from probelab.check.model import PROFILES, TimingModel, parse_version, timing_model
from probelab.check.prestop import duration, exec_sleep_seconds, may_lack_shell, prestop
from probelab.check.workloads import inventory
from probelab.errors import UsageError
from support.check_manifests import container, workload


@pytest.mark.parametrize(("command", "seconds"), [
    (["sleep", "5"], 5.0),
    (["/bin/sleep", "2.5"], 2.5),
    (["sleep", "1m"], 60.0),
    (["busybox", "sleep", "7"], 7.0),
    (["/bin/sh", "-c", "sleep 5"], 5.0),
    (["sh", "-c", "sleep 5 && /usr/sbin/nginx -s quit"], 5.0),
    (["bash", "-c", "exec sleep 3; true"], 3.0),
    (["sh", "-c", "nginx -s quit; sleep 5"], None),  # sleeps after stopping: no delay
    (["sleep", "infinity"], None),
    (["/wait-shutdown"], None),
    (["sleep"], None),
    ([5], None),
])
def test_exec_sleep_seconds(command: list, seconds: float | None) -> None:
    assert exec_sleep_seconds(command) == seconds


def test_duration_units() -> None:
    assert [duration(t) for t in ("3", "3s", "2m", "1h", "x", "")] == [
        3.0, 3.0, 120.0, 3600.0, None, None]


def _hook(lifecycle: dict | None = None, annotations: dict | None = None):
    extra = {"lifecycle": lifecycle} if lifecycle else {}
    w = inventory([workload(containers=[container(**extra)], annotations=annotations)])
    (only,) = w.workloads
    return prestop(only, only.containers[0])


def test_prestop_kinds_and_declared_delays() -> None:
    assert _hook().action == "none"
    assert (_hook(annotations={"probelab.io/prestop-delay-seconds": "4"}).action,
            _hook(annotations={"probelab.io/prestop-delay-seconds": "4"}).delay_s) == ("app", 4)
    http = {"preStop": {"httpGet": {"path": "/drain", "port": "http"}}}
    assert _hook(http).delay_s is None
    declared = _hook(http, {"probelab.io/prestop-delay-seconds.app": "6"})
    assert (declared.action, declared.delay_s, declared.declared) == ("httpGet", 6.0, True)
    assert _hook(http, {"probelab.io/prestop-delay-seconds": "soon"}).delay_s is None
    sleep = _hook({"preStop": {"sleep": {"seconds": 9}}})
    assert (sleep.action, sleep.delay_s) == ("sleep", 9.0)
    assert sleep.field == "spec.template.spec.containers[0].lifecycle.preStop.sleep.seconds"


def test_shell_less_image_names() -> None:
    assert may_lack_shell("gcr.io/distroless/static:nonroot")
    assert may_lack_shell("cgr.dev/chainguard/static:latest")
    assert not may_lack_shell("nginx:1.27")
    assert not may_lack_shell("docker.io/library/python:3.12-slim")


TEXT = """\
apiVersion: v1
kind: List
items:
  - kind: Service
    metadata:
      name: a
    spec:
      ports:
        - port: 80
          targetPort: http
---
kind: Pod
metadata:
  annotations:
    "probelab.io/x": "1"
"""


def test_line_of_walks_lists_and_falls_back_to_the_parent() -> None:
    nodes = lines.compose(TEXT)
    service = lines.object_node(nodes, 1, 0)
    assert lines.line_of(service, "spec.ports[0].targetPort") == 10
    assert lines.line_of(service, "spec.ports[0]") == 9
    assert lines.line_of(service, "spec.selector") == 7  # missing: its parent `spec:`
    pod = lines.object_node(nodes, 2, 0)
    assert lines.line_of(pod, 'metadata.annotations["probelab.io/x"]') == 15
    assert lines.object_node(nodes, 3, 0) is None


def test_timing_model_from_flags() -> None:
    assert timing_model() == TimingModel()
    assert timing_model("cloud-lb").lag_s == PROFILES["cloud-lb"].lag_s
    custom = timing_model("ingress-nginx", 0.5)
    assert (custom.lag_s, custom.profile) == (0.5, "custom")
    assert parse_version("v1.30.2") == (1, 30)
    for bad in ("1", "latest", "1.x"):
        with pytest.raises(UsageError):
            parse_version(bad)
    with pytest.raises(UsageError):
        timing_model("istio")


def test_the_fast_loader_agrees_with_probelab_k8s_manifests() -> None:
    from probelab.check import sources
    from probelab.k8s import manifests
    from support.paths import REPO

    paths = [*sorted((REPO / "tests" / "fixtures" / "check").glob("*.yaml")),
             *sorted((REPO / "deploy" / "kubernetes").glob("*/*.yaml"))]
    for path in paths:
        (text,) = sources.read_inputs([str(path)])
        fast = sources._fast_documents(text)
        assert fast is not None, path
        assert fast == manifests.numbered_documents(path.read_text(), str(path)), path


@pytest.mark.parametrize(("text", "needle"), [
    ("kind: Service\nkind: Pod\n", "already defined"),
    ("apiVersion: v1\nkind: Service\nmetadata: {}\n", "has no metadata.name"),
    ("- a\n- b\n", "expected an object"),
    ("apiVersion: v1\nkind: List\nitems: 3\n", "needs an 'items' list"),
])
def test_unusual_input_gets_the_canonical_one_line_error(text: str, needle: str) -> None:
    from probelab.check import sources
    from probelab.k8s.manifests import ManifestError

    with pytest.raises(ManifestError, match=needle):
        sources.documents(sources.Text("x.yaml", text))


def test_check_ignore_annotation_silences_only_the_listed_rules() -> None:
    from probelab.check.analyze import findings_for
    from support.check_manifests import service

    bare = workload(containers=[container()])
    assert {f.rule for f in findings_for([bare, service()], TimingModel())} == {
        "readiness-missing", "prestop-missing"}
    quiet = workload(containers=[container()],
                     annotations={"probelab.io/check-ignore": "readiness-missing, other"})
    assert {f.rule for f in findings_for([quiet, service()], TimingModel())} == {
        "prestop-missing"}
