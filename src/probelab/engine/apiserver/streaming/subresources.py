"""The entry of `pods/exec`, `pods/attach` and `pods/portforward`: checks, upgrade, protocol.

As the API server does it (`pkg/registry/core/pod/rest/subresources.go` and `strategy.go`):
the pod and container are checked against the object (Status errors: 404, 400); then the
request goes to the node (`core.streaming.PodRuntime`, the kubelet), whose refusals before the
upgrade are its plain-text HTTP errors, proxied as they are (kubectl prints them after
"unable to upgrade connection: "). The WebSocket protocols served are in `channels`; a SPDY
upgrade (kubectl's fallback when WebSockets fail) is answered with the same checks and then a
400 that says only WebSockets are served.

WebSocket framing (RFC 6455: handshake, masking, fragmentation, ping/pong, close) is aiohttp's
`WebSocketResponse`: the API server already runs on aiohttp, whose WebSocket server is part of
the same well-kept package and works on the request as our listener hands it over (TLS,
token, connection limits); writing a second HTTP upgrade path next to it would gain nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web

from probelab.engine.apiserver.registry.generic import Registry
from probelab.engine.apiserver.status import ApiError, bad_request
from probelab.engine.apiserver.streaming import channels, options, portforward, remotecommand
from probelab.engine.core.streaming import ExecRequest, PodRuntime, StreamError, StreamingHub
from probelab.k8s.resources import BY_PLURAL

SUBRESOURCES = ("exec", "attach", "portforward")
MAX_MESSAGE = 4 * 1024 * 1024  # one WebSocket message from the client (aiohttp's default)


def is_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def _runtime(hub: StreamingHub | None) -> PodRuntime:
    runtime = hub.runtime if hub is not None else None
    if runtime is None:
        raise ApiError(503, "ServiceUnavailable",
                       "error dialing backend: the node's kubelet is not running")
    return runtime


def _websocket(request: web.Request, served: Sequence[str]
               ) -> tuple[web.WebSocketResponse, str]:
    """A WebSocket answer with the best common subprotocol, and that protocol (400 if there is
    none, as the kubelet's wsstream answers)."""
    offered = channels.offered(request.headers.get("Sec-WebSocket-Protocol"))
    chosen = channels.choose(offered, served)
    if chosen is None:
        raise bad_request(f"requested protocol(s) are not supported: {offered}; supports "
                          f"{list(served)}")
    ws = web.WebSocketResponse(protocols=(chosen,), max_msg_size=MAX_MESSAGE, autoping=True)
    return ws, chosen


def _node_error(exc: StreamError) -> web.Response:
    """The kubelet's own error, as its streaming server writes it (plain text)."""
    return web.Response(status=exc.code, text=exc.message, content_type="text/plain")


async def serve(request: web.Request, namespace: str, name: str, sub: str, registry: Registry,
                hub: StreamingHub | None) -> web.StreamResponse:
    if request.method not in ("GET", "POST"):
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on "
                                                "the requested resource")
    pod = registry.get_object(BY_PLURAL["pods"], namespace, name)
    if sub == "portforward":
        return await _portforward(request, namespace, name, pod, hub)
    opts = options.stream_options(pod, request.query, request.query.getall("command", []),
                                  exec_=sub == "exec")
    if not is_websocket(request):
        if not options.container_running(pod, opts.container):
            return _node_error(StreamError(500, "InternalError",
                                           f'container not found ("{opts.container}")'))
        raise bad_request(f"the probelab engine serves pods/{sub} over WebSockets only "
                          f"({channels.V5}, {channels.V4}), not "
                          f"{request.headers.get('Upgrade') or 'a plain request'}")
    runtime = _runtime(hub)
    ws, _ = _websocket(request, channels.EXEC_PROTOCOLS)
    wanted = ExecRequest(namespace, name, opts.container, opts.command, opts.stdin, opts.tty)
    try:
        session = await (runtime.exec(wanted) if sub == "exec" else runtime.attach(wanted))
    except StreamError as exc:
        if not exc.upgraded:
            return _node_error(exc)
        await ws.prepare(request)
        await ws.send_bytes(channels.status_frame(channels.error_status(exc.message)))
        await ws.close()
        return ws
    try:
        await ws.prepare(request)
    except BaseException:
        session.kill()
        raise
    return await remotecommand.serve(request, ws, session, opts)


async def _portforward(request: web.Request, namespace: str, name: str, pod: dict[str, Any],
                       hub: StreamingHub | None) -> web.StreamResponse:
    if not (pod.get("spec") or {}).get("nodeName"):
        raise bad_request(f"pod {name} does not have a host assigned")
    if not is_websocket(request):
        raise bad_request("the probelab engine serves pods/portforward over WebSockets only "
                          f"({channels.SPDY_TUNNEL}, {channels.V4}), not "
                          f"{request.headers.get('Upgrade') or 'a plain request'}")
    ws, protocol = _websocket(request, channels.PORTFORWARD_PROTOCOLS)
    ports: list[int] = []
    if protocol != channels.SPDY_TUNNEL:  # SPDY names the port per stream
        ports = options.ports_of(request.query.getall("ports", []))
    runtime = _runtime(hub)
    await ws.prepare(request)
    if protocol == channels.SPDY_TUNNEL:
        await portforward.SpdyTunnel(ws, runtime, namespace, name).run()
    else:
        await portforward.serve_channels(ws, runtime, namespace, name, ports)
    return ws
