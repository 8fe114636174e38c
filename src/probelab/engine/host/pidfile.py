"""Records of running engines: `cluster down` finds one by it, `cluster up` spots a stale one.

One JSON file per kubeconfig (a kubeconfig holds a single `probelab` context, so it can serve
one engine at a time) in a private state folder: the engine's pid, the kernel's start time of
that pid, its API URL and the context that was current before. A record is trusted only while
that pid is alive, started at the recorded time and runs `probelab cluster up`: after `kill -9`
the file stays behind, and a pid reused by another program must not be mistaken for the engine
(nor signalled). `liveness()` is the pure rule; `read_proc()` is the only look at /proc.
Used by `probelab.commands.cluster`.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from probelab.errors import UsageError

FILE_MODE = 0o600
PREFIX = "engine-"


class Liveness(enum.Enum):
    RUNNING = "running"  # the recorded engine is alive
    GONE = "gone"  # no such process (killed, crashed, machine rebooted)
    REUSED = "reused"  # the pid now belongs to another program


@dataclass(frozen=True)
class EngineRecord:
    pid: int
    start_ticks: int | None  # /proc/PID/stat field 22: tells a reused pid apart
    api_url: str
    kubeconfig: str
    context: str
    previous_context: str | None  # current-context before the engine switched it
    started_at: float  # wall clock, for messages


@dataclass(frozen=True)
class ProcInfo:
    zombie: bool
    start_ticks: int | None
    cmdline: tuple[str, ...]


def state_dir(env: Mapping[str, str], home: Path) -> Path:
    """`$PROBELAB_STATE_DIR`, else `$XDG_RUNTIME_DIR/probelab`, else `~/.cache/probelab`."""
    if env.get("PROBELAB_STATE_DIR"):
        return Path(env["PROBELAB_STATE_DIR"]).expanduser()
    if env.get("XDG_RUNTIME_DIR"):
        return Path(env["XDG_RUNTIME_DIR"]) / "probelab"
    return home / ".cache" / "probelab"


def record_path(folder: Path, kubeconfig: Path) -> Path:
    key = hashlib.sha256(str(kubeconfig.absolute()).encode()).hexdigest()[:16]
    return folder / f"{PREFIX}{key}.json"


def is_engine_cmdline(argv: Sequence[str]) -> bool:
    """True for `probelab cluster up ...` however it was launched (script, `python -m`)."""
    args = list(argv)
    for i, arg in enumerate(args):
        if os.path.basename(arg) == "probelab":  # `.../bin/probelab` or `-m probelab`
            return args[i + 1:i + 3] == ["cluster", "up"]
    return False


def liveness(record: EngineRecord, proc: ProcInfo | None) -> Liveness:
    """Whether the recorded engine still runs, from what /proc says about its pid."""
    if proc is None or proc.zombie:
        return Liveness.GONE
    if record.start_ticks is not None and proc.start_ticks not in (None, record.start_ticks):
        return Liveness.REUSED
    if not is_engine_cmdline(proc.cmdline):
        return Liveness.REUSED
    return Liveness.RUNNING


def read_proc(pid: int) -> ProcInfo | None:
    """What /proc knows about `pid`, or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except PermissionError:
        return ProcInfo(zombie=False, start_ticks=None, cmdline=())
    fields = stat.rpartition(")")[2].split()  # the command name may hold spaces and parens
    ticks = int(fields[19]) if len(fields) > 19 else None
    argv = tuple(a.decode(errors="replace") for a in raw.split(b"\0") if a)
    return ProcInfo(zombie=bool(fields) and fields[0] == "Z", start_ticks=ticks, cmdline=argv)


def check(record: EngineRecord) -> Liveness:
    return liveness(record, read_proc(record.pid))


def own_start_ticks() -> int | None:
    info = read_proc(os.getpid())
    return info.start_ticks if info else None


def write(path: Path, record: EngineRecord) -> None:
    """Atomically, mode 0600, in a folder only the user can enter."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".engine.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise UsageError(f"cannot write state in {path.parent}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), FILE_MODE)
            json.dump(asdict(record), f, indent=1)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read(path: Path) -> EngineRecord | None:
    """The record in `path`; None when missing or unreadable (a torn or foreign file)."""
    try:
        data = json.loads(path.read_text())
        return EngineRecord(**data)
    except (OSError, ValueError, TypeError):
        return None


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def all_records(folder: Path) -> list[tuple[Path, EngineRecord | None]]:
    """Every record file in `folder` (None for unreadable ones), oldest first."""
    def mtime(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except OSError:
            return 0.0

    try:
        paths = sorted(folder.glob(f"{PREFIX}*.json"), key=mtime)
    except OSError:
        return []
    return [(p, read(p)) for p in paths]
