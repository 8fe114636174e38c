"""The resource handlers: one method per REST verb, each turning a parsed request into registry
calls and a JSON response (or a stream).

Verb mapping as in `staging/src/k8s.io/apiserver/pkg/endpoints/installer.go`: GET collection =
list (or watch), POST collection = create, DELETE collection = deletecollection; GET/PUT/PATCH/
DELETE on a name; `status`, `scale` and `log` subresources. Responses carry `kind`/`apiVersion`
of the group-version the client asked for. Neighbours: `probelab.engine.apiserver.server` (routing,
auth, errors), `probelab.engine.apiserver.registry.generic` (the rules).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from probelab.engine.apiserver import logs, params, watch
from probelab.engine.apiserver.discovery import Served
from probelab.engine.apiserver.model import SUPPORTED_PATCHES, PatchType, apply_patch
from probelab.engine.apiserver.printing import tables
from probelab.engine.apiserver.registry import eviction
from probelab.engine.apiserver.registry.generic import Registry
from probelab.engine.apiserver.status import (
    METHOD_NOT_ALLOWED,
    NOT_FOUND_PATH,
    ApiError,
    bad_request,
)
from probelab.engine.apiserver.streaming import subresources as streaming
from probelab.engine.core import podlogs
from probelab.engine.core.store import Obj, Store
from probelab.engine.core.streaming import StreamingHub

FIELD_VALIDATION = ("Strict", "Warn", "Ignore")


@dataclass(frozen=True)
class Target:
    """What a resource URL names."""

    served: Served
    namespace: str | None  # None: all namespaces (or a cluster-scoped resource)
    name: str | None
    subresource: str | None


def json_response(obj: Any, status: int = 200, warnings: list[str] | None = None
                  ) -> web.Response:
    response = web.Response(body=json.dumps(obj, separators=(",", ":")).encode(),
                            status=status, content_type="application/json")
    for text in warnings or ():
        # A control character or a lone surrogate (a field name from the client can hold
        # either) would make the header unsendable and drop the connection after the object
        # was stored.
        text = "".join(" " if ord(c) < 0x20 or ord(c) == 0x7F else c for c in text)
        text = text.encode("utf-8", "replace").decode("utf-8")
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        response.headers.add("Warning", f'299 - "{escaped}"')
    return response


def render(obj: Obj, served: Served) -> Obj:
    """The object as the requested group-version shows it."""
    obj["apiVersion"] = served.group_version
    obj["kind"] = served.info.kind
    return obj


class Handlers:
    def __init__(self, store: Store, registry: Registry, state_dir: Path | None,
                 streams: watch.StreamRegistry, bookmark_interval_s: float,
                 streaming_hub: StreamingHub | None = None) -> None:
        self.store = store
        self.streaming_hub = streaming_hub  # the kubelet's exec/attach/port-forward
        self.registry = registry
        self.state_dir = state_dir
        self.streams = streams
        self.bookmark_interval_s = bookmark_interval_s

    async def handle(self, request: web.Request, target: Target, body: bytes | None
                     ) -> web.StreamResponse:
        method = request.method
        if target.subresource:
            return await self._subresource(request, target, body)
        if target.name is None:
            if method == "GET":
                return await self.list_or_watch(request, target)
            if method == "POST":
                return self.create(request, target, body)
            if method == "DELETE":
                return self.delete_collection(request, target, body)
        else:
            if method == "GET":
                return self.get(target, request)
            if method == "PUT":
                return self.update(request, target, body)
            if method == "PATCH":
                return self.patch(request, target, body)
            if method == "DELETE":
                return self.delete(request, target, body)
        raise method_not_allowed()

    # ---- reads -------------------------------------------------------------------------
    def get(self, target: Target, request: web.Request) -> web.Response:
        info = target.served.info
        obj = render(self.registry.get_object(info, target.namespace, target.name or ""),
                     target.served)
        if table := self._table_request(request):
            return json_response(tables.to_table(info.plural, [obj], self.store.clock.now(),
                                                 table))
        return json_response(obj)

    def _table_request(self, request: web.Request) -> tables.IncludeObject | None:
        """The rows' `includeObject` when the client asked for a Table (kubectl get), else None."""
        if not tables.wants_table(request.headers.get("Accept")):
            return None
        raw = request.query.get("includeObject") or "Metadata"
        try:
            return tables.IncludeObject(raw)
        except ValueError:
            raise bad_request(f'includeObject: Unsupported value: "{raw}": supported values: '
                              '"None", "Metadata", "Object"') from None

    async def list_or_watch(self, request: web.Request, target: Target) -> web.StreamResponse:
        info = target.served.info
        query = request.query
        selector = params.label_selector(query)
        where = params.field_selector(query, info.plural)
        watch_name = request.get("watch_name")
        if watch_name:
            by_field = where

            def where(obj: Obj) -> bool:
                named = obj["metadata"].get("name") == watch_name
                return named and (by_field is None or by_field(obj))

        if params.flag(query, "watch") or request.get("watch_path"):
            return await self._watch(request, target, selector, where)
        items, rv = self.store.list(info.plural, target.namespace, selector, where)
        if table := self._table_request(request):
            rendered = [render(item, target.served) for item in items]
            return json_response(tables.to_table(info.plural, rendered, self.store.clock.now(),
                                                 table, resource_version=str(rv)))
        return json_response({
            "kind": info.list_kind,
            "apiVersion": target.served.group_version,
            "metadata": {"resourceVersion": str(rv)},
            "items": [render(item, target.served) for item in items],
        })

    async def _watch(self, request: web.Request, target: Target, selector: Any, where: Any
                     ) -> web.StreamResponse:
        query = request.query
        raw_rv = query.get("resourceVersion", "")
        initial_events = params.flag(query, "sendInitialEvents")
        if initial_events:
            if not params.flag(query, "allowWatchBookmarks"):
                raise bad_request("sendInitialEvents requires allowWatchBookmarks=true")
            if query.get("resourceVersionMatch") != "NotOlderThan":
                raise bad_request("sendInitialEvents requires resourceVersionMatch=NotOlderThan")
        if raw_rv in ("", "0") or initial_events:
            # "any" (or a streaming list): the current objects as ADDED first; the store is
            # always at least as new as any version it handed out (NotOlderThan holds).
            since = None
        else:
            try:
                since = int(raw_rv)
            except ValueError:
                raise bad_request(f'invalid resource version "{raw_rv}"') from None
        timeout_s = params.int_param(query, "timeoutSeconds")
        bookmarks = params.flag(query, "allowWatchBookmarks")
        served = target.served
        table = self._table_request(request)
        clock = self.store.clock

        def show(obj: Obj) -> Obj:
            obj = render(dict(obj), served)
            if table is None:
                return obj
            return tables.to_table(served.info.plural, [obj], clock.now(), table,
                                   resource_version=obj["metadata"].get("resourceVersion"))

        return await watch.serve_watch(
            request, self.streams, self.store, resource=served.info.plural,
            namespace=target.namespace, selector=selector, where=where, since=since,
            timeout_s=timeout_s, bookmark_interval_s=self.bookmark_interval_s if bookmarks
            else None, render=show,
            bookmark_stub={"kind": served.info.kind, "apiVersion": served.group_version},
            initial_events_end=initial_events)

    # ---- writes ------------------------------------------------------------------------
    def create(self, request: web.Request, target: Target, body: bytes | None) -> web.Response:
        served = target.served
        doc = params.decode_body(body or b"", body_type(request))
        obj, warnings = self.registry.decode(served.info, served.group_version, doc,
                                             field_validation(request.query))
        created = self.registry.create(served.info, target.namespace, obj,
                                       params.dry_run_param("POST", request.query))
        return json_response(render(created, served), 201, warnings)

    def update(self, request: web.Request, target: Target, body: bytes | None) -> web.Response:
        served = target.served
        doc = params.decode_body(body or b"", body_type(request))
        obj, warnings = self.registry.decode(served.info, served.group_version, doc,
                                             field_validation(request.query))
        updated = self.registry.update(served.info, target.namespace, target.name or "", obj,
                                       target.subresource,
                                       params.dry_run_param("PUT", request.query))
        return json_response(render(updated, served), 200, warnings)

    def patch(self, request: web.Request, target: Target, body: bytes | None) -> web.Response:
        served = target.served
        patch_type = check_patch_type(body_type(request))
        dry_run = params.dry_run_param("PATCH", request.query)
        doc = params.decode_body(body or b"", "application/json")
        current = render(self.registry.get_object(served.info, target.namespace, target.name or ""),
                         served)
        updated, warnings = self.registry.patch(
            served.info, target.namespace, target.name or "", current, doc, patch_type,
            served.group_version, field_validation(request.query), target.subresource, dry_run)
        return json_response(render(updated, served), 200, warnings)

    def delete(self, request: web.Request, target: Target, body: bytes | None) -> web.Response:
        doc = params.decode_body(body, "application/json") if body and body.strip() else None
        options = params.delete_options(request.query, doc,
                                        params.dry_run_param("DELETE", request.query, doc))
        result = self.registry.delete(target.served.info, target.namespace, target.name or "",
                                      options)
        obj = result.obj
        if obj.get("kind") != "Status":
            obj = render(obj, target.served)
        return json_response(obj, result.code, result.warnings)

    def delete_collection(self, request: web.Request, target: Target, body: bytes | None
                          ) -> web.Response:
        info = target.served.info
        doc = params.decode_body(body, "application/json") if body and body.strip() else None
        options = params.delete_options(request.query, doc,
                                        params.dry_run_param("DELETE", request.query, doc))
        items, _ = self.store.list(info.plural, target.namespace,
                                   params.label_selector(request.query),
                                   params.field_selector(request.query, info.plural))
        deleted = []
        for item in items:
            m = item["metadata"]
            try:
                result = self.registry.delete(info, m.get("namespace"), m["name"], options)
            except ApiError as exc:
                if exc.code == 404:
                    continue  # removed meanwhile by a cascade
                raise
            if result.obj.get("kind") != "Status":
                deleted.append(render(result.obj, target.served))
        return json_response({"kind": info.list_kind, "apiVersion": target.served.group_version,
                              "metadata": {"resourceVersion": str(self.store.resource_version)},
                              "items": deleted})

    # ---- subresources --------------------------------------------------------------------
    async def _subresource(self, request: web.Request, target: Target, body: bytes | None
                           ) -> web.StreamResponse:
        info = target.served.info
        sub = target.subresource
        if sub not in info.subresources or target.name is None:
            raise not_found_path()
        method = request.method
        if sub in streaming.SUBRESOURCES:
            return await streaming.serve(request, target.namespace or "", target.name, sub,
                                         self.registry, self.streaming_hub)
        if sub == "log":
            if method != "GET":
                raise method_not_allowed()
            return await self.log(request, target)
        if sub == "status":
            if method == "GET":
                return self.get(target, request)
            if method == "PUT":
                return self.update(request, target, body)
            if method == "PATCH":
                return self.patch(request, target, body)
            raise method_not_allowed()
        if sub == "eviction":
            if method != "POST":
                raise method_not_allowed()
            doc = params.decode_body(body or b"", body_type(request))
            return json_response(eviction.evict(self.registry, target.namespace or "",
                                                target.name, doc), 201)
        return self.scale(request, target, body)

    def scale(self, request: web.Request, target: Target, body: bytes | None) -> web.Response:
        info, ns, name = target.served.info, target.namespace, target.name or ""
        method = request.method
        if method == "GET":
            return json_response(self.registry.get_scale(info, ns, name))
        if method == "PUT":
            dry_run = params.dry_run_param(method, request.query)
            doc = params.decode_body(body or b"", body_type(request))
            return json_response(self.registry.update_scale(info, ns, name, doc, dry_run))
        if method == "PATCH":
            patch_type = check_patch_type(body_type(request))
            dry_run = params.dry_run_param(method, request.query)
            doc = params.decode_body(body or b"", "application/json")
            current = self.registry.get_scale(info, ns, name)
            patched = apply_patch(current, doc, patch_type, "Scale")
            return json_response(self.registry.update_scale(info, ns, name, patched, dry_run))
        raise method_not_allowed()

    async def log(self, request: web.Request, target: Target) -> web.StreamResponse:
        ns, name = target.namespace or "", target.name or ""
        pod = self.registry.get_object(target.served.info, ns, name)
        containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []
                      if isinstance(c, dict)]
        container = request.query.get("container")
        if not container:
            if len(containers) != 1:
                raise bad_request(f"a container name must be specified for pod {name}, "
                                  f"choose one of: [{' '.join(map(str, containers))}]")
            container = containers[0]
        elif container not in containers:
            raise bad_request(f"container {container} is not valid for pod {name}")
        uid = str(pod["metadata"].get("uid") or "")
        query = request.query
        previous = params.flag(query, "previous")
        run = logs.run_to_read(pod, container, previous)
        path = podlogs.log_path(self.state_dir, uid, container, run) if self.state_dir else None
        if path is None or not path.exists():
            if previous:
                raise bad_request(f'previous terminated container "{container}" in pod '
                                  f'"{name}" not found')
            raise bad_request(f'container "{container}" in pod "{name}" is waiting to start: '
                              "ContainerCreating")
        options = podlogs.LogOptions(
            timestamps=params.flag(query, "timestamps"),
            since_ns=logs.since_ns(query, self.store.clock.now()),
            limit_bytes=params.int_param(query, "limitBytes", minimum=1))
        try:
            start, end = podlogs.read_range(path, params.int_param(query, "tailLines"))
        except FileNotFoundError:  # removed with its pod meanwhile
            raise not_found_path() from None

        def same_run() -> bool:
            """Follow while this run may still write: the kubelet ends a follow when the
            container is no longer running."""
            current = self.store.find("pods", ns, name)
            if current is None or current["metadata"].get("uid") != uid:
                return False
            entry = logs.container_status(current, container)
            if entry is None:
                return True
            return "running" in (entry.get("state") or {}) and (
                entry.get("restartCount") or 0) == run

        if params.flag(query, "follow") and not previous:
            return await watch.follow_log(request, self.streams, path, start, end, same_run,
                                          options)
        return await watch.serve_log(request, path, start, end, options)


