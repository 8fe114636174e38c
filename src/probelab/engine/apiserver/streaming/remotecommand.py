"""`pods/exec` and `pods/attach` over a WebSocket with the channel protocols (`channels`).

The flow is the kubelet's (`pkg/kubelet/cri/streaming/remotecommand/websocket.go` and
`httpstream.go`): the runtime is asked first, so a container that is not running is an HTTP
error before any upgrade (kubectl: "unable to upgrade connection: container not found");
after the upgrade an empty message on the lowest output channel says the stream is up; output
goes on channels 1 and 2 (a tty's on 1), stdin arrives on 0, resizes on 4 and, in v5, the
client's stdin EOF as [255, 0]; the end is one Status on channel 3 (Success, NonZeroExitCode
with the exit code, or an InternalError), then the server closes the WebSocket.
If the client goes away first, the command is killed (see docs/api.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from probelab.engine.apiserver.streaming import channels
from probelab.engine.apiserver.streaming.options import StreamOptions
from probelab.engine.core.streaming import Session

log = logging.getLogger("probelab.engine.apiserver.streaming")


async def serve(request: web.Request, ws: web.WebSocketResponse, session: Session,
                opts: StreamOptions) -> web.WebSocketResponse:
    """Run an upgraded exec/attach stream until the command ends or the client leaves."""
    v5 = ws.ws_protocol == channels.V5
    first = (channels.STDOUT if opts.stdout else channels.STDERR if opts.stderr
             else channels.ERROR)
    await ws.send_bytes(channels.frame(first))
    inbound = asyncio.get_running_loop().create_task(_inbound(ws, session, opts, v5))
    try:
        finished = await _outbound(ws, session, opts, inbound)
        if finished:
            code = await session.wait()
            if code is None or code == 0:
                status = channels.success_status()
            else:
                status = channels.exit_status(opts.command, _exit_code(code))
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_bytes(channels.status_frame(status))
    finally:
        inbound.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await inbound
        session.kill()  # a no-op once the command has ended
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.close()
    return ws


def _exit_code(code: int) -> int:
    """A death by signal N reads 128 + N, as a shell and the container runtime report it."""
    return 128 - code if code < 0 else code


async def _outbound(ws: web.WebSocketResponse, session: Session, opts: StreamOptions,
                    inbound: asyncio.Task[None]) -> bool:
    """Copy the output to the client; True when it ended, False when the client left."""
    queue = session.output()
    while True:
        getting = asyncio.ensure_future(queue.get())
        await asyncio.wait([getting, inbound], return_when=asyncio.FIRST_COMPLETED)
        if not getting.done():
            getting.cancel()
            return False  # the client closed the WebSocket
        item = getting.result()
        if item is None:
            return True
        channel, data = item
        if opts.tty:
            channel = channels.STDOUT
        if (channel == channels.STDOUT and not opts.stdout) or (
                channel == channels.STDERR and not opts.stderr):
            continue
        try:
            await ws.send_bytes(channels.frame(channel, data))
        except (ConnectionError, RuntimeError):
            return False


async def _inbound(ws: web.WebSocketResponse, session: Session, opts: StreamOptions,
                   v5: bool) -> None:
    """Client messages: stdin, resize and (v5) close; returns when the client has gone."""
    async for message in ws:
        parsed = channels.parse(channels.payload(message) or b"")
        if parsed is None:
            continue
        channel, data = parsed
        if channel == channels.STDIN and opts.stdin:
            await session.write_stdin(data)
        elif channel == channels.RESIZE and opts.tty:
            size = channels.parse_resize(data)
            if size is not None:
                session.resize(*size)
        elif v5 and channel == channels.CLOSE and data[:1] == bytes((channels.STDIN,)):
            session.close_stdin()
