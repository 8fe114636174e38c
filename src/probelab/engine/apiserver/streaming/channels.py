"""The channel protocols of the Kubernetes WebSocket streams: pure encoding and decisions.

Sources: `staging/src/k8s.io/apimachinery/pkg/util/remotecommand/constants.go` (the protocol
names), `staging/src/k8s.io/apiserver/pkg/util/wsstream/conn.go` (one binary message = one
channel byte + data), `pkg/kubelet/cri/streaming/remotecommand/websocket.go` (channel numbers,
the empty first message), `.../remotecommand/httpstream.go` and `exec.go` (the Status written
on the error channel: Success, or Failure/NonZeroExitCode with an ExitCode cause), and KEP-4006
(v5: channel 255 closes the channel named by the next byte, e.g. stdin EOF).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aiohttp import WSMsgType

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
SPDY_TUNNEL = "SPDY/3.1+portforward.k8s.io"  # port-forward: SPDY inside WebSocket (KEP-4006)

# What each subresource accepts, best first.
EXEC_PROTOCOLS = (V5, V4)
PORTFORWARD_PROTOCOLS = (SPDY_TUNNEL, V4)  # v4: the official client's channel port-forward

STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255  # v5 only


def offered(header: str | None) -> list[str]:
    """The subprotocols of a `Sec-WebSocket-Protocol` header (several headers are joined by
    the HTTP layer with commas)."""
    return [p.strip() for p in (header or "").split(",") if p.strip()]


def choose(client: Sequence[str], server: Sequence[str]) -> str | None:
    """The server's best protocol the client offered (the kubelet's `wsstream` picks by its
    own preference), or None."""
    for protocol in server:
        if protocol in client:
            return protocol
    return None


def payload(message: object) -> bytes | None:
    """The bytes of a data message: binary, or text (the kubelet's `wsstream` reads both the
    same way; the official Python client sends str stdin as text frames); None otherwise."""
    kind, data = getattr(message, "type", None), getattr(message, "data", None)
    if kind is WSMsgType.BINARY:
        return bytes(data or b"")
    if kind is WSMsgType.TEXT:
        return str(data).encode()
    return None


def frame(channel: int, data: bytes = b"") -> bytes:
    return bytes((channel,)) + data


def parse(message: bytes) -> tuple[int, bytes] | None:
    """(channel, data) of a binary message; None for an empty one (ignored, as wsstream does)."""
    if not message:
        return None
    return message[0], message[1:]


def success_status() -> dict[str, Any]:
    return {"metadata": {}, "status": "Success"}


def exit_status(command: Sequence[str], code: int) -> dict[str, Any]:
    """The Status of a command that exited non-zero (kubectl: "command terminated with exit
    code N" and that exit code)."""
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command "
                       f"[{' '.join(command)}], exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def error_status(message: str, code: int = 500, reason: str = "InternalError"
                 ) -> dict[str, Any]:
    """Any other failure on the error channel (`apierrors.NewInternalError` by default)."""
    text = f"Internal error occurred: {message}" if reason == "InternalError" else message
    body: dict[str, Any] = {"metadata": {}, "status": "Failure", "message": text,
                            "reason": reason, "code": code}
    if reason == "InternalError":
        body["details"] = {"causes": [{"message": message}]}
    return body


def status_frame(status: dict[str, Any]) -> bytes:
    return frame(ERROR, json.dumps(status, separators=(",", ":")).encode())


def parse_resize(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a resize message `{"Width": w, "Height": h}`; None if malformed."""
    try:
        doc = json.loads(data)
        width, height = int(doc["Width"]), int(doc["Height"])
    except (ValueError, KeyError, TypeError):
        return None
    if not (0 <= width < 65536 and 0 <= height < 65536):
        return None
    return width, height


def port_prefix(channel: int, port: int) -> bytes:
    """The first message on each channel of a channel port-forward: the port, 2 bytes LE
    (`pkg/kubelet/cri/streaming/portforward/websocket.go`)."""
    return frame(channel, port.to_bytes(2, "little"))
