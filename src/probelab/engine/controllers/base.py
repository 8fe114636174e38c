"""The control loop every controller shares: watch the store, queue keys, reconcile one key at a
time, requeue on conflict, failure or a deadline.

Shape of `k8s.io/client-go/util/workqueue` plus an informer, reduced to one asyncio loop: a key is
queued at most once while it waits; a key that changes while it is being synced is queued again;
failures back off per key (5 ms doubling to 5 s, like the default controller rate limiter).
The subclasses (`namespace`, `replicaset`, `deployment`, `endpoints`) only say which resources
they watch, which keys an event touches, and how to `sync` a key; their rules are pure functions
in their own modules. Everything runs on the store's loop, so a `sync` reads and writes the store
without interleaving with other components.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Hashable, Iterable

from probelab.engine.core.client import Client
from probelab.engine.core.context import EngineContext
from probelab.engine.core.store import Conflict, NotFound, Store, Watcher, WatchEvent

log = logging.getLogger("probelab.engine.controllers")

BACKOFF_FIRST_S = 0.005
BACKOFF_MAX_S = 5.0


class Controller:
    """Base of the engine's controllers (an engine Component): `start(ctx)`, `stop()`."""

    name = "controller"
    watched: tuple[str, ...] = ()  # store resources whose events are turned into keys
    primary = ""  # the resource whose every object is synced at start

    def __init__(self) -> None:
        self._ctx: EngineContext | None = None
        self._queue: asyncio.Queue[Hashable] = asyncio.Queue()
        self._waiting: set[Hashable] = set()
        self._failures: dict[Hashable, int] = {}
        self._timers: dict[Hashable, asyncio.TimerHandle] = {}
        self._watchers: list[Watcher] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = False
        self.syncs = 0  # how many keys were reconciled (tests and logs)

    # ---- what subclasses provide ------------------------------------------------------------
    def keys_for(self, event: WatchEvent) -> Iterable[Hashable]:
        """The keys to reconcile after a change of a watched resource."""
        raise NotImplementedError

    def initial_keys(self, store: Store) -> Iterable[Hashable]:
        objs, _ = store.list(self.primary)
        return [((o["metadata"].get("namespace") or ""), o["metadata"]["name"]) for o in objs]

    def sync(self, key: Hashable) -> float | None:
        """Reconcile one key; return seconds after which to look again, or None."""
        raise NotImplementedError

    # ---- lifecycle ----------------------------------------------------------------------------
    @property
    def ctx(self) -> EngineContext:
        if self._ctx is None:
            raise RuntimeError(f"{self.name} controller used before start()")
        return self._ctx

    @property
    def store(self) -> Store:
        """What the controller reads (its informer cache)."""
        return self.ctx.store

    @property
    def client(self) -> Client:
        """How the controller writes: through the API server's rules."""
        return self.ctx.client

    async def start(self, ctx: EngineContext) -> None:
        if self._ctx is not None:
            raise RuntimeError(f"{self.name} controller started twice")
        self._ctx = ctx
        rv = ctx.store.resource_version
        for key in self.initial_keys(ctx.store):
            self.enqueue(key)
        loop = asyncio.get_running_loop()
        for resource in self.watched:
            watcher = ctx.store.watch(resource, since=rv)
            self._watchers.append(watcher)
            self._tasks.append(loop.create_task(
                self._watch(watcher), name=f"{self.name}-controller-watch-{resource}"))
        self._tasks.append(loop.create_task(self._work(), name=f"{self.name}-controller-worker"))
        log.debug("%s controller started", self.name)

    async def stop(self) -> None:
        """Stop watching and reconciling; safe to call twice (and before start)."""
        if self._stopped:
            return
        self._stopped = True
        for watcher in self._watchers:
            watcher.close()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        log.debug("%s controller stopped after %d syncs", self.name, self.syncs)

    # ---- the queue ------------------------------------------------------------------------------
    def enqueue(self, key: Hashable) -> None:
        if self._stopped or key in self._waiting:
            return
        self._waiting.add(key)
        self._queue.put_nowait(key)

    def requeue_after(self, key: Hashable, delay_s: float) -> None:
        """Look at `key` again after `delay_s` (the earliest of several requests wins)."""
        if self._stopped:
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + max(0.0, delay_s)
        timer = self._timers.get(key)
        if timer is not None:
            if timer.when() <= when:
                return
            timer.cancel()
        self._timers[key] = loop.call_at(when, self._fire, key)

    def _fire(self, key: Hashable) -> None:
        self._timers.pop(key, None)
        self.enqueue(key)

    async def _watch(self, watcher: Watcher) -> None:
        async for event in watcher:
            try:
                for key in self.keys_for(event):
                    self.enqueue(key)
            except Exception:  # a malformed object must not end the watch
                log.exception("%s controller: handling a %s event failed", self.name,
                              event.resource)

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            self._waiting.discard(key)
            self._sync_one(key)
            await asyncio.sleep(0)  # let the other components see what this sync wrote

    def _sync_one(self, key: Hashable) -> None:
        self.syncs += 1
        try:
            after = self.sync(key)
        except (Conflict, NotFound) as exc:  # someone wrote first: read again and redo
            log.debug("%s controller: %s on %s, retrying", self.name, type(exc).__name__, key)
            self._retry(key)
        except Exception:
            log.exception("%s controller: syncing %s failed", self.name, key)
            self._retry(key)
        else:
            self._failures.pop(key, None)
            if after is not None:
                self.requeue_after(key, after)

    def _retry(self, key: Hashable) -> None:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        self.requeue_after(key, min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** failures))
