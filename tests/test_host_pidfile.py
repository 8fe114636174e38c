"""The engine's record (engine/host/pidfile.py): which engine runs for which kubeconfig.

`cluster down` and a second `cluster up` act on a pid read from a file; these tables pin when
that pid is still the engine (not gone, not reused by another program), so neither ever
signals a stranger.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from probelab.engine.host import pidfile
from probelab.engine.host.pidfile import EngineRecord, Liveness, ProcInfo


@pytest.mark.parametrize(("argv", "expected"), [
    (["/venv/bin/python", "-m", "probelab", "cluster", "up", "--port", "0"], True),
    (["/venv/bin/python", "/venv/bin/probelab", "cluster", "up"], True),
    (["probelab", "cluster", "up"], True),
    (["/venv/bin/python", "-m", "probelab", "cluster", "down"], False),
    (["/venv/bin/python", "-m", "probelab", "web"], False),
    (["sleep", "60"], False),
    ([], False),
])
def test_is_engine_cmdline(argv, expected) -> None:
    assert pidfile.is_engine_cmdline(argv) is expected


RECORD = EngineRecord(pid=10, start_ticks=500, api_url="u", kubeconfig="k", context="probelab",
                      previous_context=None, started_at=0.0)
ENGINE_ARGV = ("python", "-m", "probelab", "cluster", "up")


@pytest.mark.parametrize(("proc", "expected"), [
    (None, Liveness.GONE),
    (ProcInfo(zombie=True, start_ticks=500, cmdline=()), Liveness.GONE),
    (ProcInfo(zombie=False, start_ticks=500, cmdline=ENGINE_ARGV), Liveness.RUNNING),
    (ProcInfo(zombie=False, start_ticks=None, cmdline=ENGINE_ARGV), Liveness.RUNNING),
    (ProcInfo(zombie=False, start_ticks=501, cmdline=ENGINE_ARGV), Liveness.REUSED),
    (ProcInfo(zombie=False, start_ticks=500, cmdline=("sleep", "60")), Liveness.REUSED),
])
def test_liveness(proc, expected) -> None:
    assert pidfile.liveness(RECORD, proc) is expected


def test_read_proc_sees_our_own_process() -> None:
    info = pidfile.read_proc(os.getpid())
    assert info is not None and not info.zombie and info.start_ticks
    assert pidfile.own_start_ticks() == info.start_ticks


@pytest.mark.parametrize(("env", "expected"), [
    ({"PROBELAB_STATE_DIR": "/s", "XDG_RUNTIME_DIR": "/run/u"}, Path("/s")),
    ({"XDG_RUNTIME_DIR": "/run/u"}, Path("/run/u/probelab")),
    ({}, Path("/h/.cache/probelab")),
])
def test_state_dir(env, expected) -> None:
    assert pidfile.state_dir(env, Path("/h")) == expected


def test_records_are_per_kubeconfig_and_round_trip(tmp_path) -> None:
    a = pidfile.record_path(tmp_path, Path("/x/a"))
    assert a == pidfile.record_path(tmp_path, Path("/x/a"))
    assert a != pidfile.record_path(tmp_path, Path("/x/b"))
    pidfile.write(a, RECORD)
    assert pidfile.read(a) == RECORD
    assert pidfile.all_records(tmp_path) == [(a, RECORD)]
    a.write_text("{torn")
    assert pidfile.read(a) is None
