"""Which engine number (`ranges.EngineNet`) this engine uses: a claim in a folder all engines of
the machine share (`/run/probelab/net`, root's, like /run/netns), so two engines never take the
same bridge, table or addresses.

A claim is a folder `<N>/` made with mkdir (atomic: one engine wins) holding `owner.json`: the
pid and kernel start time of the engine. A claim whose owner is gone (a crashed engine whose
watchdog was killed too) is taken over after its leftovers are removed (`iproute.teardown`), under
a lock file so two engines never clean up the same claim at once. The engine's watchdog removes
the leftovers and the claim of its engine after a `kill -9` (`release_owned`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from probelab.engine.core.procfs import read_stat
from probelab.engine.network import iproute
from probelab.engine.network.ranges import MAX_ENGINES, EngineNet

CLAIMS_DIR = Path("/run/probelab/net")


@dataclass(frozen=True)
class Claim:
    net: EngineNet
    path: Path  # the claim folder


def _owner(pid: int) -> dict[str, int]:
    stat = read_stat(pid)
    return {"pid": pid, "start_ticks": stat.start_ticks if stat else 0}


def _alive(owner: dict[str, int]) -> bool:
    stat = read_stat(int(owner.get("pid", 0)))
    return stat is not None and stat.state != "Z" and stat.start_ticks == owner.get("start_ticks")


def _read_owner(path: Path) -> dict[str, int] | None:
    try:
        data = json.loads((path / "owner.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@contextlib.contextmanager
def _locked(claims_dir: Path) -> Iterator[None]:
    claims_dir.mkdir(parents=True, exist_ok=True, mode=0o755)
    with open(claims_dir / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _cursor(claims_dir: Path) -> int:
    """Where the search for a free number starts: after the last one taken. Numbers, and so
    addresses, are not reused at once: the kernel's conntrack entries of a stopped engine's
    connections (TIME_WAIT: up to 2 minutes) would otherwise match a new engine's connections
    from the same address and port and send them where the old rules did."""
    try:
        return int((claims_dir / "next").read_text()) % MAX_ENGINES
    except (OSError, ValueError):
        return 0


def _sweep_dead(claims_dir: Path) -> None:
    """Remove the leftovers of every engine that died with its watchdog (a `kill -9` of the
    whole process group): their numbers stay unused until the cursor comes round, but their
    namespaces, bridge and table go now. Called under the lock."""
    for path in sorted(claims_dir.iterdir()):
        if not path.name.isdigit() or int(path.name) >= MAX_ENGINES:
            continue
        owner = _read_owner(path)
        if owner is not None and not _alive(owner):
            iproute.teardown(EngineNet(int(path.name)))
            shutil.rmtree(path, ignore_errors=True)


def take(pid: int | None = None, claims_dir: Path = CLAIMS_DIR) -> Claim:
    """Claim the next free engine number for `pid` (this process); raises RuntimeError when
    all are taken. A claim made this instant by another engine (no owner file yet) is skipped."""
    pid = pid or os.getpid()
    with _locked(claims_dir):
        _sweep_dead(claims_dir)
        cursor = _cursor(claims_dir)
        for offset in range(MAX_ENGINES):
            index = (cursor + offset) % MAX_ENGINES
            path = claims_dir / str(index)
            if path.exists():
                owner = _read_owner(path)
                if owner is None or _alive(owner):
                    continue
                iproute.teardown(EngineNet(index))  # a dead engine's leftovers
                shutil.rmtree(path, ignore_errors=True)
            try:
                path.mkdir(mode=0o755)
            except FileExistsError:
                continue
            (path / "owner.json").write_text(json.dumps(_owner(pid)))
            (claims_dir / "next").write_text(str((index + 1) % MAX_ENGINES))
            return Claim(EngineNet(index), path)
    raise RuntimeError(f"all {MAX_ENGINES} engine networks of this machine are in use")


def release(claim: Claim) -> list[str]:
    """Remove everything of the claim's engine, then the claim; returns what failed."""
    problems = iproute.teardown(claim.net)
    shutil.rmtree(claim.path, ignore_errors=True)
    return problems


def owned_by(pid: int, start_ticks: int | None = None,
             claims_dir: Path = CLAIMS_DIR) -> list[Claim]:
    """The claims of engine `pid` (started at `start_ticks`, when given)."""
    if not claims_dir.is_dir():
        return []
    found = []
    for path in sorted(claims_dir.iterdir()):
        if not path.name.isdigit() or int(path.name) >= MAX_ENGINES:
            continue
        owner = _read_owner(path)
        if owner is None or owner.get("pid") != pid:
            continue
        if start_ticks is not None and owner.get("start_ticks") != start_ticks:
            continue
        found.append(Claim(EngineNet(int(path.name)), path))
    return found


def release_owned(pid: int, start_ticks: int | None = None,
                  claims_dir: Path = CLAIMS_DIR) -> list[str]:
    """What the watchdog does after its engine died: release every claim it held."""
    problems: list[str] = []
    with _locked(claims_dir) if claims_dir.is_dir() else contextlib.nullcontext():
        for claim in owned_by(pid, start_ticks, claims_dir):
            problems += release(claim)
    return problems
