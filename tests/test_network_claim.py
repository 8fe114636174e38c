"""Engine network claims: an engine that died with its watchdog (a kill -9 of its whole process
group) leaves a claim whose owner is gone; the next engine to start removes its leftovers at
once, whatever number it takes itself."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from probelab.engine.network import claim, iproute
from probelab.engine.network.ranges import EngineNet


def dead_owner() -> dict[str, int]:
    """A pid that is not running now (and a start time that cannot match)."""
    pid = 4_000_000
    while os.path.exists(f"/proc/{pid}"):
        pid -= 1
    return {"pid": pid, "start_ticks": 1}


def test_take_sweeps_every_dead_claim_and_keeps_live_ones(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    torn_down: list[int] = []
    monkeypatch.setattr(iproute, "teardown",
                        lambda net: torn_down.append(net.index) or [])  # no real interfaces
    for index, owner in ((5, dead_owner()), (9, claim._owner(os.getpid())), (40, dead_owner())):
        (tmp_path / str(index)).mkdir()
        (tmp_path / str(index) / "owner.json").write_text(json.dumps(owner))
    (tmp_path / "next").write_text("20")

    taken = claim.take(claims_dir=tmp_path)

    assert taken.net == EngineNet(20)  # numbers are not reused at once: the cursor's
    assert sorted(torn_down) == [5, 40]  # both dead ones, not only one the cursor reached
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.isdigit()) == ["20", "9"]
