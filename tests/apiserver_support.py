"""A real engine API server on a loopback port, run in a background thread's event loop, for
tests that drive it over HTTPS with the official `kubernetes` client, raw HTTP, or kubectl.

`ApiEngine` starts the API server component (and, when asked, other engine components given
by class) around one `Store`; `kubeconfig()` writes the
`probelab` context the way `probelab cluster up` does. `FakeKubelet` stands in for the node:
it binds pods, marks them Running and Ready with a loopback IP, and removes terminating pods
at once — so controllers and kubectl see pods progress without starting processes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
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
from probelab.engine.core.clock import rfc3339
from probelab.engine.core.context import EngineConfig
from probelab.engine.core.store import EventType, Store
from probelab.engine.engine import build_context

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
        self._kubelet_task: asyncio.Task | None = None
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
            self.kubelet = FakeKubelet(self.store)
            self._kubelet_task = asyncio.create_task(self.kubelet.run(), name="fake-kubelet")

    async def _stop(self) -> None:
        if self._kubelet_task is not None:
            self._kubelet_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._kubelet_task
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


class FakeKubelet:
    """The node in tests: binds, starts and readies pods at once; removes terminating ones,
    except those in `keep` (namespace, name), which stay terminating until `release`d."""

    node = "probelab"

    def __init__(self, store: Store) -> None:
        self.store = store
        self._next_ip = 2
        self.keep: set[tuple[str, str]] = set()

    def release(self, namespace: str, name: str) -> None:
        """Let a kept pod finish terminating (call in the engine's loop)."""
        self.keep.discard((namespace, name))
        pod = self.store.find("pods", namespace, name)
        if pod is not None:
            self._sync(pod)

    async def run(self) -> None:
        pods, _ = self.store.list("pods")
        for pod in pods:
            self._sync(pod)
        async for event in self.store.watch("pods", since=self.store.resource_version):
            if event.type is not EventType.DELETED:
                self._sync(event.obj)

    def _sync(self, pod: dict[str, Any]) -> None:
        m = pod["metadata"]
        ns, name = m["namespace"], m["name"]
        if m.get("deletionTimestamp"):
            if (ns, name) in self.keep:
                return
            if self.store.find("pods", ns, name) is not None:
                self.store.delete("pods", ns, name)
            return
        if pod.get("status", {}).get("phase") == "Running":
            return
        ip = f"127.244.0.{self._next_ip}"
        self._next_ip += 1
        now = rfc3339(self.store.clock.now())

        def bind(obj: dict[str, Any]) -> None:
            obj["spec"]["nodeName"] = self.node

        def start(obj: dict[str, Any]) -> None:
            containers = obj["spec"].get("containers") or []
            obj["status"] = {
                "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "127.0.0.1",
                "startTime": now,
                "conditions": [{"type": t, "status": "True", "lastTransitionTime": now}
                               for t in ("PodScheduled", "Initialized", "ContainersReady",
                                         "Ready")],
                "containerStatuses": [{
                    "name": c["name"], "image": c.get("image", ""), "ready": True,
                    "started": True, "restartCount": 0, "imageID": "",
                    "state": {"running": {"startedAt": now}}} for c in containers],
            }

        self.store.mutate("pods", ns, name, bind)
        self.store.mutate("pods", ns, name, start, subresource="status")
