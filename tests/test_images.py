"""The image table: built-in simpleweb, --image mappings, probelab.yaml, name matching."""

from __future__ import annotations

import sys

import pytest

from probelab.engine.kubelet.images import (
    ImageTable,
    load_table_file,
    missing_message,
    parse_image,
    parse_mapping,
)
from probelab.errors import UsageError

WEB = [sys.executable, "-m", "probelab", "web", "--host", "$(POD_IP)", "--app-version"]


@pytest.mark.parametrize(("image", "repository", "tag", "name"), [
    ("simpleweb", "simpleweb", "latest", "simpleweb"),
    ("probelab/simpleweb:2.0", "probelab/simpleweb", "2.0", "simpleweb"),
    ("localhost:5000/team/app:1", "localhost:5000/team/app", "1", "app"),
    ("localhost:5000/team/app", "localhost:5000/team/app", "latest", "app"),
    ("docker.io/library/nginx:1.25@sha256:abc", "docker.io/library/nginx", "1.25", "nginx"),
])
def test_parse_image(image, repository, tag, name) -> None:
    ref = parse_image(image)
    assert (ref.repository, ref.tag, ref.name) == (repository, tag, name)


@pytest.mark.parametrize(("image", "version"), [
    ("probelab/simpleweb:1.0", "1.0"),
    ("probelab/simpleweb:2.0", "2.0"),
    ("docker.io/probelab/simpleweb:2.0", "2.0"),
    ("myrepo/simpleweb:2.0", "2.0"),  # the demo's --image-repo
    ("registry.example:5000/a/b/simpleweb:3.1", "3.1"),
    ("simpleweb", "latest"),
])
def test_builtin_simpleweb_by_last_path_component(image, version) -> None:
    assert ImageTable.build().resolve(image) == [*WEB, version]


def test_unmapped_images() -> None:
    table = ImageTable.build()
    assert table.resolve("nginx:1.25") is None
    assert table.resolve("probelab/simplewebx:1.0") is None
    message = missing_message("nginx:1.25")
    assert "--image nginx:1.25=COMMAND" in message and "probelab.yaml" in message


def test_flag_mappings_match_with_or_without_tag_and_registry() -> None:
    table = ImageTable.build([("myapp", "python app.py --tag $(IMAGE_TAG)"),
                              ("myapp:2.0", "python app2.py"),
                              ("docker.io/library/redis:7", "redis-server --port 7000")])
    assert table.resolve("myapp:1.0") == ["python", "app.py", "--tag", "1.0"]
    assert table.resolve("myapp:2.0") == ["python", "app2.py"]  # the tagged entry wins
    assert table.resolve("example.org/x/myapp:9") == ["python", "app.py", "--tag", "9"]
    for same in ("redis:7", "library/redis:7", "docker.io/library/redis:7"):
        assert table.resolve(same) == ["redis-server", "--port", "7000"], same
    assert table.resolve("redis:6") is None


def test_flags_override_the_file_which_overrides_the_builtin(tmp_path) -> None:
    (tmp_path / "probelab.yaml").write_text(
        "images:\n"
        "  simpleweb: [python, -m, mysim]\n"
        "  other:1: python other.py\n"
        "  thing: python thing.py\n")
    table = ImageTable.build([("thing", "python flag.py")], tmp_path)
    assert table.resolve("probelab/simpleweb:2.0") == ["python", "-m", "mysim"]
    assert table.resolve("other:1") == ["python", "other.py"]
    assert table.resolve("other:2") is None
    assert table.resolve("thing:5") == ["python", "flag.py"]


def test_no_file_is_fine(tmp_path) -> None:
    assert ImageTable.build((), tmp_path).resolve("x") is None


@pytest.mark.parametrize("text", [
    "images: [a, b]",
    "images:\n  a: {not: a command}\n",
    "images:\n  a: ''\n",
    "images:\n  a: 'unclosed \"quote'\n",
    "images: {a: [x\n",
])
def test_bad_table_files_are_usage_errors(tmp_path, text) -> None:
    path = tmp_path / "probelab.yaml"
    path.write_text(text)
    with pytest.raises(UsageError) as info:
        load_table_file(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(("flag", "expected"), [
    ("app=python app.py", ("app", "python app.py")),
    ("app:1=python -c 'print(1)'", ("app:1", "python -c 'print(1)'")),
    (" app = run ", ("app", "run")),
])
def test_parse_mapping(flag, expected) -> None:
    assert parse_mapping(flag) == expected


@pytest.mark.parametrize("flag", ["app", "=cmd", "app=", "app='open"])
def test_bad_mappings(flag) -> None:
    with pytest.raises(UsageError):
        parse_mapping(flag)
