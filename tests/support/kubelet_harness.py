"""Test fixtures of the kubelet: a real store and kubelet in the test's loop, tiny pods, and a
small test app whose image maps (EngineConfig.images) to a Python script.

The app (`APP`) listens on $(POD_IP):$PORT and appends one line per happening to the file in
$MARKERS — `start`, `argv ...`, `healthz`, `livez`, `prestop`, `sigterm`, `exit` — so tests prove
order from the process's own record. Its behaviour is set by env: HEALTH/LIVE (`ok` or `fail`),
IGNORE_TERM=1 (ignore SIGTERM), EXIT_CODE (exit at once with that code).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from probelab.engine.core.context import EngineConfig
from probelab.engine.core.store import Obj, Store
from probelab.engine.engine import build_context
from probelab.engine.kubelet.kubelet import Kubelet

NS = "kt"

APP = r'''
import http.server, os, signal, sys, time
markers = os.environ["MARKERS"]
def mark(what):
    with open(markers, "a") as f:
        f.write(f"{time.time():.6f} {what}\n")
mark("start " + str(os.getpid()))
mark("argv " + " ".join(sys.argv[1:]))
names = ("POD_IP", "POD_NAME", "POD_NAMESPACE", "GREETING")
mark("env " + " ".join(f"{k}={os.environ.get(k, '')}" for k in names))
print("hello from", os.environ.get("POD_NAME"), flush=True)
if os.environ.get("EXIT_CODE"):
    mark("exit")
    sys.exit(int(os.environ["EXIT_CODE"]))
def on_term(signum, frame):
    mark("sigterm")
    if os.environ.get("IGNORE_TERM") != "1":
        mark("exit")
        os._exit(0)
signal.signal(signal.SIGTERM, on_term)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        name = self.path.strip("/")
        mark(name)
        ok = {"healthz": os.environ.get("HEALTH", "ok"), "livez": os.environ.get("LIVE", "ok")}
        code = 200 if ok.get(name, "ok") == "ok" else 503
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
address = (os.environ["POD_IP"], int(os.environ.get("PORT", "8080")))
server = http.server.ThreadingHTTPServer(address, H)
mark("listening")
server.serve_forever()
'''


class Harness:
    """A store with namespace NS and a started kubelet; `app.py` written in `tmp`."""

    def __init__(self, tmp: Path, images: tuple[tuple[str, str], ...] = (),
                 **kubelet_options: Any) -> None:
        self.tmp = tmp
        self.app = tmp / "app.py"
        self.app.write_text(APP)
        self.store = Store()
        self.store.create("namespaces", {"metadata": {"name": NS}, "spec": {}})
        mapping = (("testapp", f"{sys.executable} {self.app}"), *images)
        self.config = EngineConfig(images=mapping, state_dir=tmp / "state")
        self.ctx = build_context(self.config, store=self.store)
        self.kubelet = Kubelet(**kubelet_options)

    def markers(self, name: str) -> Path:
        return self.tmp / f"{name}.markers"

    def lines(self, name: str) -> list[str]:
        """The marker words of pod `name`, in order (timestamps dropped)."""
        path = self.markers(name)
        if not path.exists():
            return []
        return [line.split(" ", 1)[1] for line in path.read_text().splitlines() if " " in line]

    def pod(self, name: str) -> Obj | None:
        return self.store.find("pods", NS, name)

    def status(self, name: str) -> dict[str, Any]:
        pod = self.pod(name)
        return (pod or {}).get("status") or {}

    def container(self, name: str) -> dict[str, Any]:
        statuses = self.status(name).get("containerStatuses") or [{}]
        return statuses[0]

    def condition(self, name: str, type_: str) -> str | None:
        for cond in self.status(name).get("conditions") or []:
            if cond["type"] == type_:
                return cond["status"]
        return None

    def events(self, name: str, reason: str | None = None) -> list[Obj]:
        events, _ = self.store.list("events", NS)
        out = [e for e in events if e["involvedObject"].get("name") == name
               and (reason is None or e["reason"] == reason)]
        return sorted(out, key=lambda e: e["eventTime"])

    def create(self, name: str, *, env: dict[str, str] | None = None, grace: int = 5,
               **container: Any) -> Obj:
        """A pod with one container `app` running the test app."""
        spec_env = [{"name": "MARKERS", "value": str(self.markers(name))}]
        spec_env += [{"name": k, "value": v} for k, v in (env or {}).items()]
        c = {"name": "app", "image": "testapp:1.0", "env": spec_env, **container}
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": NS, "labels": {"app": "t"}},
               "spec": {"containers": [c], "terminationGracePeriodSeconds": grace,
                        "restartPolicy": "Always"},
               "status": {"phase": "Pending"}}
        return self.ctx.client.create("pods", pod)

    def delete(self, name: str, grace: int | None = None) -> None:
        """`kubectl delete pod` (graceful unless `grace` is 0), through the API's rules."""
        self.ctx.client.delete("pods", NS, name, grace_s=grace)


@contextlib.asynccontextmanager
async def kubelet(tmp: Path, images: tuple[tuple[str, str], ...] = (),
                  **kubelet_options: Any) -> AsyncIterator[Harness]:
    h = Harness(tmp, images, **kubelet_options)
    await h.kubelet.start(h.ctx)
    try:
        yield h
    finally:
        await h.kubelet.stop()
