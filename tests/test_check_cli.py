"""`probelab check` through the real entry point: every format, exit code and bad input, the
shipped manifests, standard input, List kinds, SARIF against its schema, and `--fix` output
checked again (by probelab check and by the offline Kubernetes schema validation)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from probelab.check.rules import load_rules
from probelab.k8s.patch import strategic_merge_patch
from support.paths import REPO
from support.processes import run_probelab

DEPLOY = REPO / "deploy" / "kubernetes"
SARIF_SCHEMA = REPO / "tests" / "fixtures" / "sarif-2.1.0-subset.schema.json"
KUBERNETES_VERSION = "1.37.0"  # the newest schemas kubernetes-validate ships (as test_deploy)
FINDING_KEYS = {"rule", "severity", "kind", "namespace", "name", "container", "field",
                "message", "fix", "file", "line"}

ONLY_WARNINGS = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  strategy: {type: Recreate}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: app
          image: example/app:1
          ports: [{name: http, containerPort: 8080}]
          readinessProbe: {httpGet: {path: /, port: http}}
          lifecycle: {preStop: {sleep: {seconds: 3}}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
"""


def check(*args: str, **kw: Any):
    return run_probelab("check", *args, **kw)


def findings(*args: str, **kw: Any) -> list[dict[str, Any]]:
    result = check(*args, "--format", "json", **kw)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)["findings"]


def test_withprobes_is_clean_and_exits_0() -> None:
    result = check(str(DEPLOY / "withprobes"))
    assert result.returncode == 0, result.stdout
    assert "no findings" in result.stdout
    assert findings(str(DEPLOY / "withprobes"), "--fail-on", "info") == []


def test_noprobes_has_the_errors_that_explain_the_demo() -> None:
    result = check(str(DEPLOY / "noprobes"))
    assert result.returncode == 1
    assert "readiness-missing" in result.stdout and "prestop-missing" in result.stdout
    found = findings(str(DEPLOY / "noprobes"))
    assert sorted((f["rule"], f["severity"]) for f in found) == [
        ("prestop-missing", "error"), ("readiness-missing", "error")]


def test_json_schema_and_line_numbers() -> None:
    result = check(str(DEPLOY / "noprobes"), "--format", "json")
    doc = json.loads(result.stdout)
    assert doc["version"] == 1
    assert doc["timing_model"] == {"profile": "kube-proxy", "lag_seconds": 1.0,
                                   "margin_seconds": 2.0, "kubernetes_version": "1.35"}
    assert doc["summary"] == {"error": 2, "warning": 0, "info": 0}
    path = DEPLOY / "noprobes" / "10-deployment.yaml"
    lines = path.read_text().splitlines()
    for f in doc["findings"]:
        assert set(f) == FINDING_KEYS
        assert f["file"] == str(path) and f["container"] == "simpleweb"
        assert f["field"].startswith("spec.template.spec.containers[0].")
        # the field does not exist yet: the line is its container's, where the fix goes
        assert lines[f["line"] - 1].strip() == "- name: simpleweb # `kubectl set image " \
            "deployment/simpleprobe simpleweb=...:2.0`"


def test_sarif_validates_against_the_schema_and_points_at_lines() -> None:
    result = check(str(DEPLOY / "noprobes"), "--format", "sarif")
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    schema = json.loads(SARIF_SCHEMA.read_text())
    jsonschema.Draft4Validator(schema).validate(doc)
    (run,) = doc["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(load_rules())
    assert len(run["results"]) == 2
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] == "error"
        region = res["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] > 1
    assert run["properties"]["timingModel"]["lag_seconds"] == 1.0


def test_the_sarif_schema_subset_rejects_a_broken_log() -> None:
    schema = json.loads(SARIF_SCHEMA.read_text())
    doc = json.loads(check(str(DEPLOY / "noprobes"), "--format", "sarif").stdout)
    doc["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate(doc)


def test_github_annotations() -> None:
    result = check(str(DEPLOY / "noprobes"), "--format", "github")
    assert result.returncode == 1
    out = result.stdout.splitlines()
    assert len(out) == 2
    for line in out:
        assert line.startswith("::error file=" + str(DEPLOY / "noprobes" / "10-deployment.yaml")
                               + ",line=34,title=")
        assert "Fix%3A" not in line and ". Fix: " in line


def test_stdin_like_helm_template() -> None:
    text = "---\n".join(p.read_text() for p in sorted((DEPLOY / "noprobes").glob("*.yaml")))
    found = findings("-", input=text)
    assert {f["rule"] for f in found} == {"readiness-missing", "prestop-missing"}
    assert {f["file"] for f in found} == {"<stdin>"}
    line = found[0]["line"]
    assert text.splitlines()[line - 1].strip().startswith("- name: simpleweb")


def test_a_list_kind_is_read_item_by_item(tmp_path: Path) -> None:
    items = [yaml.safe_load(p.read_text()) for p in sorted((DEPLOY / "noprobes").glob("*.yaml"))]
    listing = tmp_path / "all.yaml"
    listing.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))
    found = findings(str(listing))
    assert {f["rule"] for f in found} == {"readiness-missing", "prestop-missing"}
    lines = listing.read_text().splitlines()
    for f in found:
        assert lines[f["line"] - 1].strip().startswith("- image: probelab/simpleweb:1.0")


