"""Pod logs (hardening issue, item 5): kept per pod UID and removed with the pod, rotated as the
kubelet rotates them, tailed by seeking from the end and streamed without loading the file; a
pod with a name of the full 253 characters runs and its log is served.

A real kubelet runs the pods (one image, `talker`, maps to a small shell script); the API
server serves `pods/log`. Rotation uses a 64 KiB limit and a short check period instead of
the kubelet's 10 Mi every 10 s.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probelab.engine.core import podlogs
from probelab.engine.engine import build_context
from probelab.engine.kubelet.kubelet import Kubelet
from support.api_engine import ApiEngine
from support.waiting import wait_until

# Prints $WORDS once, then $LINES numbered lines of 100 bytes (100 every 20 ms, so rotation
# checks see the file grow), then sleeps (in `exec` so the container's process is the shell's).
TALKER = ("sh -c 'echo \"$WORDS\"; i=0; while [ $i -lt ${LINES:-0} ]; do "
          "printf \"%099d\\n\" $i; i=$((i+1)); [ $((i % 100)) -eq 0 ] && sleep 0.02; "
          "done; exec sleep 600'")
ROTATION = podlogs.Rotation(max_bytes=64 * 1024, max_files=3, check_s=0.1)


@pytest.fixture(scope="module")
def engine() -> Iterator[ApiEngine]:
    running = ApiEngine((Kubelet,))
    running.config = replace(running.config, images=(("talker", TALKER),))
    running.ctx = build_context(running.config, store=running.store, rng=random.Random(7))
    Kubelet.log_rotation, saved = ROTATION, Kubelet.log_rotation
    try:
        with running:
            yield running
    finally:
        Kubelet.log_rotation = saved


def create(engine: ApiEngine, name: str, words: str, lines: int = 0) -> str:
    pod = {"metadata": {"name": name}, "spec": {"terminationGracePeriodSeconds": 1,
           "containers": [{"name": "c", "image": "talker", "env": [
               {"name": "WORDS", "value": words}, {"name": "LINES", "value": str(lines)}]}]}}
    code, _, body = engine.request("POST", "/api/v1/namespaces/default/pods", pod)
    assert code == 201, body
    return json.loads(body)["metadata"]["uid"]


def log(engine: ApiEngine, name: str, query: str = "") -> tuple[int, bytes]:
    code, _, body = engine.request("GET", f"/api/v1/namespaces/default/pods/{name}/log{query}")
    return code, body


def delete(engine: ApiEngine, name: str) -> None:
    engine.request("DELETE", f"/api/v1/namespaces/default/pods/{name}")
    wait_until(lambda: engine.request("GET", f"/api/v1/namespaces/default/pods/{name}")[0]
               == 404, timeout_s=30, what=f"pod {name} gone")


def test_a_new_pod_with_a_deleted_pod_s_name_never_shows_its_output(engine: ApiEngine) -> None:
    old_uid = create(engine, "reused", "the secret is hunter2")
    wait_until(lambda: log(engine, "reused")[1] == b"the secret is hunter2\n",
               what="the first pod's output")
    delete(engine, "reused")
    assert not (engine.state_dir / "logs" / old_uid).exists()  # removed with the pod
    create(engine, "reused", "a new pod")
    wait_until(lambda: log(engine, "reused")[0] == 200, what="the second pod's log")
    wait_until(lambda: log(engine, "reused")[1] == b"a new pod\n", what="its own output")
    delete(engine, "reused")


def test_a_253_character_pod_name_runs_and_its_log_is_served(engine: ApiEngine) -> None:
    name = "n" * 253
    create(engine, name, "long name")
    wait_until(lambda: log(engine, name) == (200, b"long name\n"), timeout_s=30,
               what="the log of a pod with a 253-character name")
    _, _, body = engine.request("GET", f"/api/v1/namespaces/default/pods/{name}")
    status = json.loads(body)["status"]
    assert status["phase"] == "Running", status
    delete(engine, name)


def test_logs_rotate_at_the_limit_and_keep_max_files(engine: ApiEngine) -> None:
    uid = create(engine, "chatty", "start", lines=6000)  # 600 kB: rotated several times
    path = podlogs.log_path(engine.state_dir, uid, "c")
    assert path is not None
    wait_until(lambda: podlogs.rotated(path, 2).exists(), timeout_s=30, what="two rotations")
    wait_until(lambda: log(engine, "chatty", "?tailLines=1")[1] == b"%099d\n" % 5999,
               timeout_s=30, what="the last line")
    wait_until(lambda: path.stat().st_size <= ROTATION.max_bytes, what="the last rotation")
    assert not podlogs.rotated(path, 3).exists()  # max_files=3: the current file and two
    for n in (1, 2):
        assert ROTATION.max_bytes < podlogs.rotated(path, n).stat().st_size < 4 * 1024 * 1024
    code, body = log(engine, "chatty")
    assert code == 200 and len(body) == path.stat().st_size  # only the current file
    # The tail is the current file's: a rotation after the last write may have moved the last
    # lines to CONTAINER.log.1 (kubectl logs, too, reads only the current file), but never lost.
    current = path.read_bytes()
    last = b"%099d\n" % 5999
    assert last in current + podlogs.rotated(path, 1).read_bytes()
    code, body = log(engine, "chatty", "?tailLines=2&limitBytes=150")
    assert body == b"".join(current.splitlines(keepends=True)[-2:])[:150]
    delete(engine, "chatty")
    assert not path.parent.exists()


# ---- the pure parts ----------------------------------------------------------------------------

@given(st.lists(st.sampled_from([b"a", b"bc", b"\n", b"x" * 70_000]), max_size=12),
       st.integers(min_value=0, max_value=8))
def test_tail_offset_finds_the_same_lines_as_splitting_the_whole_file(
        parts: list[bytes], lines: int) -> None:
    data = b"".join(parts)
    whole = b"".join(data.splitlines(keepends=True)[-lines:]) if lines > 0 else b""
    start = podlogs.tail_offset(io.BytesIO(data), len(data), lines)
    assert data[start:] == whole


def test_rotate_shifts_and_drops_the_oldest(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    rotation = podlogs.Rotation(max_bytes=1, max_files=3)
    for text in ("one", "two", "three"):
        path.write_text(text)
        podlogs.rotate(path, rotation)
    assert path.read_text() == ""
    assert [podlogs.rotated(path, n).read_text() for n in (1, 2)] == ["three", "two"]
    assert not podlogs.rotated(path, 3).exists()


def test_log_paths_stay_inside_the_logs_folder(tmp_path: Path) -> None:
    for uid in ("", ".", "..", "a/b", "x\0"):
        assert podlogs.log_path(tmp_path, uid, "c") is None
    assert podlogs.log_path(tmp_path, "u", "../c") is None
    assert podlogs.log_path(tmp_path, "u", "c") == tmp_path / "logs" / "u" / "c.log"
