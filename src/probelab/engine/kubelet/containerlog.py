"""A container's output on its way to the disk: what the container runtime's log driver does
(containerd's `internal/cri/io/logger.go`). The container writes stdout and stderr into two
pipes; one task per pipe reads them and appends CRI log records
(`core.podlogs.frame`: time, stream, full/partial tag, line) to the run's log file, so that
`kubectl logs --timestamps` and `--since` have a time for every line.

The pipes are plain `os.pipe()`s, not asyncio subprocess pipes, so waiting for the container's
main process never waits for a descendant that still holds the pipe open; the pumps end at the
pipe's end of file, once every process holding it is gone (the runtime kills what is left of
the container when its main process exits).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

from probelab.engine.core import podlogs

READ_BYTES = 64 * 1024


class OutputPipes:
    """The write ends to hand to the container (`stdout`, `stderr`) and the tasks that copy
    what arrives at the read ends into `path`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._reads: list[int] = []
        self.stdout, self.stderr = self._pipe(), self._pipe()
        self.tasks: list[asyncio.Task[None]] = []

    def _pipe(self) -> int:
        read, write = os.pipe()
        self._reads.append(read)
        return write

    def close_write_ends(self) -> None:
        """After the container started (it holds its own copies): only the container's
        processes keep the pipes open, so the pumps see end of file when they are gone."""
        for fd in (self.stdout, self.stderr):
            with contextlib.suppress(OSError):
                os.close(fd)

    def start(self, name: str) -> None:
        loop = asyncio.get_running_loop()
        for fd, stream in zip(self._reads, (podlogs.STDOUT, podlogs.STDERR), strict=True):
            self.tasks.append(loop.create_task(pump(fd, stream, self.path),
                                               name=f"log-{name}-{stream}"))
        self._reads = []

    def abandon(self) -> None:
        """The container did not start: close every end."""
        self.close_write_ends()
        for fd in self._reads:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._reads = []

    async def drain(self, timeout_s: float) -> None:
        """Wait (bounded) until both pipes are read to their end, then stop the pumps."""
        if not self.tasks:
            return
        _done, pending = await asyncio.wait(self.tasks, timeout=timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)


async def pump(read_fd: int, stream: str, path: Path) -> None:
    """Copy one pipe into the log file as CRI records until end of file (or cancellation)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=READ_BYTES)
    pipe = os.fdopen(read_fd, "rb", buffering=0)
    try:
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), pipe)
    except BaseException:
        pipe.close()
        raise
    try:
        out = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError:  # the pod's folder is gone already: read on, so the container never
        out = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)  # blocks on a full pipe
    held = b""
    try:
        while True:
            chunk = await reader.read(READ_BYTES)
            records, held = podlogs.frame(stream, held + chunk, time.time_ns(), final=not chunk)
            with contextlib.suppress(OSError):  # a full disk loses lines, not the container
                _write_all(out, records)
            if not chunk:
                return
    finally:
        with contextlib.suppress(OSError):
            _write_all(out, podlogs.frame(stream, held, time.time_ns(), final=True)[0])
        os.close(out)
        transport.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
