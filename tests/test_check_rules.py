"""Table tests of every `probelab check` rule: a clean case, a failing case, the boundary.

Each row is (case, objects, model overrides, expected severities of the rule's findings).
"""

from __future__ import annotations

from typing import Any

import pytest

from probelab.check.model import Severity
from probelab.check.rules import load_rules
from support.check_manifests import (
    container,
    exec_hook,
    good_container,
    hpa,
    http_probe,
    pdb,
    run_rule,
    service,
    sleep_hook,
    workload,
)

E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO  # noqa: E741

DECLARED = {"probelab.io/prestop-delay-seconds": "5"}


def _w(*containers: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return workload(containers=list(containers), **kw)


CASES: list[tuple[str, str, list[dict[str, Any]], dict[str, Any], list[Severity]]] = [
    # unknown-field
    ("unknown-field", "clean", [_w(good_container()), service(), pdb(minAvailable=1), hpa()],
     {}, []),
    ("unknown-field", "readinesProbe typo", [_w(container(readinesProbe=http_probe()))], {},
     [E]),
    ("unknown-field", "typo in a PDB", [pdb(minAvailble=1)], {}, [E]),
    ("unknown-field", "unknown kind is not judged",
     [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "r"},
       "spec": {"whatever": 1}}], {}, []),
    # invalid-object
    ("invalid-object", "clean", [_w(good_container()), service()], {}, []),
    ("invalid-object", "selector does not match the template",
     [{**_w(good_container()), "spec": {**_w(good_container())["spec"],
                                        "selector": {"matchLabels": {"app": "other"}}}}],
     {}, [E]),
    ("invalid-object", "sleep above grace is sleep-action-invalid's",
     [_w(good_container(lifecycle=sleep_hook(31)))], {}, []),
    # readiness-missing
    ("readiness-missing", "clean", [_w(good_container()), service()], {}, []),
    ("readiness-missing", "no probe, selected",
     [_w(container(lifecycle=sleep_hook(5))), service()], {}, [E]),
    ("readiness-missing", "no Service selects it", [_w(container())], {}, []),
    ("readiness-missing", "sidecar without the target port is not serving",
     [_w(good_container(), container("proxy", ports=(("metrics", 9090),))), service()], {}, []),
    ("readiness-missing", "bare Pod selected",
     [workload("Pod", containers=[container(lifecycle=sleep_hook(5))]), service()], {}, [E]),
    ("readiness-missing", "StatefulSet without probe",
     [workload("StatefulSet", containers=[container(lifecycle=sleep_hook(5))]), service()],
     {}, [E]),
    # prestop-missing
    ("prestop-missing", "clean", [_w(good_container()), service()], {}, []),
    ("prestop-missing", "no hook, selected",
     [_w(container(readinessProbe=http_probe())), service()], {}, [E]),
    ("prestop-missing", "lag 0: nothing to bridge",
     [_w(container(readinessProbe=http_probe())), service()], {"lag": 0}, []),
    ("prestop-missing", "the app declares its own delay",
     [_w(container(readinessProbe=http_probe()), annotations=DECLARED), service()], {}, []),
    ("prestop-missing", "not selected by a Service",
     [_w(container(readinessProbe=http_probe()))], {}, []),
    # prestop-shorter-than-lag
    ("prestop-shorter-than-lag", "sleep equals the lag (boundary)",
     [_w(good_container(lifecycle=sleep_hook(1))), service()], {"lag": 1}, []),
    ("prestop-shorter-than-lag", "exec sleep 0.5 < 1",
     [_w(good_container(lifecycle=exec_hook("sleep", "0.5"))), service()], {}, [E]),
    ("prestop-shorter-than-lag", "3 s against ingress-nginx's 5 s",
     [_w(good_container(lifecycle=sleep_hook(3))), service()], {"lag": 5}, [E]),
    ("prestop-shorter-than-lag", "declared 5 s against 6 s",
     [_w(good_container(lifecycle={"preStop": {"httpGet": {"path": "/d", "port": "http"}}}),
         annotations=DECLARED), service()], {"lag": 6}, [E]),
    ("prestop-shorter-than-lag", "not selected", [_w(good_container(lifecycle=sleep_hook(1)))],
     {"lag": 5}, []),
    # prestop-delay-unknown
    ("prestop-delay-unknown", "httpGet without annotation",
     [_w(good_container(lifecycle={"preStop": {"httpGet": {"path": "/d", "port": "http"}}}))],
     {}, [I]),
    ("prestop-delay-unknown", "httpGet with annotation",
     [_w(good_container(lifecycle={"preStop": {"httpGet": {"path": "/d", "port": "http"}}}),
         annotations=DECLARED)], {}, []),
    ("prestop-delay-unknown", "script that does not sleep first",
     [_w(good_container(lifecycle=exec_hook("sh", "-c", "nginx -s quit; sleep 5")))], {}, [I]),
    ("prestop-delay-unknown", "sleep action", [_w(good_container())], {}, []),
    # grace-too-short
    ("grace-too-short", "5 + 20 + 2 = 27 < 30",
     [_w(good_container(), annotations={"probelab.io/drain-seconds": "20"})], {}, []),
    ("grace-too-short", "sleep 30 against the default 30", [_w(good_container(
        lifecycle=exec_hook("sh", "-c", "sleep 30")))], {}, [E]),
    ("grace-too-short", "5 + 23 + 2 = 30 (boundary)",
     [_w(good_container(), annotations={"probelab.io/drain-seconds": "23"})], {}, [E]),
    ("grace-too-short", "5 + 22 + 2 = 29",
     [_w(good_container(), annotations={"probelab.io/drain-seconds": "22"})], {}, []),
    ("grace-too-short", "per-container drain annotation",
     [_w(good_container(), annotations={"probelab.io/drain-seconds.app": "40"}, grace=45)],
     {}, [E]),
    ("grace-too-short", "nothing known", [_w(container())], {}, []),
    # sleep-action-unsupported
    ("sleep-action-unsupported", "1.28", [_w(good_container())], {"version": "1.28"}, [E]),
    ("sleep-action-unsupported", "1.29 alpha", [_w(good_container())], {"version": "1.29"},
     [W]),
    ("sleep-action-unsupported", "1.30", [_w(good_container())], {"version": "1.30"}, []),
    ("sleep-action-unsupported", "exec sleep on 1.28",
     [_w(good_container(lifecycle=exec_hook("sleep", "5")))], {"version": "1.28"}, []),
    # sleep-action-invalid
    ("sleep-action-invalid", "31 > grace 30", [_w(good_container(lifecycle=sleep_hook(31)))],
     {}, [E]),
    ("sleep-action-invalid", "30 = grace 30 (boundary)",
     [_w(good_container(lifecycle=sleep_hook(30)))], {}, []),
    ("sleep-action-invalid", "0 on 1.32", [_w(good_container(lifecycle=sleep_hook(0)))],
     {"version": "1.32"}, [E]),
    ("sleep-action-invalid", "0 on 1.33", [_w(good_container(lifecycle=sleep_hook(0)))],
     {"version": "1.33"}, []),
    # exec-sleep-no-shell
    ("exec-sleep-no-shell", "distroless",
     [_w(good_container(image="gcr.io/distroless/static:nonroot",
                        lifecycle=exec_hook("/bin/sh", "-c", "sleep 5")))], {}, [W]),
    ("exec-sleep-no-shell", "debian-based image",
     [_w(good_container(image="nginx:1.27", lifecycle=exec_hook("sleep", "5")))], {}, []),
    ("exec-sleep-no-shell", "distroless with the sleep action",
     [_w(good_container(image="gcr.io/distroless/base"))], {}, []),
    # liveness-same-as-readiness
    ("liveness-same-as-readiness", "identical",
     [_w(good_container(livenessProbe=http_probe()))], {}, [W]),
    ("liveness-same-as-readiness", "own endpoint",
     [_w(good_container(livenessProbe=http_probe(path="/live", failureThreshold=6)))], {}, []),
    # liveness-before-readiness
    ("liveness-before-readiness", "30 s = 30 s (boundary)",
     [_w(good_container(livenessProbe=http_probe(path="/live")))], {}, [W]),
    ("liveness-before-readiness", "40 s > 30 s",
     [_w(good_container(livenessProbe=http_probe(path="/live", failureThreshold=4)))], {}, []),
    ("liveness-before-readiness", "5 s < 30 s",
     [_w(good_container(livenessProbe=http_probe(path="/live", periodSeconds=5,
                                                 failureThreshold=1)))], {}, [W]),
    # probe-port-undeclared
    ("probe-port-undeclared", "declared name", [_w(good_container())], {}, []),
    ("probe-port-undeclared", "undeclared name",
     [_w(good_container(readinessProbe=http_probe("health")))], {}, [E]),
    ("probe-port-undeclared", "undeclared number",
     [_w(good_container(readinessProbe=http_probe(9000)))], {}, [E]),
    ("probe-port-undeclared", "number of another container",
     [_w(good_container(readinessProbe=http_probe(15021)),
         container("istio-proxy", ports=(("status", 15021),)))], {}, [W]),
    ("probe-port-undeclared", "no ports declared at all",
     [_w(good_container(ports=(), readinessProbe=http_probe(8080)))], {}, []),
    ("probe-port-undeclared", "httpGet preStop on an undeclared name",
     [_w(good_container(lifecycle={"preStop": {"httpGet": {"path": "/", "port": "admin"}}}))],
     {}, [E]),
    # service-selects-nothing
    ("service-selects-nothing", "matches", [_w(good_container()), service()], {}, []),
    ("service-selects-nothing", "label renamed",
     [_w(good_container()), service(selector={"app": "web-v2"})], {}, [E]),
    ("service-selects-nothing", "other namespace",
     [_w(good_container()), service(namespace="prod")], {}, []),
    ("service-selects-nothing", "no selector", [_w(good_container()), service(selector={})],
     {}, []),
    # service-target-port-unknown
    ("service-target-port-unknown", "named ok", [_w(good_container()), service()], {}, []),
    ("service-target-port-unknown", "named missing",
     [_w(good_container()), service(target="web")], {}, [E]),
    ("service-target-port-unknown", "number not declared",
     [_w(good_container()), service(target=8000)], {}, [W]),
    ("service-target-port-unknown", "number declared",
     [_w(good_container()), service(target=8080)], {}, []),
    ("service-target-port-unknown", "nothing declared",
     [_w(good_container(ports=(), readinessProbe=http_probe(8080))), service(target=8080)],
     {}, []),
    # external-traffic-local-without-pte
    ("external-traffic-local-without-pte", "1.25 Local",
     [service(type="LoadBalancer", externalTrafficPolicy="Local")], {"version": "1.25"}, [W]),
    ("external-traffic-local-without-pte", "1.26 Local",
     [service(type="LoadBalancer", externalTrafficPolicy="Local")], {"version": "1.26"}, []),
    ("external-traffic-local-without-pte", "1.25 Cluster",
     [service(type="LoadBalancer")], {"version": "1.25"}, []),
    # rollout-takes-all-down
    ("rollout-takes-all-down", "1 replica, maxUnavailable 1",
     [_w(good_container(), replicas=1,
         strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}})], {}, [E]),
    ("rollout-takes-all-down", "1 replica, defaults 25%/25%",
     [_w(good_container(), replicas=1)], {}, []),
    ("rollout-takes-all-down", "maxUnavailable 100%",
     [_w(good_container(), replicas=4,
         strategy={"rollingUpdate": {"maxUnavailable": "100%"}})], {}, [E]),
    ("rollout-takes-all-down", "75% of 4 = 3 (boundary below)",
     [_w(good_container(), replicas=4,
         strategy={"rollingUpdate": {"maxUnavailable": "75%"}})], {}, []),
    ("rollout-takes-all-down", "HPA keeps 3 replicas",
     [_w(good_container(), replicas=1, strategy={"rollingUpdate": {"maxUnavailable": 1}}),
      hpa(min_replicas=3)], {}, []),
    ("rollout-takes-all-down", "DaemonSet 100%",
     [workload("DaemonSet", strategy={"type": "RollingUpdate",
                                      "rollingUpdate": {"maxUnavailable": "100%"}})], {}, [E]),
    ("rollout-takes-all-down", "Recreate is another rule",
     [_w(good_container(), replicas=1, strategy={"type": "Recreate"})], {}, []),
    # recreate-strategy
    ("recreate-strategy", "Recreate behind a Service",
     [_w(good_container(), strategy={"type": "Recreate"}), service()], {}, [W]),
    ("recreate-strategy", "Recreate, no Service",
     [_w(good_container(), strategy={"type": "Recreate"})], {}, []),
    # pdb-blocks-eviction
    ("pdb-blocks-eviction", "minAvailable 2 of 3", [_w(good_container()), pdb(minAvailable=2)],
     {}, []),
    ("pdb-blocks-eviction", "minAvailable 3 of 3", [_w(good_container()), pdb(minAvailable=3)],
     {}, [E]),
    ("pdb-blocks-eviction", "maxUnavailable 0", [_w(good_container()), pdb(maxUnavailable=0)],
     {}, [E]),
    ("pdb-blocks-eviction", "minAvailable 100%",
     [_w(good_container()), pdb(minAvailable="100%")], {}, [E]),
    ("pdb-blocks-eviction", "99% of 3 rounds up to 3",
     [_w(good_container()), pdb(minAvailable="99%")], {}, [E]),
    ("pdb-blocks-eviction", "66% of 3 rounds up to 2",
     [_w(good_container()), pdb(minAvailable="66%")], {}, []),
    ("pdb-blocks-eviction", "minAvailable 1 of 1 (the single-replica classic)",
     [_w(good_container(), replicas=1), pdb(minAvailable=1)], {}, [E]),
    # pdb-selects-nothing
    ("pdb-selects-nothing", "matches", [_w(good_container()), pdb(minAvailable=1)], {}, []),
    ("pdb-selects-nothing", "typo",
     [_w(good_container()), pdb(selector={"app": "wbe"}, minAvailable=1)], {}, [W]),
    # hpa-min-below-pdb
    ("hpa-min-below-pdb", "min 2, minAvailable 2",
     [_w(good_container()), pdb(minAvailable=2), hpa(min_replicas=2)], {}, [W]),
    ("hpa-min-below-pdb", "min 3, minAvailable 2",
     [_w(good_container()), pdb(minAvailable=2), hpa(min_replicas=3)], {}, []),
    ("hpa-min-below-pdb", "maxUnavailable budget",
     [_w(good_container()), pdb(maxUnavailable=1), hpa(min_replicas=1)], {}, []),
    # hpa-target-missing
    ("hpa-target-missing", "matches", [_w(good_container(), replicas=None), hpa()], {}, []),
    ("hpa-target-missing", "renamed Deployment", [_w(good_container()), hpa("web-v1")], {},
     [W]),
    ("hpa-target-missing", "no workload in the input", [hpa("web-v1")], {}, []),
    # replicas-with-hpa
    ("replicas-with-hpa", "replicas and HPA", [_w(good_container()), hpa()], {}, [W]),
    ("replicas-with-hpa", "no replicas field", [_w(good_container(), replicas=None), hpa()],
     {}, []),
    ("replicas-with-hpa", "HPA of another Deployment",
     [_w(good_container()), _w(good_container(), name="api", replicas=None), hpa("api")],
     {}, []),
]


