"""Where container output is kept, and in which format: written by the kubelet, served by the
API server (pods/log).

Logs are kept per pod UID, as the kubelet keeps them under `/var/log/pods/<ns>_<name>_<uid>/`:
a new pod that reuses a deleted pod's name never shows the old pod's output, and a name of the
full 253 characters fits (a file name may not exceed 255 bytes; `<uid>/<container>/<n>.log`
never does, since a container name is a DNS label of at most 63). As there, each run of a
container has its own file, `<container>/<restartCount>.log`, and the kubelet keeps the
current run's and the previous one's (its container GC keeps one dead container per container
by default); `kubectl logs --previous` reads the previous one. The kubelet removes a pod's folder
when the pod object is deleted.

The lines are in the CRI log format the container runtime writes
(`staging/src/k8s.io/cri-api/.../runtime/v1` LogTag, containerd's `internal/cri/io/logger.go`):
`<RFC3339Nano time> <stdout|stderr> <F|P> <content>`, one record per line of output, `P` for the
pieces of a line longer than 16 KiB and for output that ended without a newline. The time is when
the kubelet read the bytes from the container's pipe. Serving parses the records back
(`pkg/kubelet/kuberuntime/logs/logs.go` ReadLogs): `--timestamps` prefixes each line with its
time, `--since`/`--since-time` drop older lines, `--limit-bytes` counts the bytes served. A line
that is not a record (a file written by hand) is served as it is, as stdout without a time.

Rotation follows the kubelet's container log manager (`pkg/kubelet/logs/container_log_manager.go`:
`--container-log-max-size` 10Mi, `--container-log-max-files` 5, checked every 10 s): the current
file plus up to four rotated ones (`<n>.log.1` newest). The kubelet's writer holds the file open
in append mode, so the file is rotated by copy and truncate: it goes on writing at the new end.
Records written between the copy and the truncation are lost; the kubelet's rename-and-reopen has
no such window. `pods/log` reads only the current file, as `kubectl logs` does.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
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


def container_dir(state_dir: Path, uid: str, container: str) -> Path | None:
    """The folder of one container's run logs (None for a name that would leave the pod's)."""
    folder = pod_dir(state_dir, uid)
    if folder is None or not container or "/" in container or container in (".", ".."):
        return None
    return folder / container


def log_path(state_dir: Path, uid: str, container: str, restart_count: int = 0) -> Path | None:
    """The file holding the stdout and stderr of one run of a container (its restartCount)."""
    folder = container_dir(state_dir, uid, container)
    return None if folder is None else folder / f"{max(0, int(restart_count))}.log"


def start_run_log(state_dir: Path, uid: str, container: str, restart_count: int) -> Path | None:
    """The file for a new run: the runs before the previous one are removed with their rotated
    files (the kubelet keeps one dead container, and its log, per container)."""
    path = log_path(state_dir, uid, container, restart_count)
    if path is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in path.parent.glob("*.log*"):
        run = old.name.split(".", 1)[0]
        if run.isdigit() and int(run) < restart_count - 1:
            old.unlink(missing_ok=True)
    return path


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
    for path in logs_dir(state_dir).glob("*/*/*.log"):
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


def read_range(path: Path, tail_lines: int | None) -> tuple[int, int]:
    """(start offset, end offset) of the file lines `pods/log` looks at: the last `tail_lines`
    lines (kubelet: `tail.FindTailLineStartIndex`, on the file's lines), or all of them."""
    size = path.stat().st_size
    start = 0
    if tail_lines is not None:
        with path.open("rb") as f:
            start = tail_offset(f, size, tail_lines)
    return start, size


# ---- the CRI log format --------------------------------------------------------------------

MAX_LINE = 16 * 1024  # containerd's max_container_log_line_size: longer lines are split (P)
STDOUT, STDERR = "stdout", "stderr"
FULL, PARTIAL = b"F", b"P"
_TIME = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)\Z")
_STREAMS = (STDOUT.encode(), STDERR.encode())
_TAGS = {FULL: True, PARTIAL: False}


def rfc3339_nano(ns: int) -> str:
    """Go's time.RFC3339Nano in UTC: nanoseconds with trailing zeros dropped (and no fraction
    at all when it is zero), `Z` for UTC."""
    seconds, frac = divmod(ns, 1_000_000_000)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{frac:09d}".rstrip("0")
    return f"{text}.{digits}Z" if digits else f"{text}Z"


def parse_rfc3339_nano(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time with up to nine fraction digits;
    ValueError when it is not one."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)",
                         text.strip())
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    base, frac, zone = match.groups()
    when = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone))
    return int(when.timestamp()) * 1_000_000_000 + int((frac or "").ljust(9, "0"))


