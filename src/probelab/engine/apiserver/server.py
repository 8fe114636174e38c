"""The engine's API server: a Kubernetes-compatible REST subset over JSON on loopback.

Routing (`/api`, `/apis/GROUP/VERSION`, `[watch/]namespaces/NS/RESOURCE/NAME/SUBRESOURCE`),
bearer-token authentication, body limits and the translation of every failure into a `Status`
live here; the verbs are in `apiserver.handlers`, the per-kind rules in
`apiserver.registry`, discovery documents in `apiserver.discovery`.
No input may crash it: an unexpected exception becomes a 500 Status and serving goes on.
Started first and stopped last by `probelab.engine.engine`.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import shutil
import socket
import ssl
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from probelab.engine.apiserver import discovery, model, openapi, openapi_v2, tls
from probelab.engine.apiserver.handlers import (
    Handlers,
    Target,
    json_response,
    method_not_allowed,
    not_found_path,
)
from probelab.engine.apiserver.listener import ApiConnection, Limits, Listener
from probelab.engine.apiserver.params import MAX_BODY_BYTES
from probelab.engine.apiserver.registry.generic import Registry
from probelab.engine.apiserver.status import (
    TOO_LARGE,
    UNAUTHORIZED,
    ApiError,
    from_store_error,
    status_body,
)
from probelab.engine.apiserver.watch import StreamRegistry
from probelab.engine.core.context import EngineContext
from probelab.engine.core.store import StoreError
from probelab.errors import UsageError

log = logging.getLogger("probelab.engine.apiserver.server")

# Paths the real server lets anyone read (`system:public-info-viewer`).
PUBLIC_PATHS = frozenset({"/version", "/healthz", "/livez", "/readyz"})
TRANSPORTS_PRUNE_AT = 256  # connections remembered before closed ones are dropped
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ApiServer:
    """The `apiserver` component.

    After `start()`: `url` is the `https://` address it really bound, `ca_pem` the certificate
    a client must trust (kubeconfig `certificate-authority-data`), `ca_path` the same in a file;
    the bearer token is `EngineConfig.token`.
    """

    name = "apiserver"
    bookmark_interval_s = 30.0  # real servers send a bookmark about once a minute
    shutdown_timeout_s = 2.0

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._listener: Listener | None = None
        self.url = ""
        self.ca_pem = b""
        self.ca_path: Path | None = None
        self._own_tls_dir: Path | None = None
        # A plain set, pruned as it grows: uvloop's TLS transports cannot be weakly referenced.
        self._transports: set[asyncio.BaseTransport] = set()
        self._runner: web.AppRunner | None = None
        self._token = ""
        self._streams = StreamRegistry()
        self.registry: Registry | None = None
        self._handlers: Handlers | None = None

    async def start(self, ctx: EngineContext) -> None:
        config = ctx.config
        try:
            loopback = ipaddress.ip_address(config.host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise UsageError(f"the API server listens on loopback only, not {config.host}")
        self._token = config.token
        self.registry = Registry(ctx.store, ctx.rng, config.service_cidr_prefix)
        self.registry.ensure_system_namespaces()
        model.warm()
        self._handlers = Handlers(ctx.store, self.registry, config.state_dir, self._streams,
                                  self.bookmark_interval_s, ctx.streaming)
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        ssl_context = self._serving_context(config.state_dir, config.host)
        runner = web.AppRunner(app, access_log=None, handle_signals=False,
                               shutdown_timeout=self.shutdown_timeout_s)
        await runner.setup()
        try:
            sock = _bind(config.host, config.port)
        except OSError as exc:
            await runner.cleanup()
            raise UsageError(f"cannot listen on {config.host}:{config.port}: "
                             f"{exc.strerror or exc}") from None
        self._runner = runner
        self._listener = Listener(runner.server, ssl_context, self.limits)
        self._listener.start(sock)
        host, port = sock.getsockname()[:2]
        host = f"[{host}]" if ":" in host else host
        self.url = f"https://{host}:{port}"
        log.info("API server listening on %s", self.url)

    @property
    def unauthenticated_connections(self) -> int:
        """Open connections that have not yet sent a request with the token."""
        return self._listener.unauthenticated if self._listener is not None else 0

    @property
    def open_watches(self) -> int:
        """How many watch streams clients hold open right now."""
        return len(self._streams.watchers)

    def _serving_context(self, state_dir: Path | None, host: str) -> ssl.SSLContext:
        """A fresh self-signed certificate for this run (see `probelab.engine.apiserver.tls`)."""
        if state_dir is None:
            state_dir = self._own_tls_dir = Path(tempfile.mkdtemp(prefix="probelab-api-"))
        tls_dir = state_dir / "tls"
        tls_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        cert = tls.make_serving_cert(sorted({host, "127.0.0.1", "::1", "localhost"}))
        cert_path, key_path = tls_dir / "apiserver.crt", tls_dir / "apiserver.key"
        cert_path.write_bytes(cert.cert_pem)
        key_path.touch(mode=0o600)
        key_path.write_bytes(cert.key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        self.ca_pem, self.ca_path = cert.cert_pem, cert_path
        return context

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        if self._listener is not None:
            await self._listener.stop()
        self._streams.close_all()
        await runner.cleanup()
        # A TLS connection closes only after the peer answers the close_notify; clients that
        # keep connections alive may never do so, so cut what is left.
        for transport in list(self._transports):
            transport.abort()
        for _ in range(3):  # let connection_lost callbacks close the sockets
            await asyncio.sleep(0)
        if self._own_tls_dir is not None:
            shutil.rmtree(self._own_tls_dir, ignore_errors=True)

    # ---- request pipeline -----------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if isinstance(request.protocol, ApiConnection):
            request.protocol.request_seen = True
        if request.transport is not None:
            if len(self._transports) >= TRANSPORTS_PRUNE_AT:
                self._transports = {t for t in self._transports if not t.is_closing()}
            self._transports.add(request.transport)
        try:
            return await self._serve(request)
        except ApiError as exc:
            return json_response(exc.status(), exc.code)
        except StoreError as exc:
            err = from_store_error(exc, None, "")
            return json_response(err.status(), err.code)
        except web.HTTPRequestEntityTooLarge:
            return json_response(status_body(413, "RequestEntityTooLarge",
                                             f"{TOO_LARGE}: limit is {MAX_BODY_BYTES}"), 413)
        except Exception as exc:  # never let one request take the server down
            log.exception("internal error serving %s %s", request.method, request.path)
            body = status_body(500, "InternalError", f"Internal error occurred: {exc!r}",
                               {"causes": [{"message": repr(exc)}]})
            return json_response(body, 500)

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not self._token:
            return False
        return hmac.compare_digest(token.strip().encode(), self._token.encode())

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"  # clients ask for both /version and /version/
        if path in PUBLIC_PATHS:
            if request.method != "GET":
                raise method_not_allowed()
            if path == "/version":
                return json_response(discovery.version_info())
            return web.Response(text="ok", content_type="text/plain")
        if not self._authorized(request):
            return json_response(status_body(401, "Unauthorized", UNAUTHORIZED), 401)
        if self._listener is not None:
            self._listener.authenticated(request.protocol)
        body = None
        if request.method in BODY_METHODS:
            if request.content_length and request.content_length > MAX_BODY_BYTES:
                raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES,
                                                    actual_size=request.content_length)
            body = await request.read()
        segments = [s for s in path.split("/") if s]
        if not segments:
            return self._get_only(request, {"paths": ["/api", "/api/v1", "/apis", "/version"]})
        head = segments[0]
        if head == "openapi":
            return self._openapi(request, segments[1:])
        if head == "api":
            if len(segments) == 1:
                return self._get_only(request, discovery.api_versions(request.host))
            return await self._group_version(request, segments[1], segments[2:], body)
        if head == "apis":
            if len(segments) == 1:
                return self._get_only(request, discovery.api_group_list())
            if len(segments) == 2:
                group = discovery.api_group(segments[1])
                if group is None:
                    raise not_found_path()
                return self._get_only(request, group)
            gv = f"{segments[1]}/{segments[2]}"
            return await self._group_version(request, gv, segments[3:], body)
        raise not_found_path()

    def _openapi(self, request: web.Request, rest: list[str]) -> web.Response:
        """`/openapi/v3` (index), `/openapi/v3/GROUP/VERSION`, and `/openapi/v2` (JSON, or the
        protobuf kubectl's discovery client asks for: `openapi_v2`)."""
        if request.method != "GET":
            raise method_not_allowed()
        if rest == ["v2"]:
            return self._openapi_v2(request)
        if rest == ["v3"]:
            data = openapi.index_bytes()
        elif len(rest) > 1 and rest[0] == "v3":
            data = openapi.document_bytes("/".join(rest[1:]))
        else:
            data = None
        if data is None:
            raise not_found_path()
        # Documents are addressed by content hash, so clients may cache them for good.
        cache = "public, immutable" if "hash" in request.query else "no-cache, private"
        return web.Response(body=data, content_type="application/json",
                            headers={"Cache-Control": cache})

    def _openapi_v2(self, request: web.Request) -> web.Response:
        """The v2 document, with the ETag the kube-openapi handler sets (clients revalidate
        with If-None-Match)."""
        if openapi_v2.wants_protobuf(request.headers.get("Accept")):
            # Content-Type as kube-openapi's handler sends it: the Accept type holds an `@`,
            # which Go's mime parser (and so client-go) refuses in a Content-Type.
            data, media = openapi_v2.protobuf_bytes(), "application/octet-stream"
        else:
            data, media = openapi_v2.json_bytes(), "application/json"
        tag = openapi_v2.etag(data)
        headers = {"ETag": tag, "Cache-Control": "no-cache, private", "Vary": "Accept"}
        if request.headers.get("If-None-Match") == tag:
            return web.Response(status=304, headers=headers)
        return web.Response(body=data, headers={**headers, "Content-Type": media})

    def _get_only(self, request: web.Request, doc: Any) -> web.Response:
        if request.method != "GET":
            raise method_not_allowed()
        return json_response(doc)

    async def _group_version(self, request: web.Request, group_version: str,
                             rest: list[str], body: bytes | None) -> web.StreamResponse:
        served = discovery.served_resources(group_version)
        if not served:
            raise not_found_path()
        if not rest:
            return self._get_only(request, discovery.api_resource_list(group_version))
        if rest[0] == "watch":
            request["watch_path"] = True
            rest = rest[1:]
            if request.method != "GET":
                raise method_not_allowed()
        target = parse_target(served, rest)
        if request.get("watch_path") and (target.name or target.subresource):
            if target.subresource:
                raise not_found_path()
            request["watch_name"] = target.name
            target = Target(target.served, target.namespace, None, None)
        assert self._handlers is not None
        return await self._handlers.handle(request, target, body)


def _bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: any free port)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def parse_target(served: dict[str, discovery.Served], rest: list[str]) -> Target:
    """What `[namespaces/NS/]RESOURCE[/NAME[/SUBRESOURCE]]` names (404 if nothing)."""
    if (len(rest) >= 3 and rest[0] == "namespaces" and rest[2] in served
            and served[rest[2]].info.namespaced):
        namespace, plural, tail = rest[1], rest[2], rest[3:]
    else:
        namespace, plural, tail = None, rest[0], rest[1:]
    entry = served.get(plural)
    if entry is None or len(tail) > 2:
        raise not_found_path()
    name = tail[0] if tail else None
    subresource = tail[1] if len(tail) > 1 else None
    if entry.info.namespaced and namespace is None and name is not None:
        raise not_found_path()  # a namespaced object needs its namespace in the URL
    return Target(entry, namespace, name, subresource)
