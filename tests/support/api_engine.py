"""A real engine API server on a loopback port, run in a background thread's event loop, for
tests that drive it over HTTPS with the official `kubernetes` client, raw HTTP, or kubectl.

`ApiEngine` starts the API server component (and, when asked, other engine components given
by class) around one `Store`; `kubeconfig()` writes the
`probelab` context the way `probelab cluster up` does. With `fake_kubelet=True` a
`FakeKubelet` stands in for the node, so controllers and kubectl see pods progress without
starting processes.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import random
import secrets
import shutil
import ssl
import tempfile
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import yaml

from probelab.engine.apiserver.server import ApiServer
from probelab.engine.core.context import EngineConfig
from probelab.engine.core.store import Store
from probelab.engine.engine import build_context
from support.fake_kubelet import FakeKubelet

T = TypeVar("T")


class ApiEngine:
    """Context manager: the API server (plus optional components) in a background loop."""

    def __init__(self, components: tuple[type, ...] = (), history: int = 100_000,
                 fake_kubelet: bool = False) -> None:
        self.state_dir = Path(tempfile.mkdtemp(prefix="probelab-apitest-"))
        self.token = secrets.token_urlsafe(24)
        self.config = EngineConfig(port=0, token=self.token, state_dir=self.state_dir, seed=7)
        self.store = Store(history=history)
        self.ctx = build_context(self.config, store=self.store, rng=random.Random(7))
        self.api = ApiServer()
        self._component_paths = components
        self._fake_kubelet = fake_kubelet
        self.components: list[Any] = []
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="api-engine",
                                        daemon=True)
        self.kubelet: FakeKubelet | None = None

    # ---- life ------------------------------------------------------------------------------
    def __enter__(self) -> ApiEngine:
        self._thread.start()
        try:
            self.run(self._start())
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    async def _start(self) -> None:
        await self.api.start(self.ctx)
        self.components.append(self.api)
        for cls in self._component_paths:
            component = cls()
            await component.start(self.ctx)
            self.components.append(component)
        if self._fake_kubelet:
            self.kubelet = await FakeKubelet(self.store, node="probelab").__aenter__()

    async def _stop(self) -> None:
        if self.kubelet is not None:
            await self.kubelet.__aexit__(None, None, None)
        for component in reversed(self.components):
            await component.stop()
        self.store.close_watchers()

    def __exit__(self, *exc: object) -> None:
        try:
            if self._thread.is_alive():
                self.run(self._stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` in the engine's loop (the store is single-threaded)."""
        async def wrapper() -> T:
            return fn()
        return self.run(wrapper())

    # ---- clients ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.api.url

    def kubeconfig(self, path: Path | None = None, token: str | None = None) -> Path:
        path = path or self.state_dir / "kubeconfig"
        doc = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "probelab", "cluster": {
                "server": self.url,
                "certificate-authority-data": base64.b64encode(self.api.ca_pem).decode()}}],
            "users": [{"name": "probelab", "user": {"token": token or self.token}}],
            "contexts": [{"name": "probelab",
                          "context": {"cluster": "probelab", "user": "probelab"}}],
            "current-context": "probelab",
        }
        path.write_text(yaml.safe_dump(doc))
        path.chmod(0o600)
        return path

    def request(self, method: str, path: str, body: bytes | str | Any = None,
                headers: dict[str, str] | None = None, token: str | None = "default"
                ) -> tuple[int, dict[str, str], bytes]:
        """One raw HTTPS request; returns status, headers, body."""
        host, port = self.url.removeprefix("https://").rsplit(":", 1)
        context = ssl.create_default_context(cadata=self.api.ca_pem.decode())
        conn = http.client.HTTPSConnection(host, int(port), context=context, timeout=30)
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {self.token if token == 'default' else token}"
        if body is not None and not isinstance(body, bytes | str):
            body = json.dumps(body)
            all_headers.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=body, headers=all_headers)
            response = conn.getresponse()
            merged: dict[str, str] = {}
            for key, value in response.getheaders():  # repeated headers (Warning) joined
                merged[key] = f"{merged[key]}, {value}" if key in merged else value
            return response.status, merged, response.read()
        finally:
            conn.close()