def field_validation(query: Mapping[str, str]) -> str:
    """`?fieldValidation=`: the server's default is Warn (GA in 1.27, KEP-2885)."""
    value = query.get("fieldValidation") or "Warn"
    if value not in FIELD_VALIDATION:
        raise bad_request(f'fieldValidation: Unsupported value: "{value}": supported values: '
                          '"Ignore", "Strict", "Warn"')
    return value


def check_patch_type(content_type: str) -> str:
    kind = params.media_type(content_type)
    if kind in (PatchType.APPLY_YAML, PatchType.APPLY_CBOR):
        raise ApiError(415, "UnsupportedMediaType",
                       "server-side apply (application/apply-patch+yaml) is not supported by "
                       "the probelab engine; use kubectl apply without --server-side, or a "
                       "merge, strategic merge or JSON patch")
    if kind not in SUPPORTED_PATCHES:
        raise ApiError(415, "UnsupportedMediaType",
                       f"the body of the request was in an unknown format - accepted media "
                       f"types include: {', '.join(SUPPORTED_PATCHES)}")
    return kind


def method_not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed", METHOD_NOT_ALLOWED, {})


def not_found_path() -> ApiError:
    return ApiError(404, "NotFound", NOT_FOUND_PATH, {})


def body_type(request: web.Request) -> str:
    """The Content-Type as sent; aiohttp reports a missing one as `application/octet-stream`,
    while the API server treats a missing one as JSON (the Python client sends none)."""
    return request.headers.get("Content-Type", "")
