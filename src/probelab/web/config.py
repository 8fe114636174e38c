"""Typed settings of the sample service, and the checks that turn bad flags into one-line errors.

`probelab.commands.web` reads flags (or their environment variables) as text and hands them to
`parse_config`, which either returns a `WebConfig` or raises `UsageError` naming the flag. The
checks live here, not in click types, so that a bad value is one line on stderr (click's own
errors print the usage block too) and so they can be table-tested without a process.
"""

from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass

from probelab.errors import UsageError

# Limits that keep one client from holding memory or a connection forever (issue 8, security).
MAX_HEADERS = 64  # header lines per request; curl sends 3, browsers about 15
MAX_LINE_BYTES = 8190  # request line and each header line, like nginx's large_client_header_buffers
MAX_BODY_BYTES = 64 * 1024  # no route reads a body; this only bounds what a handler may read
MAX_SLOW_MS = 600_000  # /slow?ms=N above 10 minutes is certainly a typo


@dataclass(frozen=True)
class WebConfig:
    """What one simpleweb process does; every duration is in seconds."""

    host: str = "0.0.0.0"
    port: int = 8080
    admin_port: int = 8081
    app_version: str = "1.0"
    drain_delay_s: float = 0.0  # keep serving this long after SIGTERM before closing listeners
    prestop_delay_s: float = 10.0  # how long GET /prestop holds its answer
    shutdown_timeout_s: float = 20.0  # wait this long for in-flight requests, then cancel them
    startup_delay_s: float = 0.0  # wait this long before listening on the public port
    # An idle connection, or one that has not finished sending its headers (slow loris), is
    # closed after this long. Clients under load reuse connections far more often than that.
    idle_timeout_s: float = 60.0
    pod_name: str = ""


def pod_name_from_env(environ: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """The pod name as Kubernetes would show it: POD_NAME (set by probelab's engine or the
    downward API), else the hostname (which a kubelet sets to the pod name)."""
    return environ.get("POD_NAME") or socket.gethostname()


def _port(flag: str, text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise UsageError(f"{flag} must be a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise UsageError(f"{flag} {value} is out of range (0-65535)")
    return value


def _seconds(flag: str, text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise UsageError(f"{flag} must be a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise UsageError(f"{flag} must be zero or more seconds, got {text!r}")
    return value


def parse_config(
    *,
    host: str,
    port: str,
    admin_port: str,
    app_version: str,
    drain_delay: str,
    prestop_delay: str,
    shutdown_timeout: str,
    startup_delay: str,
    idle_timeout: str,
    pod_name: str,
) -> WebConfig:
    """Check every flag (given as text) and build the config; raise UsageError on the first bad
    one. Binding (port in use, address not local) is checked later, by `server.bind`."""
    if not host.strip():
        raise UsageError("--host must not be empty")
    if not app_version.strip() or any(c in app_version for c in "\r\n"):
        raise UsageError(f"--app-version must be one non-empty line, got {app_version!r}")
    config = WebConfig(
        host=host.strip(),
        port=_port("--port", port),
        admin_port=_port("--admin-port", admin_port),
        app_version=app_version.strip(),
        drain_delay_s=_seconds("--drain-delay", drain_delay),
        prestop_delay_s=_seconds("--prestop-delay", prestop_delay),
        shutdown_timeout_s=_seconds("--shutdown-timeout", shutdown_timeout),
        startup_delay_s=_seconds("--startup-delay", startup_delay),
        idle_timeout_s=_seconds("--idle-timeout", idle_timeout),
        pod_name=pod_name,
    )
    if config.port == config.admin_port and config.port != 0:
        raise UsageError(f"--port and --admin-port must differ (both are {config.port})")
    if config.idle_timeout_s == 0:
        raise UsageError("--idle-timeout must be more than 0 seconds")
    return config
