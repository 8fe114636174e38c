"""The kubelet's atomic writer (`pkg/volume/util/atomic_writer.go`): a volume's files change
all at once, never half-written.

Layout of a target directory:

    ..2026_12_02_18_30_00.123456   the payload, one directory per version
    ..data -> ..2026_12_02_18_30_00.123456
    config.yaml -> ..data/config.yaml      one symlink per top-level name of the payload

A new version is written into a new timestamped directory, then a `..data_tmp` symlink to it is
renamed over `..data` (rename(2) is atomic), then the old version is removed and the
user-visible symlinks are brought in line. A reader that opens `config.yaml` sees either the old
or the new file, whole. A payload equal to what is there writes nothing.

`plan_links` (which user-visible names to add and remove) is pure; `write` does the I/O.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from probelab.engine.kubelet.volumes.layout import File

DATA = "..data"
DATA_TMP = "..data_tmp"


def top_level(paths: Iterable[str]) -> set[str]:
    """The user-visible names of a payload: the first element of each path."""
    return {p.split("/", 1)[0] for p in paths}


def plan_links(old: set[str], new: set[str]) -> tuple[set[str], set[str]]:
    """(names to remove, names to add) among the user-visible symlinks."""
    return old - new, new - old


def read_current(target: Path) -> dict[str, File] | None:
    """The payload `..data` points to now (None when nothing was written yet)."""
    data = target / DATA
    if not data.is_symlink():
        return None
    root = target / os.readlink(data)
    out: dict[str, File] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            out[rel] = File(path.read_bytes(), path.stat().st_mode & 0o7777)
    return out


def _timestamped_dir(target: Path) -> Path:
    prefix = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime())
    return Path(tempfile.mkdtemp(prefix=prefix, dir=target))


def write(target: Path, payload: dict[str, File]) -> bool:
    """Make `target` hold `payload` (atomically); True if anything changed."""
    target.mkdir(parents=True, exist_ok=True)
    current = read_current(target)
    if current == payload:
        return False
    new_dir = _timestamped_dir(target)
    new_dir.chmod(0o755)
    for rel, file in payload.items():
        path = new_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(file.data)
        path.chmod(file.mode)
    tmp_link = target / DATA_TMP
    with contextlib.suppress(FileNotFoundError):
        tmp_link.unlink()
    old_dir = os.readlink(target / DATA) if (target / DATA).is_symlink() else None
    tmp_link.symlink_to(new_dir.name)
    os.replace(tmp_link, target / DATA)  # the switch: atomic
    if old_dir is not None and old_dir != new_dir.name:
        shutil.rmtree(target / old_dir, ignore_errors=True)
    old_names = top_level(current or {})
    remove, add = plan_links(old_names, top_level(payload))
    for name in remove:
        with contextlib.suppress(FileNotFoundError):
            (target / name).unlink()
    for name in add:
        link = target / name
        if not link.is_symlink():
            link.symlink_to(f"{DATA}/{name}")
    return True
