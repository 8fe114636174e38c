"""The kubeconfig context `probelab`: merged and removed the way kind does, written safely.

Pure merge/remove rules are table-tested on parsed documents; load/save on real files
(mode 0600, atomic replace, symlinks, malformed input -> one UsageError).
"""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
import yaml

from probelab.engine.host import kubeconfig as kc
from probelab.errors import UsageError

HOME = Path("/home/u")


def other_config() -> dict:
    """A user's existing kubeconfig with one unrelated cluster, current."""
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {"colors": True},
        "clusters": [{"name": "prod", "cluster": {"server": "https://10.0.0.1:6443"}}],
        "users": [{"name": "admin", "user": {"token": "secret"}}],
        "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "admin"}}],
        "current-context": "prod",
    }


def names(doc: dict, section: str) -> list[str]:
    return [e["name"] for e in doc.get(section) or []]


# ---- where the file is --------------------------------------------------------------------

@pytest.mark.parametrize(("explicit", "env", "expected"), [
    (Path("/tmp/k"), {"KUBECONFIG": "/a:/b"}, Path("/tmp/k")),
    (None, {"KUBECONFIG": "/a:/b"}, Path("/a")),
    (None, {"KUBECONFIG": ":/b"}, Path("/b")),
    (None, {"KUBECONFIG": ""}, HOME / ".kube" / "config"),
    (None, {}, HOME / ".kube" / "config"),
])
def test_default_path(explicit, env, expected) -> None:
    assert kc.default_path(explicit, env, HOME) == expected


# ---- merge --------------------------------------------------------------------------------

def test_merge_into_nothing_makes_a_complete_config() -> None:
    doc = kc.merge({}, "https://127.0.0.1:1234", "tok", b"PEM")
    assert doc["current-context"] == "probelab"
    assert doc["clusters"] == [{"name": "probelab", "cluster": {
        "server": "https://127.0.0.1:1234",
        "certificate-authority-data": base64.b64encode(b"PEM").decode()}}]
    assert doc["users"] == [{"name": "probelab", "user": {"token": "tok"}}]
    assert doc["contexts"] == [{"name": "probelab",
                                "context": {"cluster": "probelab", "user": "probelab"}}]
    assert doc["kind"] == "Config" and doc["apiVersion"] == "v1"


def test_merge_without_ca_writes_no_ca_field() -> None:
    doc = kc.merge({}, "http://127.0.0.1:1", "t")
    assert doc["clusters"][0]["cluster"] == {"server": "http://127.0.0.1:1"}


def test_merge_keeps_other_entries_and_does_not_touch_the_input() -> None:
    before = other_config()
    doc = kc.merge(before, "https://127.0.0.1:1", "t")
    assert before == other_config()
    for section in kc.SECTIONS:
        assert names(doc, section)[0] == before[section][0]["name"]
        assert doc[section][0] == before[section][0]
        assert names(doc, section)[-1] == "probelab"
    assert doc["preferences"] == {"colors": True}
    assert doc["current-context"] == "probelab"


def test_merge_replaces_a_stale_entry_in_place() -> None:
    stale = kc.merge(other_config(), "https://127.0.0.1:1", "old")
    stale["clusters"].append({"name": "later", "cluster": {"server": "https://x"}})
    doc = kc.merge(stale, "https://127.0.0.1:2", "new")
    assert names(doc, "clusters") == ["prod", "probelab", "later"]
    assert kc.server_of(doc) == "https://127.0.0.1:2"
    assert doc["users"][1]["user"]["token"] == "new"
    assert names(doc, "contexts").count("probelab") == 1


# ---- remove -------------------------------------------------------------------------------

def test_remove_restores_the_previous_context() -> None:
    merged = kc.merge(other_config(), "https://127.0.0.1:1", "t")
    doc = kc.remove(merged, "https://127.0.0.1:1", previous_context="prod")
    assert doc == other_config()


@pytest.mark.parametrize(("previous", "expected"), [
    (None, ""),  # nothing was current before: nothing is current after (as kind leaves it)
    ("gone", ""),  # the old context was deleted meanwhile
    ("prod", "prod"),
])
def test_remove_current_context_falls_back(previous, expected) -> None:
    merged = kc.merge(other_config(), "https://127.0.0.1:1", "t")
    assert kc.remove(merged, None, previous)["current-context"] == expected


