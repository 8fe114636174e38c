"""Wiring of the local engine: one store, one context, the components started in order.

Start order: API server, controllers, kubelet, proxy; stop order is the reverse, so pods are
terminated gracefully (preStop, SIGTERM, grace, SIGKILL) while the API is still up.
Components are listed by dotted path and built without arguments; each one's `start(ctx)`
returns once it is ready.
"""

from __future__ import annotations

import importlib
import logging
import random
import secrets
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from probelab.engine.clock import Clock, SystemClock
from probelab.engine.context import Component, EngineConfig, EngineContext
from probelab.engine.store import Store

log = logging.getLogger("probelab.engine")

COMPONENTS: tuple[str, ...] = (
    "probelab.engine.apiserver:ApiServer",
    "probelab.engine.controllers.namespace:NamespaceController",
    "probelab.engine.controllers.replicaset:ReplicaSetController",
    "probelab.engine.controllers.deployment:DeploymentController",
    "probelab.engine.controllers.endpoints:EndpointsController",
    "probelab.engine.kubelet.kubelet:Kubelet",
    "probelab.engine.proxy:ServiceProxy",
)


def _load(path: str) -> type | None:
    module_name, _, class_name = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            log.debug("component %s not built yet", path)
            return None
        raise
    return getattr(module, class_name)


class Engine:
    """The whole local engine in this process; `start()` then `stop()` (safe twice)."""

    def __init__(self, config: EngineConfig, clock: Clock | None = None) -> None:
        self._own_state_dir = config.state_dir is None
        state_dir = config.state_dir or Path(tempfile.mkdtemp(prefix="probelab-engine-"))
        token = config.token or secrets.token_urlsafe(32)
        self.config = replace(config, state_dir=state_dir, token=token)
        clock = clock or SystemClock()
        self.store = Store(clock)
        self.ctx = EngineContext(
            store=self.store, config=self.config, clock=clock, rng=random.Random(config.seed)
        )
        self.components: list[Component] = []
        self._started = False

    def component(self, name: str) -> Component | None:
        return next((c for c in self.components if c.name == name), None)

    @property
    def api_url(self) -> str:
        api = self.component("apiserver")
        return getattr(api, "url", "")

    async def start(self) -> None:
        self._started = True
        for path in COMPONENTS:
            cls = _load(path)
            if cls is None:
                continue
            component = cls()
            self.components.append(component)
            await component.start(self.ctx)
            log.debug("started %s", component.name)

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        for component in reversed(self.components):
            try:
                await component.stop()
            except Exception:  # keep stopping the others; nothing may be left running
                log.exception("stopping %s failed", component.name)
        self.store.close_watchers()
        if self._own_state_dir and self.config.state_dir is not None:
            shutil.rmtree(self.config.state_dir, ignore_errors=True)
