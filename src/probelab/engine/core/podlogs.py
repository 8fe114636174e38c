"""Where container output is kept: written by the kubelet, served by the API server (pods/log).

Logs are kept per pod UID, as the kubelet keeps them under `/var/log/pods/<ns>_<name>_<uid>/`:
a new pod that reuses a deleted pod's name never shows the old pod's output, and a name of the
full 253 characters fits (a file name may not exceed 255 bytes; `<uid>/<container>.log` never
does, since a container name is a DNS label of at most 63). The kubelet removes a pod's folder
when the pod object is deleted.

Rotation follows the kubelet's container log manager (`pkg/kubelet/logs/container_log_manager.go`:
`--container-log-max-size` 10Mi, `--container-log-max-files` 5, checked every 10 s): the current
file plus up to four rotated ones (`c.log.1` newest). A container writes straight to its file
(no process sits between it and the disk), so the file is rotated by copy and truncate: the
container's append-mode descriptor goes on writing at the new end. Bytes written between the
copy and the truncation are lost; the kubelet's rename-and-reopen has no such window, but needs
the runtime's help. `pods/log` reads only the current file, as `kubectl logs` does.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MI = 1024 * 1024
READ_BLOCK = 64 * 1024


@dataclass(frozen=True)
class Rotation:
    max_bytes: int = 10 * MI  # kubelet --container-log-max-size
    max_files: int = 5  # kubelet --container-log-max-files (the current file included)
    check_s: float = 10.0  # kubelet --container-log-monitor-interval


def logs_dir(state_dir: Path) -> Path:
    return state_dir / "logs"


def pod_dir(state_dir: Path, uid: str) -> Path | None:
    """A pod's log folder, or None for a uid that is not a plain name (it comes from the store,
    which makes uuid4s; anything else must not reach outside the logs folder)."""
    if not uid or uid in (".", "..") or "/" in uid or "\0" in uid:
        return None
    return logs_dir(state_dir) / uid


def log_path(state_dir: Path, uid: str, container: str) -> Path | None:
    """The file holding a container's stdout and stderr (current run and earlier restarts)."""
    folder = pod_dir(state_dir, uid)
    if folder is None or not container or "/" in container or container in (".", ".."):
        return None
    return folder / f"{container}.log"


def rotated(path: Path, n: int) -> Path:
    return path.with_name(f"{path.name}.{n}")


def remove_pod_logs(state_dir: Path, uid: str) -> None:
    """Delete a pod's logs (the pod object is gone)."""
    folder = pod_dir(state_dir, uid)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def needs_rotation(size: int, rotation: Rotation) -> bool:
    return size > rotation.max_bytes


def rotate(path: Path, rotation: Rotation) -> None:
    """Shift `c.log.1..` up by one (dropping the oldest), copy `c.log` to `c.log.1`, truncate."""
    if rotation.max_files <= 1:
        os.truncate(path, 0)
        return
    rotated(path, rotation.max_files - 1).unlink(missing_ok=True)
    for n in range(rotation.max_files - 2, 0, -1):
        if rotated(path, n).exists():
            rotated(path, n).rename(rotated(path, n + 1))
    with path.open("rb") as src, rotated(path, 1).open("wb") as dst:
        shutil.copyfileobj(src, dst, READ_BLOCK * 16)
    os.truncate(path, 0)


def rotate_all(state_dir: Path, rotation: Rotation) -> int:
    """One pass of the log manager over every container log; how many files it rotated."""
    count = 0
    for path in logs_dir(state_dir).glob("*/*.log"):
        try:
            if needs_rotation(path.stat().st_size, rotation):
                rotate(path, rotation)
                count += 1
        except OSError:  # removed with its pod meanwhile
            continue
    return count


# ---- reading (the API server) ------------------------------------------------------------------

def tail_offset(f: BinaryIO, size: int, lines: int) -> int:
    """Where the last `lines` lines of an open binary file of `size` bytes begin, found by
    reading blocks backwards from the end (a final line without a newline counts as a line),
    so the cost is that of the lines asked for, not of the file."""
    if lines <= 0:
        return size
    end = size
    wanted = lines
    first = True
    while end > 0:
        start = max(0, end - READ_BLOCK)
        f.seek(start)
        block = f.read(end - start)
        stop = len(block)
        if first:
            first = False
            if block.endswith(b"\n"):
                stop -= 1  # the newline that ends the last line does not start one
        while True:
            at = block.rfind(b"\n", 0, stop)
            if at < 0:
                break
            wanted -= 1
            if wanted == 0:
                return start + at + 1
            stop = at
        end = start
    return 0


def read_range(path: Path, tail_lines: int | None, limit_bytes: int | None
               ) -> tuple[int, int]:
    """(start offset, end offset) of what `pods/log` returns for these options."""
    size = path.stat().st_size
    start = 0
    if tail_lines is not None:
        with path.open("rb") as f:
            start = tail_offset(f, size, tail_lines)
    end = size if limit_bytes is None else min(size, start + limit_bytes)
    return start, end
