"""Streaming responses: `?watch=true` event streams and `pods/log?follow=true`.

A watch is a chunked 200 response of JSON lines `{"type": "ADDED", "object": {...}}`, ending at
`timeoutSeconds`, when the client leaves, or when the engine stops. A resourceVersion older than
the store's history is reported the way the watch cache does it
(`staging/src/k8s.io/apiserver/pkg/storage/cacher`, kubernetes#25151): HTTP 200, then one ERROR
event carrying a 410 `Expired` Status. Bookmarks (`allowWatchBookmarks`) carry only the
resourceVersion the stream has reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from aiohttp import web

from probelab.engine.apiserver.status import status_body
from probelab.engine.core import podlogs
from probelab.engine.core.store import EventType, Gone, Obj, Store, Watcher

LIVENESS_CHECK_S = 1.0  # how often an idle stream checks that its client is still there
INITIAL_EVENTS_END = "k8s.io/initial-events-end"  # annotation of the end-of-list bookmark


def _line(event_type: str, obj: Any) -> bytes:
    return json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


class StreamRegistry:
    """The open streams of one API server, so that stopping the server ends them at once."""

    def __init__(self) -> None:
        self.watchers: set[Watcher] = set()
        self.stopping = asyncio.Event()

    def close_all(self) -> None:
        self.stopping.set()
        for watcher in list(self.watchers):
            watcher.close()


async def serve_watch(
    request: web.Request,
    streams: StreamRegistry,
    store: Store,
    *,
    resource: str,
    namespace: str | None,
    selector: Any,
    where: Callable[[Obj], bool] | None,
    since: int | None,
    timeout_s: float | None,
    bookmark_interval_s: float | None,
    render: Callable[[Obj], Obj],
    bookmark_stub: Obj,
    initial_events_end: bool = False,
) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json",
                                                       "Cache-Control": "no-cache, private"})
    response.enable_chunked_encoding()
    try:
        watcher = store.watch(resource, namespace, selector, since)
    except Gone as exc:
        await response.prepare(request)
        await response.write(_line("ERROR", status_body(410, "Expired", str(exc))))
        await response.write_eof()
        return response
    streams.watchers.add(watcher)
    # `store.watch(since=None)` queued the current objects, and only them, synchronously.
    initial_left = watcher.queue.qsize() if initial_events_end and since is None else None
    list_rv = store.resource_version
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s if timeout_s else None
    next_bookmark = loop.time() + bookmark_interval_s if bookmark_interval_s else None
    try:
        await response.prepare(request)
        while not watcher.closed:
            if initial_left == 0:
                initial_left = None
                stub = {**bookmark_stub, "metadata": {
                    "resourceVersion": str(list_rv),
                    "annotations": {INITIAL_EVENTS_END: "true"}}}
                await response.write(_line(EventType.BOOKMARK.value, stub))
            now = loop.time()
            waits = [LIVENESS_CHECK_S]
            if deadline is not None:
                waits.append(deadline - now)
            if next_bookmark is not None:
                waits.append(next_bookmark - now)
            wait = max(0.0, min(waits))
            try:
                event = await asyncio.wait_for(watcher.queue.get(), timeout=wait)
            except TimeoutError:
                event = False
            if event is None:
                break
            if event:
                if where is None or where(event.obj):
                    await response.write(_line(event.type.value, render(event.obj)))
                if initial_left:
                    initial_left -= 1
                continue
            now = loop.time()
            if deadline is not None and now >= deadline:
                break
            if _client_gone(request):
                break
            if next_bookmark is not None and now >= next_bookmark and bookmark_interval_s:
                next_bookmark = now + bookmark_interval_s
                stub = {**bookmark_stub,
                        "metadata": {"resourceVersion": str(store.resource_version)}}
                await response.write(_line(EventType.BOOKMARK.value, stub))
        with contextlib.suppress(ConnectionError, RuntimeError):
            await response.write_eof()
    except (ConnectionError, asyncio.CancelledError):
        pass  # the client went away; nothing to tell it
    finally:
        watcher.close()
        streams.watchers.discard(watcher)
    return response


LOG_CHUNK = 64 * 1024  # what one write of a log stream carries at most


class _LogSender:
    """Sends the rendered records of a log file in LOG_CHUNK batches, stopping at
    `limit_bytes` (counted in bytes sent, as the kubelet's LimitedWriter does)."""

    def __init__(self, response: web.StreamResponse, options: podlogs.LogOptions) -> None:
        self.response, self.options = response, options
        self.left = options.limit_bytes
        self.batch: list[bytes] = []
        self.size = 0

    @property
    def full(self) -> bool:
        return self.left is not None and self.left <= 0

    async def send(self, f: BinaryIO, start: int, end: int, final: bool) -> int:
        """Send the records in [start, end); the offset reached. Yields to the event loop
        after every block, so a large log never holds up the other requests."""
        offset = start
        for lines, offset in podlogs.read_lines(f, start, end, final):  # noqa: B007
            data = podlogs.render_lines(lines, self.options)
            if self.left is not None:
                data = data[:self.left]
                self.left -= len(data)
            if data:
                self.batch.append(data)
                self.size += len(data)
            if self.size >= LOG_CHUNK:
                await self.flush()
            await asyncio.sleep(0)
            if self.full:
                break
        await self.flush()
        return offset

    async def flush(self) -> None:
        if self.batch:
            data, self.batch, self.size = b"".join(self.batch), [], 0
            await self.response.write(data)


async def _log_response(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    return response


async def serve_log(request: web.Request, path: Path, start: int, end: int,
                    options: podlogs.LogOptions) -> web.StreamResponse:
    """The records in [start, end) of a log file, streamed in chunks: never the whole file in
    memory."""
    response = await _log_response(request)
    with contextlib.suppress(ConnectionError, FileNotFoundError):
        with path.open("rb") as f:
            await _LogSender(response, options).send(f, start, end, final=True)
        await response.write_eof()
    return response


async def follow_log(
    request: web.Request, streams: StreamRegistry, path: Path, start: int, end: int,
    still_there: Callable[[], bool], options: podlogs.LogOptions, poll_s: float = 0.2,
) -> web.StreamResponse:
    """Stream the records in [start, end) of a log file, then those appended while the
    container's run goes on (`still_there`), up to `limit_bytes`. A file that shrank was
    rotated (copied away and truncated): reading goes on from its start, as `kubectl logs -f`
    goes on after a kubelet rotation."""
    response = await _log_response(request)
    sender = _LogSender(response, options)
    try:
        with path.open("rb") as f:
            offset = await sender.send(f, start, end, final=False)
            while not (sender.full or streams.stopping.is_set() or _client_gone(request)):
                try:
                    size = path.stat().st_size
                except FileNotFoundError:
                    break  # removed with its pod
                if size < offset:
                    offset = 0
                if size > offset:
                    reached = await sender.send(f, offset, size, final=False)
                    if reached > offset:
                        offset = reached
                        continue
                if not still_there():
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(streams.stopping.wait(), timeout=poll_s)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await response.write_eof()
    except (ConnectionError, asyncio.CancelledError, FileNotFoundError):
        pass
    return response