@pytest.mark.parametrize(("rule_id", "case", "objects", "model_kw", "expected"), CASES,
                         ids=[f"{c[0]}: {c[1]}" for c in CASES])
def test_rule(rule_id: str, case: str, objects: list[dict[str, Any]],
              model_kw: dict[str, Any], expected: list[Severity]) -> None:
    found = run_rule(rule_id, objects, **model_kw)
    assert [f.severity for f in found] == expected, [f.message for f in found]
    for f in found:
        assert f.rule == rule_id and f.message and f.fix and f.field


def test_every_rule_has_a_failing_and_a_clean_case() -> None:
    failing = {c[0] for c in CASES if c[4]}
    clean = {c[0] for c in CASES if not c[4]}
    assert set(load_rules()) == failing == clean


def test_the_grace_message_has_the_numbers() -> None:
    (found,) = run_rule("grace-too-short", [_w(good_container(
        lifecycle=exec_hook("sh", "-c", "sleep 30")))])
    assert found.message == (
        "preStop sleeps 30 s and terminationGracePeriodSeconds is 30 s (the default): the "
        "container gets SIGKILL as soon as preStop ends, with 0 s to finish in-flight requests")
    assert found.field == "spec.template.spec.terminationGracePeriodSeconds"
    assert found.fix.startswith("set terminationGracePeriodSeconds to 33 ")


