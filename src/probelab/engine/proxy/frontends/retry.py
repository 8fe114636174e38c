"""What ingress-nginx does when a try at an upstream fails (pure, no I/O).

nginx's `proxy_next_upstream error timeout` (ingress-nginx's default proxy-next-upstream)
passes a request to the next upstream when connecting failed or timed out, or when the
upstream failed or timed out before a response header came back; a request with a
non-idempotent method (POST, LOCK, PATCH) is passed on only if it was not yet sent
(ngx_http_proxy_module, proxy_next_upstream, since nginx 1.9.13). At most
`proxy-next-upstream-tries` tries in all (3). When no try is left: 504 Gateway Time-out after a
timeout, else 502 Bad Gateway. An upstream with no endpoints at all: 503 (ingress-nginx's Lua
balancer finds no peer).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

from probelab.engine.proxy.rules import Endpoint

NON_IDEMPOTENT = frozenset({"POST", "LOCK", "PATCH"})
NO_ENDPOINTS = 503


class Failure(Enum):
    CONNECT_ERROR = "connect error"  # refused, reset or unreachable before the request was sent
    CONNECT_TIMEOUT = "connect timeout"  # proxy-connect-timeout, the request not sent
    ERROR = "error"  # reset or closed after the request was sent, before a response header
    TIMEOUT = "timeout"  # proxy-read-timeout, after the request was sent


def status_for(failure: Failure) -> int:
    """What the client gets when this failure was the last try."""
    return 504 if failure in (Failure.TIMEOUT, Failure.CONNECT_TIMEOUT) else 502


def retries(method: str, failure: Failure, tries_done: int, max_tries: int) -> bool:
    """Whether the request goes to the next upstream after `tries_done` tries."""
    if tries_done >= max_tries:
        return False
    sent = failure in (Failure.ERROR, Failure.TIMEOUT)
    return not (sent and method.upper() in NON_IDEMPOTENT)


def pick(usable: Sequence[Endpoint], tried: Sequence[Endpoint], cursor: int) -> Endpoint | None:
    """Round robin (ingress-nginx's default load-balance) from `cursor`, skipping endpoints this
    request already tried while untried ones remain; None when there is no endpoint."""
    if not usable:
        return None
    order = [usable[(cursor + i) % len(usable)] for i in range(len(usable))]
    fresh = [e for e in order if e not in tried]
    return (fresh or order)[0]
