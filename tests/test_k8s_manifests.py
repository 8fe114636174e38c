"""Loading manifest files and folders, and the one-line errors for broken ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from probelab.errors import ProbelabError
from probelab.k8s.manifests import ManifestError, load_and_prepare, load_manifests

LEGACY = Path(__file__).parent / "fixtures" / "legacy" / "convert"

NS = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: probes\n"
SVC = ("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n"
       "    app: web\n  ports:\n  - port: 80\n")


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_folder_files_sorted_by_name_not_recursive(tmp_path: Path) -> None:
    write(tmp_path, "b.yml", SVC)
    write(tmp_path, "a.yaml", NS)
    write(tmp_path, "c.json", json.dumps({"apiVersion": "v1", "kind": "Namespace",
                                          "metadata": {"name": "other"}}))
    write(tmp_path, "notes.txt", "not a manifest")
    write(tmp_path, "probelab.yaml", "images:\n  myapp: python3 app.py\n")  # engine's table
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "d.yaml", NS)
    objs = load_manifests([tmp_path])
    assert [(o["kind"], o["metadata"]["name"]) for o in objs] == [
        ("Namespace", "probes"), ("Service", "web"), ("Namespace", "other")]


def test_multi_document_file_with_empty_documents(tmp_path: Path) -> None:
    path = write(tmp_path, "all.yaml", f"---\n{NS}---\n# only a comment\n---\n{SVC}---\n")
    assert [o["kind"] for o in load_manifests([str(path)])] == ["Namespace", "Service"]


def test_list_documents_are_expanded(tmp_path: Path) -> None:
    doc = {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "b"}}]}
    path = write(tmp_path, "list.json", json.dumps(doc))
    assert [o["metadata"]["name"] for o in load_manifests([path])] == ["a", "b"]


@pytest.mark.parametrize(("text", "message"), [
    (f"{NS}---\nkind: [unclosed\n", "bad.yaml: document 2: invalid YAML:"),
    (f"{NS}---\n- a\n- b\n", "bad.yaml: document 2: expected an object (a mapping), got a list"),
    ("just text\n", "bad.yaml: document 1: expected an object (a mapping), got the text"),
    ("kind: Namespace\nmetadata:\n  name: a\n", "document 1: 'apiVersion' is missing"),
    ("apiVersion: v1\nmetadata:\n  name: a\n", "document 1: 'kind' is missing"),
    ("apiVersion: v1\nkind: Namespace\n", "document 1: Namespace has no metadata.name"),
    ("apiVersion: v1\nkind: Namespace\nmetadata: x\n", "has no metadata.name"),
    ("apiVersion: 1\nkind: Namespace\nmetadata:\n  name: a\n", "'apiVersion' must be a string"),
    ("apiVersion: v1\nkind: List\nitems: 3\n", "a List needs an 'items' list"),
    ("a: b\n\tc: d\n", "document 1: invalid YAML"),
])
def test_malformed_documents(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(ManifestError) as err:
        load_manifests([path])
    assert message in str(err.value)
    assert "\n" not in str(err.value)
    assert isinstance(err.value, ProbelabError)


def test_yaml_errors_say_where(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "apiVersion: v1\nkind: [x\n")
    with pytest.raises(ManifestError, match=r"line \d+, column \d+"):
        load_manifests([path])


def test_missing_paths_and_empty_folders(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no such file or folder"):
        load_manifests([tmp_path / "missing.yaml"])
    with pytest.raises(ManifestError, match=r"no \*\.yaml"):
        load_manifests([tmp_path])


def test_unreadable_bytes(tmp_path: Path) -> None:
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ManifestError, match="cannot read"):
        load_manifests([path])


def test_load_and_prepare_converts_defaults_and_warns() -> None:
    objs, warnings = load_and_prepare([LEGACY / "deployment-extensions-v1beta1.yaml"])
    assert [o["kind"] for o in objs] == ["Namespace", "Deployment", "Service"]
    deploy = objs[1]
    assert deploy["apiVersion"] == "apps/v1"
    assert deploy["spec"]["template"]["spec"]["containers"][0]["readinessProbe"][
        "timeoutSeconds"] == 1
    assert objs[2]["spec"]["ports"][0]["protocol"] == "TCP"
    assert len(warnings) == 1 and warnings[0].endswith(
        "extensions/v1beta1 Deployment is deprecated in v1.8+, unavailable in v1.16+; "
        "use apps/v1 Deployment")


def test_load_and_prepare_reports_validation_in_one_line(tmp_path: Path) -> None:
    text = (LEGACY / "deployment-extensions-v1beta1.yaml").read_text().replace(
        "periodSeconds: 2", "periodSeconds: -1")
    path = write(tmp_path, "web.yaml", text)
    with pytest.raises(ManifestError) as err:
        load_and_prepare([path])
    assert str(err.value) == (
        f'{path}: document 2: Deployment "simpleprobe": spec.template.spec.containers[0].'
        'readinessProbe.periodSeconds: must be >= 1')


def test_load_and_prepare_reports_unknown_fields(tmp_path: Path) -> None:
    text = (LEGACY / "deployment-extensions-v1beta1.yaml").read_text().replace(
        "readinessProbe:", "readinesProbe:")
    path = write(tmp_path, "web.yaml", text)
    with pytest.raises(ManifestError) as err:
        load_and_prepare([path])
    assert str(err.value) == (
        f'{path}: document 2: Deployment "simpleprobe": unknown field '
        '"spec.template.spec.containers[0].readinesProbe"')


def test_a_key_given_twice_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "dup.yaml", f"{NS}---\n{SVC}  ports: []\n")
    with pytest.raises(ManifestError) as err:
        load_manifests([path])
    assert str(err.value) == (f"{path}: document 2: invalid YAML: mapping key 'ports' "
                              "already defined (line 15, column 3)")


def test_yaml_merge_keys_still_work(tmp_path: Path) -> None:
    text = ("apiVersion: v1\nkind: List\nitems:\n- &ns\n  apiVersion: v1\n  kind: Namespace\n"
            "  metadata:\n    name: a\n- <<: *ns\n  metadata:\n    name: b\n")
    path = write(tmp_path, "merge.yaml", text)
    assert [o["metadata"]["name"] for o in load_manifests([path])] == ["a", "b"]
