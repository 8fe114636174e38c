"""One `kubectl exec` (or attach) as the kubelet runs it: a process started inside a container,
or a follower of a container's output.

`ExecSession` is what the runtime's Exec gives the streaming server
(`pkg/kubelet/cri/streaming/remotecommand/exec.go`): the command's stdin, stdout and stderr
(or, with a tty, one pseudo-terminal whose output is stdout, as a container runtime allocates
it), resizes, and the exit code. The process runs with the container's environment and
working directory, in the container's cgroup and namespaces (`namespaces`), in its own session
with the parent-death signal; it dies when the container does (`ContainerRunner` kills its
sessions), when the engine stops or is killed, and when the client goes away.

`AttachSession` follows a container's log file from its current end (the container writes
straight to it, see `core.podlogs`) until the container's process ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import pty
import signal
import struct
import termios
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from probelab.engine.core import podlogs
from probelab.engine.kubelet import runtime

log = logging.getLogger("probelab.engine.kubelet")

CHUNK = 32 * 1024
ATTACH_POLL_S = 0.05  # how often an attach looks for new output in the log file


class ExecSession:
    """A started exec; see the module docstring."""

    def __init__(self, proc: asyncio.subprocess.Process, master: int | None,
                 on_end: Callable[[ExecSession], None]) -> None:
        self.proc = proc
        self.pid = proc.pid
        self._master = master
        self._queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue(maxsize=16)
        self._on_end = on_end
        self._stdin_writer: asyncio.StreamWriter | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._exit: asyncio.Task[int] | None = None
        self._abandoned = False  # the client left: nobody reads the output any more

    @classmethod
    async def start(cls, argv: Sequence[str], env: Mapping[str, str], cwd: str | None,
                    cgroup: Path | None, stdin: bool, tty: bool,
                    on_end: Callable[[ExecSession], None]) -> ExecSession:
        """Start the process (raises OSError if it cannot start)."""
        loop = asyncio.get_running_loop()
        if tty:
            master, slave = pty.openpty()
            try:
                proc = await runtime.spawn_stdio(argv, env, stdin=slave, stdout=slave,
                                                 stderr=slave, cwd=cwd, cgroup=cgroup,
                                                 controlling_tty=True)
            except BaseException:
                os.close(master)
                raise
            finally:
                os.close(slave)
            session = cls(proc, master, on_end)
            session._readers.append(loop.create_task(session._pump_pty(master)))
            if stdin:
                writer_fd = os.dup(master)
                session._stdin_writer = await _pipe_writer(os.fdopen(writer_fd, "wb", 0))
        else:
            pipe = asyncio.subprocess.PIPE
            proc = await runtime.spawn_stdio(
                argv, env, stdin=pipe if stdin else asyncio.subprocess.DEVNULL, stdout=pipe,
                stderr=pipe, cwd=cwd, cgroup=cgroup)
            session = cls(proc, None, on_end)
            session._stdin_writer = proc.stdin
            assert proc.stdout is not None and proc.stderr is not None
            session._readers += [loop.create_task(session._pump(proc.stdout, 1)),
                                 loop.create_task(session._pump(proc.stderr, 2))]
        session._exit = loop.create_task(session._finish())
        return session

    async def _pump(self, stream: asyncio.StreamReader, channel: int) -> None:
        while chunk := await stream.read(CHUNK):
            await self._queue.put((channel, chunk))

    async def _pump_pty(self, master: int) -> None:
        """Read the pty until the last holder of its slave end exits (EIO)."""
        loop = asyncio.get_running_loop()
        os.set_blocking(master, False)
        readable = asyncio.Event()
        loop.add_reader(master, readable.set)
        try:
            while True:
                try:
                    chunk = os.read(master, CHUNK)
                except BlockingIOError:
                    readable.clear()
                    await readable.wait()
                    continue
                except OSError as exc:
                    if exc.errno == errno.EIO:
                        return
                    raise
                if not chunk:
                    return
                await self._queue.put((1, chunk))
        finally:
            loop.remove_reader(master)

    async def _finish(self) -> int:
        code = await runtime.exited(self.proc)
        runtime.forget(self.pid)
        # The output ends when every holder of the pipes has gone; a daemon the command left
        # behind holds them, so it goes with the session's group (as with a container's).
        runtime.signal_group(self.pid, signal.SIGKILL)
        await asyncio.gather(*self._readers, return_exceptions=True)
        if self._abandoned:
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(None)
        else:
            await self._queue.put(None)
        self._close_fds()
        self._on_end(self)
        return code

    def output(self) -> asyncio.Queue[tuple[int, bytes] | None]:
        return self._queue

    async def write_stdin(self, data: bytes) -> None:
        writer = self._stdin_writer
        if writer is None or writer.is_closing():
            return
        try:
            writer.write(data)
            await writer.drain()
        except (ConnectionError, OSError):
            self._stdin_writer = None

    def close_stdin(self) -> None:
        writer, self._stdin_writer = self._stdin_writer, None
        if writer is None:
            return
        if self._master is not None:
            # A terminal has no EOF of its own: the line discipline's EOF character (^D).
            with contextlib.suppress(OSError):
                writer.write(b"\x04")
        with contextlib.suppress(OSError):
            writer.close()

    def resize(self, width: int, height: int) -> None:
        if self._master is None:
            return
        with contextlib.suppress(OSError):
            fcntl.ioctl(self._master, termios.TIOCSWINSZ,
                        struct.pack("HHHH", height, width, 0, 0))

    async def wait(self) -> int | None:
        assert self._exit is not None
        return await asyncio.shield(self._exit)

    def kill(self) -> None:
        """End the session now: its process group is SIGKILLed and its output dropped."""
        self._abandoned = True
        for task in self._readers:
            task.cancel()
        while not self._queue.empty():  # nobody reads: let a pending end-of-output through
            self._queue.get_nowait()
        if self._exit is not None and not self._exit.done():  # else the pid may be reused
            runtime.signal_group(self.pid, signal.SIGKILL)

    def _close_fds(self) -> None:
        if self._stdin_writer is not None:
            with contextlib.suppress(OSError):
                self._stdin_writer.close()
            self._stdin_writer = None
        if self._master is not None:
            with contextlib.suppress(OSError):
                os.close(self._master)
            self._master = None


async def _pipe_writer(file: object) -> asyncio.StreamWriter:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.connect_write_pipe(
        lambda: asyncio.streams.FlowControlMixin(loop=loop), file)
    return asyncio.StreamWriter(transport, protocol, None, loop)


def _channel_bytes(record: podlogs.Record) -> tuple[int, bytes]:
    """One log record as attach sends it: stdout on channel 1, stderr on 2, the newline back
    on a full line (the file holds CRI records, see `core.podlogs`)."""
    return (2 if record.stream == "stderr" else 1,
            record.content + (b"\n" if record.full else b""))


class AttachSession:
    """Follows one container's output (its log file) from now on until `alive()` is False;
    with `stdin` (the container's stdin pipe, `stdin: true`), the client's input goes to the
    container, and with `stdin_once` the pipe is closed when this client detaches
    (`stdinOnce`, as the runtime closes it after the first attach)."""

    def __init__(self, log_file: Path, alive: Callable[[], bool],
                 stdin: asyncio.StreamWriter | None = None, stdin_once: bool = False) -> None:
        self._stdin = stdin
        self._stdin_once = stdin_once
        self._queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue(maxsize=16)
        self._stopped = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._follow(log_file, alive))

    async def _follow(self, path: Path, alive: Callable[[], bool]) -> None:
        await self._copy(path, alive)
        await self._queue.put(None)

    async def _copy(self, path: Path, alive: Callable[[], bool]) -> None:
        position = path.stat().st_size if path.exists() else 0
        partial = b""  # a CRI record not yet ended by its newline
        while not self._stopped.is_set():
            running = alive()
            chunk = b""
            with contextlib.suppress(OSError), open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size < position:  # rotated (copied and truncated): the new end
                    position = 0
                f.seek(position)
                chunk = f.read(CHUNK)
            if chunk:
                position += len(chunk)
                *lines, partial = (partial + chunk).split(b"\n")
                for line in lines:
                    await self._queue.put(_channel_bytes(podlogs.parse_record(line)))
                continue
            if not running:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(ATTACH_POLL_S):
                    await self._stopped.wait()

    def output(self) -> asyncio.Queue[tuple[int, bytes] | None]:
        return self._queue

    async def write_stdin(self, data: bytes) -> None:
        """To the container's stdin pipe; dropped when it has none (no `stdin: true`)."""
        if self._stdin is None or self._stdin.is_closing():
            return
        try:
            self._stdin.write(data)
            await self._stdin.drain()
        except (ConnectionError, OSError):
            self._stdin = None

    def close_stdin(self) -> None:
        """The client's stdin ended: the container's closes with it only for `stdinOnce`."""
        if self._stdin is not None and self._stdin_once:
            with contextlib.suppress(OSError):
                self._stdin.close()
        self._stdin = None

    def resize(self, width: int, height: int) -> None:
        pass

    async def wait(self) -> int | None:
        await asyncio.gather(self._task, return_exceptions=True)
        return None

    def kill(self) -> None:
        """The client detached (or the container ended): stop following."""
        self.close_stdin()
        self._stopped.set()
        self._task.cancel()
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)