def frame(stream: str, data: bytes, now_ns: int, final: bool = False) -> tuple[bytes, bytes]:
    """(records to append, bytes held back): the complete lines of `data` as CRI records, lines
    longer than MAX_LINE cut into partial records; what follows the last newline is held back
    for the next read, or written as a partial record when the stream ended (`final`)."""
    stamp = f"{rfc3339_nano(now_ns)} {stream} ".encode()
    out: list[bytes] = []
    lines = data.split(b"\n")
    rest = lines.pop()  # after the last newline: an unfinished line
    for line in lines:
        while len(line) > MAX_LINE:
            out.append(stamp + PARTIAL + b" " + line[:MAX_LINE] + b"\n")
            line = line[MAX_LINE:]
        out.append(stamp + FULL + b" " + line + b"\n")
    while len(rest) > MAX_LINE or (final and rest):
        piece, rest = rest[:MAX_LINE], rest[MAX_LINE:]
        out.append(stamp + PARTIAL + b" " + piece + b"\n")
    return b"".join(out), rest


@dataclass(frozen=True)
class Record:
    """One line of a log file: its time (None for a line that is not a CRI record), stream,
    whether it ends a line of output, and the content (without the newline)."""

    time: str | None
    stream: str
    full: bool
    content: bytes

    def time_ns(self) -> int | None:
        if self.time is None:
            return None
        try:
            return parse_rfc3339_nano(self.time)
        except ValueError:
            return None


def _split(line: bytes) -> tuple[bytes | None, bytes, bool, bytes]:
    """(time, stream, full, content) of one file line; a line that is not a record is stdout
    content without a time. Split, not a regex over the line: serving a 10 MiB log parses
    about 170 000 of them."""
    parts = line.split(b" ", 3)
    if (len(parts) == 4 and parts[2] in _TAGS and parts[1] in _STREAMS
            and _TIME.match(parts[0])):
        return parts[0], parts[1], _TAGS[parts[2]], parts[3]
    return None, _STREAMS[0], True, line


@functools.lru_cache(maxsize=4096)
def _second_ns(text: bytes) -> int:
    return parse_rfc3339_nano(text.decode())


def _time_ns(stamp: bytes) -> int:
    """parse_rfc3339_nano for a record's time, with the whole seconds cached (a log's lines
    share few of them)."""
    if not stamp.endswith(b"Z"):
        return parse_rfc3339_nano(stamp.decode())
    fraction = stamp[20:-1] if stamp[19:20] == b"." else b""
    return _second_ns(stamp[:19] + b"Z") + int(fraction.ljust(9, b"0") or b"0")


def parse_record(line: bytes) -> Record:
    """A file line (without its newline) as a Record."""
    stamp, stream, full, content = _split(line)
    return Record(None if stamp is None else stamp.decode(), stream.decode(), full, content)


def render(record: Record, timestamps: bool) -> bytes:
    """What `pods/log` sends for one record (`logs.go` writer.write): the time and a space
    first with `timestamps`, a newline after a full line."""
    prefix = f"{record.time} ".encode() if timestamps and record.time else b""
    return prefix + record.content + (b"\n" if record.full else b"")


def read_lines(f: BinaryIO, start: int, end: int, final: bool = False
               ) -> Iterator[tuple[list[bytes], int]]:
    """The complete lines in [start, end) of an open log file, a block at a time, each batch
    with the offset after its last line; an unfinished last line is left for a later read,
    unless `final`."""
    f.seek(start)
    offset, pending = start, b""
    while offset < end:
        block = f.read(min(READ_BLOCK, end - offset))
        if not block:
            break
        offset += len(block)
        lines = (pending + block).split(b"\n")
        pending = lines.pop()
        if lines:
            yield lines, offset - len(pending)
    if final and pending:
        yield [pending], offset


@dataclass(frozen=True)
class LogOptions:
    """What `pods/log` does to the records it reads (`PodLogOptions`)."""

    timestamps: bool = False
    since_ns: int | None = None  # sinceTime, or now - sinceSeconds
    limit_bytes: int | None = None


def render_lines(lines: list[bytes], options: LogOptions) -> bytes:
    """What `pods/log` sends for these file lines (before `limit_bytes`): each record's
    content, with its time in front when `timestamps`, a newline after a full line; records
    older than `since_ns` are dropped (a line without a time never is)."""
    out: list[bytes] = []
    since = options.since_ns
    for line in lines:
        stamp, _stream, full, content = _split(line)
        if stamp is not None:
            if since is not None and _time_ns(stamp) < since:
                continue
            if options.timestamps:
                out.append(stamp + b" ")
        out.append(content + b"\n" if full else content)
    return b"".join(out)