def test_remove_leaves_a_context_the_user_switched_to() -> None:
    merged = kc.merge(other_config(), "https://127.0.0.1:1", "t")
    merged["current-context"] = "prod"
    doc = kc.remove(merged, "https://127.0.0.1:1", previous_context=None)
    assert doc["current-context"] == "prod"
    assert "probelab" not in names(doc, "contexts")


def test_remove_spares_a_context_a_newer_engine_wrote() -> None:
    newer = kc.merge(other_config(), "https://127.0.0.1:2", "t2")
    assert kc.remove(newer, "https://127.0.0.1:1", "prod") == newer


def test_remove_without_the_context_changes_nothing() -> None:
    assert kc.remove(other_config(), "https://127.0.0.1:1") == other_config()


def test_has_context_and_server_of() -> None:
    assert not kc.has_context(other_config())
    assert kc.server_of(other_config()) is None
    assert kc.has_context(other_config(), "prod")
    assert kc.server_of(other_config(), "prod") == "https://10.0.0.1:6443"


# ---- files --------------------------------------------------------------------------------

def test_load_missing_or_empty_file_is_an_empty_config(tmp_path: Path) -> None:
    assert kc.load(tmp_path / "none") == kc.empty()
    (tmp_path / "empty").write_text("")
    assert kc.load(tmp_path / "empty") == kc.empty()


@pytest.mark.parametrize(("text", "message"), [
    ("clusters: [\n", "not valid YAML (line 2)"),
    ("- a\n- b\n", "top level is not a mapping"),
    ("just text\n", "top level is not a mapping"),
    ("clusters: {a: 1}\n", "clusters must be a list"),
    ("contexts: 3\n", "contexts must be a list"),
])
def test_load_rejects_malformed_files_in_one_line(tmp_path: Path, text, message) -> None:
    path = tmp_path / "config"
    path.write_text(text)
    with pytest.raises(UsageError) as info:
        kc.load(path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_save_is_0600_even_over_a_readable_file_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "kube" / "config"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(other_config()))
    os.chmod(path, 0o644)
    doc = kc.merge(kc.load(path), "https://127.0.0.1:9", "tok", b"CA")
    kc.save(path, doc)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert kc.load(path) == doc
    assert "name: probelab" in path.read_text()  # what the demo waits for
    assert sorted(p.name for p in path.parent.iterdir()) == ["config"]  # no temp file left


def test_save_creates_missing_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "config"
    kc.save(path, kc.empty())
    assert kc.load(path) == kc.empty()


def test_save_through_a_symlink_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.write_text(yaml.safe_dump(other_config()))
    link = tmp_path / "link"
    link.symlink_to(real)
    kc.save(link, kc.merge(kc.load(link), "https://127.0.0.1:9", "t"))
    assert link.is_symlink()
    assert kc.has_context(kc.load(real))


def test_save_into_an_unwritable_place_is_one_usage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UsageError, match="cannot write kubeconfig"):
        kc.save(blocker / "config", kc.empty())


# ---- the lock kubectl and kind take ----------------------------------------------------------

def test_update_holds_the_lock_and_removes_it(tmp_path: Path) -> None:
    path = tmp_path / "config"
    seen = []

    def change(doc: dict) -> dict:
        seen.append((tmp_path / "config.lock").exists())
        return kc.merge(doc, "https://127.0.0.1:1", "t")

    kc.update(path, change)
    assert seen == [True]
    assert not (tmp_path / "config.lock").exists()
    assert kc.has_context(kc.load(path))


def test_update_writes_nothing_when_nothing_changes(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(other_config()))
    before = path.stat()
    kc.update(path, lambda doc: None)
    kc.update(path, lambda doc: doc)
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_lock_held_elsewhere_is_one_usage_error_and_stays(tmp_path: Path) -> None:
    path = tmp_path / "config"
    lock = tmp_path / "config.lock"
    lock.write_text("")
    with pytest.raises(UsageError, match="is locked by"), kc.locked(path, wait_s=0.1):
        pass
    assert lock.exists()  # someone else's lock is not ours to remove
    assert not path.exists()
