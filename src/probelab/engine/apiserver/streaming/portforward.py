"""`pods/portforward` over a WebSocket: SPDY/3.1 tunnelled in binary messages (kubectl, KEP-4006
"SPDY/3.1+portforward.k8s.io"), or the channel protocol (the official Python client).

SPDY (`pkg/kubelet/cri/streaming/portforward/httpstream.go`): for each local connection the
client opens two streams with the same `requestID` and `port` headers, `streamType: error`
and `streamType: data`; every stream gets a SYN_REPLY (the server's `newStreamHandler`
accepts it). Once both are there the node dials the port; bytes of the data stream go to the
pod and back, a FIN half-closes, and the error stream carries the node's error text (if any)
and then its FIN, which kubectl waits for before it forgets the connection. PINGs are echoed
(client-go pings the tunnel every 10 s).

Channels (`pkg/kubelet/cri/streaming/portforward/websocket.go`): port i of the `ports` query
has data channel 2i and error channel 2i+1; each channel's first message is the port as two
bytes, little-endian; one connection per port per WebSocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from probelab.engine.apiserver.streaming import channels, spdy
from probelab.engine.core.streaming import PodRuntime, StreamError

log = logging.getLogger("probelab.engine.apiserver.streaming")

CHUNK = 32 * 1024
MAX_PAIRS = 256  # connections one tunnel may have open at once
MAX_PENDING = 1 << 20  # bytes a connection may send before its pod connection is up


@dataclass
class _Pair:
    port: int = 0
    data: int | None = None  # stream ids
    error: int | None = None
    writer: asyncio.StreamWriter | None = None
    task: asyncio.Task[None] | None = None
    client_done: asyncio.Event = field(default_factory=asyncio.Event)
    pending: bytearray = field(default_factory=bytearray)  # sent before the dial completed


class SpdyTunnel:
    """One kubectl port-forward session: SPDY frames read from and written to `ws`."""

    def __init__(self, ws: web.WebSocketResponse, runtime: PodRuntime, namespace: str,
                 pod: str) -> None:
        self.ws = ws
        self.runtime = runtime
        self.namespace, self.pod = namespace, pod
        self.codec = spdy.Codec()
        self.reader = spdy.Reader(self.codec)
        self.pairs: dict[str, _Pair] = {}
        self.by_stream: dict[int, str] = {}
        self._send_lock = asyncio.Lock()

    async def _send(self, data: bytes) -> None:
        async with self._send_lock:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_bytes(data)

    async def run(self) -> None:
        try:
            async for message in self.ws:
                if message.type is not WSMsgType.BINARY:
                    continue
                try:
                    frames = self.reader.feed(message.data)
                except spdy.ProtocolError as exc:
                    log.info("port-forward %s/%s: %s", self.namespace, self.pod, exc)
                    await self._send(spdy.goaway(0, 1))
                    return
                for frame in frames:
                    if not await self._handle(frame):
                        return
        finally:
            for pair in self.pairs.values():
                if pair.task is not None:
                    pair.task.cancel()
            tasks = [p.task for p in self.pairs.values() if p.task is not None]
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _handle(self, frame: spdy.Frame) -> bool:
        """Act on one frame; False ends the session."""
        if frame.type == spdy.SYN_STREAM:
            await self._syn_stream(frame)
        elif frame.type == 0:
            pair = self._pair(frame.stream_id)
            if pair is not None and frame.stream_id == pair.data:
                if pair.writer is None:
                    if len(pair.pending) + len(frame.data) > MAX_PENDING:
                        await self._send(spdy.rst_stream(frame.stream_id, spdy.CANCEL))
                        return True
                    pair.pending += frame.data
                elif frame.data and not pair.writer.is_closing():
                    pair.writer.write(frame.data)
                    with contextlib.suppress(ConnectionError):
                        await pair.writer.drain()
                if frame.fin:
                    pair.client_done.set()
                    _write_eof(pair.writer)
        elif frame.type == spdy.RST_STREAM:
            pair = self._pair(frame.stream_id)
            if pair is not None and frame.stream_id == pair.data:
                pair.client_done.set()
                if pair.writer is not None:
                    pair.writer.close()
        elif frame.type == spdy.PING:
            await self._send(spdy.ping(frame.ping_id))
        elif frame.type == spdy.GOAWAY:
            return False
        return True

    def _pair(self, stream_id: int) -> _Pair | None:
        key = self.by_stream.get(stream_id)
        return self.pairs.get(key) if key is not None else None

    async def _syn_stream(self, frame: spdy.Frame) -> None:
        headers = frame.headers
        request_id = headers.get("requestid", "")
        kind = headers.get("streamtype", "")
        try:
            port = int(headers.get("port", ""))
        except ValueError:
            port = 0
        if kind not in ("data", "error") or not 0 < port < 65536 or (
                request_id not in self.pairs and len(self.pairs) >= MAX_PAIRS):
            await self._send(spdy.rst_stream(frame.stream_id, spdy.REFUSED_STREAM))
            return
        await self._send(spdy.syn_reply(self.codec, frame.stream_id))
        pair = self.pairs.setdefault(request_id, _Pair(port=port))
        self.by_stream[frame.stream_id] = request_id
        setattr(pair, kind, frame.stream_id)
        if pair.data is not None and pair.error is not None and pair.task is None:
            pair.task = asyncio.get_running_loop().create_task(self._forward(request_id, pair))

    async def _forward(self, request_id: str, pair: _Pair) -> None:
        assert pair.data is not None and pair.error is not None
        try:
            try:
                reader, pair.writer = await self.runtime.dial(self.namespace, self.pod,
                                                              pair.port)
            except StreamError as exc:
                await self._send(spdy.data_frame(pair.error, exc.message.encode()))
                await self._send(spdy.data_frame(pair.data, b"", fin=True))
                return
            if pair.pending:
                pair.writer.write(bytes(pair.pending))
                pair.pending.clear()
            if pair.client_done.is_set():
                _write_eof(pair.writer)
            while chunk := await _read(reader):
                await self._send(spdy.data_frame(pair.data, chunk))
            await self._send(spdy.data_frame(pair.data, b"", fin=True))
            await pair.client_done.wait()
        finally:
            if pair.writer is not None:
                pair.writer.close()
            await self._send(spdy.data_frame(pair.error, b"", fin=True))
            self.pairs.pop(request_id, None)
            for sid in (pair.data, pair.error):
                self.by_stream.pop(sid, None)


def _write_eof(writer: asyncio.StreamWriter | None) -> None:
    """Half-close toward the pod (the client's FIN), as the kubelet's copy does."""
    if writer is not None and not writer.is_closing() and writer.can_write_eof():
        with contextlib.suppress(OSError):
            writer.write_eof()


async def _read(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.read(CHUNK)
    except (ConnectionError, OSError):
        return b""


async def serve_channels(ws: web.WebSocketResponse, runtime: PodRuntime, namespace: str,
                         pod: str, ports: list[int]) -> None:
    """The channel port-forward: one connection per requested port."""
    lock = asyncio.Lock()

    async def send(data: bytes) -> None:
        async with lock:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_bytes(data)

    for i, port in enumerate(ports):
        await send(channels.port_prefix(2 * i, port))
        await send(channels.port_prefix(2 * i + 1, port))
    writers: dict[int, asyncio.StreamWriter] = {}
    pending: dict[int, bytearray] = {i: bytearray() for i in range(len(ports))}

    async def forward(i: int, port: int) -> None:
        try:
            reader, writer = await runtime.dial(namespace, pod, port)
        except StreamError as exc:
            await send(channels.frame(2 * i + 1, exc.message.encode()))
            return
        writers[i] = writer
        writer.write(bytes(pending.pop(i, b"")))
        try:
            while chunk := await _read(reader):
                await send(channels.frame(2 * i, chunk))
        finally:
            writer.close()

    loop = asyncio.get_running_loop()
    copies = [loop.create_task(forward(i, port)) for i, port in enumerate(ports)]
    done_all = asyncio.ensure_future(asyncio.gather(*copies, return_exceptions=True))

    async def inbound() -> None:
        async for message in ws:
            parsed = channels.parse(channels.payload(message) or b"")
            if parsed is None:
                continue
            channel, data = parsed
            index = channel // 2
            writer = writers.get(index)
            if channel % 2 or not data or index >= len(ports):
                continue
            if writer is None:
                if len(pending.get(index, b"")) + len(data) <= MAX_PENDING:
                    pending.setdefault(index, bytearray()).extend(data)
                continue
            writer.write(data)
            with contextlib.suppress(ConnectionError):
                await writer.drain()

    reading = loop.create_task(inbound())
    try:
        await asyncio.wait([done_all, reading], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (*copies, reading):
            task.cancel()
        await asyncio.gather(done_all, reading, return_exceptions=True)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.close()
