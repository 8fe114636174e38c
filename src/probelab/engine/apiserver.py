"""The engine's API server: a Kubernetes-compatible REST subset over JSON on loopback.

Routing (`/api`, `/apis/GROUP/VERSION`, `[watch/]namespaces/NS/RESOURCE/NAME/SUBRESOURCE`),
bearer-token authentication, body limits and the translation of every failure into a `Status`
live here; the verbs are in `probelab.engine.api.handlers`, the per-kind rules in
`probelab.engine.registry`, discovery documents in `probelab.engine.api.discovery`.
No input may crash it: an unexpected exception becomes a 500 Status and serving goes on.
Started first and stopped last by `probelab.engine.cluster`.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from typing import Any

from aiohttp import web

from probelab.engine.api import discovery
from probelab.engine.api.handlers import (
    Handlers,
    Target,
    json_response,
    method_not_allowed,
    not_found_path,
)
from probelab.engine.api.params import MAX_BODY_BYTES
from probelab.engine.api.status import (
    TOO_LARGE,
    UNAUTHORIZED,
    ApiError,
    from_store_error,
    status_body,
)
from probelab.engine.api.watch import StreamRegistry
from probelab.engine.context import EngineContext
from probelab.engine.registry import Registry
from probelab.engine.store import StoreError
from probelab.errors import UsageError

log = logging.getLogger("probelab.engine.apiserver")

# Paths the real server lets anyone read (`system:public-info-viewer`).
PUBLIC_PATHS = frozenset({"/version", "/healthz", "/livez", "/readyz"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ApiServer:
    """The `apiserver` component; `url` is the address it really bound."""

    name = "apiserver"
    bookmark_interval_s = 30.0  # real servers send a bookmark about once a minute
    shutdown_timeout_s = 2.0

    def __init__(self) -> None:
        self.url = ""
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
        self._handlers = Handlers(ctx.store, self.registry, config.state_dir, self._streams,
                                  self.bookmark_interval_s)
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        runner = web.AppRunner(app, access_log=None, handle_signals=False,
                               shutdown_timeout=self.shutdown_timeout_s)
        await runner.setup()
        site = web.TCPSite(runner, config.host, config.port,
                           shutdown_timeout=self.shutdown_timeout_s)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise UsageError(f"cannot listen on {config.host}:{config.port}: "
                             f"{exc.strerror or exc}") from None
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        log.info("API server listening on %s", self.url)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._streams.close_all()
        await runner.cleanup()

    # ---- request pipeline -----------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
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
        path = request.path
        if path in PUBLIC_PATHS:
            if request.method != "GET":
                raise method_not_allowed()
            if path == "/version":
                return json_response(discovery.version_info())
            return web.Response(text="ok", content_type="text/plain")
        if not self._authorized(request):
            return json_response(status_body(401, "Unauthorized", UNAUTHORIZED), 401)
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