def test_the_lag_message_and_fix_follow_the_model() -> None:
    objects = [_w(good_container(lifecycle=sleep_hook(3))), service()]
    (found,) = run_rule("prestop-shorter-than-lag", objects, lag=5)
    assert "sleeps 3 s" in found.message and "5 s" in found.message
    assert "at least 7 s" in found.fix  # lag 5 + margin 2
    (wider,) = run_rule("prestop-shorter-than-lag", objects, lag=5, margin=4)
    assert "at least 9 s" in wider.fix


def test_the_missing_prestop_fix_depends_on_the_version() -> None:
    objects = [_w(container(readinessProbe=http_probe())), service()]
    (new,) = run_rule("prestop-missing", objects, version="1.30")
    (old,) = run_rule("prestop-missing", objects, version="1.29")
    assert "sleep: {seconds: 3}" in new.fix
    assert '["sleep", "3"]' in old.fix


def test_docs_list_every_rule_with_its_severity_and_source() -> None:
    from support.paths import REPO

    docs = (REPO / "docs" / "check.md").read_text()
    for rule in load_rules().values():
        assert f"### `{rule.id}` ({rule.severity})" in docs, rule.id
        assert f"| [`{rule.id}`](#{rule.id}) | {rule.severity} |" in docs, rule.id
        assert rule.source and rule.why and rule.summary


def test_unknown_field_suggests_the_rollout_field() -> None:
    (found,) = run_rule("unknown-field", [_w(container(
        lifecycle={"preStopHook": {"exec": {"command": ["sleep", "5"]}}}))])
    assert found.field == "spec.template.spec.containers[0].lifecycle.preStopHook"
    assert "did you mean preStop?" in found.fix