def test_fail_on(tmp_path: Path) -> None:
    manifest = tmp_path / "web.yaml"
    manifest.write_text(ONLY_WARNINGS)
    assert {f["rule"] for f in findings(str(manifest))} == {"recreate-strategy"}
    assert check(str(manifest)).returncode == 0
    assert check(str(manifest), "--fail-on", "warning").returncode == 1
    assert check(str(DEPLOY / "noprobes"), "--fail-on", "none").returncode == 0


def test_profile_and_lag_change_the_verdict(tmp_path: Path) -> None:
    manifest = tmp_path / "web.yaml"
    manifest.write_text(ONLY_WARNINGS)  # preStop sleeps 3 s
    assert check(str(manifest)).returncode == 0
    result = check(str(manifest), "--profile", "ingress-nginx", "--format", "json")
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    assert doc["timing_model"]["lag_seconds"] == 5.0
    assert "prestop-shorter-than-lag" in {f["rule"] for f in doc["findings"]}
    result = check(str(manifest), "--profile", "ingress-nginx", "--lag", "2", "--format", "json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["timing_model"]["profile"] == "custom"


@pytest.mark.parametrize(("args", "needle"), [
    (["missing.yaml"], "missing.yaml: no such file or folder"),
    (["--kubernetes-version", "latest", "X"], "expected 1.NN"),
    (["--write", "X"], "--write needs --fix"),
    (["--lag", "-1", "X"], "must be >= 0"),
])
def test_bad_flags_and_files_are_one_line_exit_2(args: list[str], needle: str,
                                                 tmp_path: Path) -> None:
    args = [str(tmp_path / a) if a in ("missing.yaml",) else a for a in args]
    args = [str(DEPLOY / "noprobes") if a == "X" else a for a in args]
    result = check(*args)
    assert result.returncode == 2, result.stdout
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert needle in result.stderr


def test_invalid_yaml_names_the_file_and_the_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: [x\n")
    result = check(str(broken))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert str(broken) in line and "line 5" in line and "invalid YAML" in line
    result = check("-", input="kind: [\n")
    assert result.returncode == 2 and "<stdin>" in result.stderr


def test_undecodable_stdin_and_unreadable_files_are_one_line(tmp_path: Path) -> None:
    import subprocess

    from support.processes import probelab_cmd

    result = subprocess.run(probelab_cmd("check", "-"), input=b"kind: \xff\xfe\n",
                            capture_output=True, timeout=60)
    assert result.returncode == 2
    assert b"Traceback" not in result.stderr and b"<stdin>: cannot read" in result.stderr
    binary = tmp_path / "x.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    result = check(str(binary))
    assert result.returncode == 2 and "cannot read" in result.stderr


def test_help_explains() -> None:
    result = check("--help")
    assert result.returncode == 0
    for needle in ("--lag", "--profile", "--kubernetes-version", "--fail-on", "--fix",
                   "probelab.io/prestop-delay-seconds", "Exit status"):
        assert needle in result.stdout


def _objects(folder: Path) -> list[dict[str, Any]]:
    return [d for p in sorted(folder.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text())
            if d]


def test_fix_patch_applied_to_noprobes_is_clean_and_valid(tmp_path: Path) -> None:
    result = check(str(DEPLOY / "noprobes"), "--fix")
    assert result.returncode == 0, result.stderr
    patches = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert len(patches) == 1
    objects = _objects(DEPLOY / "noprobes")
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    patched = strategic_merge_patch(deployment, patches[0], "Deployment")
    kubernetes_validate.validate(patched, KUBERNETES_VERSION, strict=True)
    out = tmp_path / "fixed.yaml"
    out.write_text(yaml.safe_dump_all([patched if o is deployment else o for o in objects]))
    assert check(str(out), "--fail-on", "warning").returncode == 0


def test_fix_write_rewrites_the_files(tmp_path: Path) -> None:
    folder = tmp_path / "noprobes"
    shutil.copytree(DEPLOY / "noprobes", folder)
    result = check(str(folder), "--fix", "--write")
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stderr and "10-deployment.yaml" in result.stderr
    assert "20-service.yaml" not in result.stderr  # unchanged files are left alone
    assert check(str(folder), "--fail-on", "warning").returncode == 0
    for obj in _objects(folder):
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_fix_write_from_stdin_prints_the_manifests() -> None:
    text = "---\n".join(p.read_text() for p in sorted((DEPLOY / "noprobes").glob("*.yaml")))
    result = check("-", "--fix", "--write", input=text)
    assert result.returncode == 0
    fixed = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert [o["kind"] for o in fixed] == ["Namespace", "Deployment", "Service"]
    container = fixed[1]["spec"]["template"]["spec"]["containers"][0]
    assert container["lifecycle"]["preStop"] == {"sleep": {"seconds": 3}}


def test_the_demo_prints_the_check_of_its_manifests_with_its_endpoint_delay() -> None:
    import io

    from rich.console import Console

    from probelab.scenario.config import DemoConfig, Scenario, Variant
    from probelab.workloadtest.demo import print_check

    def printed(delay: float) -> str:
        out = io.StringIO()
        config = DemoConfig(variants=tuple(Variant), scenarios=(Scenario("scale-down"),),
                            endpoint_delay_s=delay)
        print_check(config, Console(file=out, width=300))
        return out.getvalue()

    text = printed(1.0)
    assert "noprobes: 2 finding(s)" in text and "withprobes: no finding(s)" in text
    assert "error readiness-missing: Deployment simpleprobe" in text
    assert "error prestop-missing: Deployment simpleprobe" in text
    # an engine lagging 6 s outlasts withprobes' declared 5 s preStop: the check says so
    assert "error prestop-shorter-than-lag" in printed(6.0).split("withprobes")[1]
