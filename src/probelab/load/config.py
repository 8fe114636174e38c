"""What a load run sends and for how long: a typed, validated config (the CLI only fills it).

Validation lives here so that the CLI and the demo get the same one-line `UsageError`s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from probelab.errors import UsageError

DEFAULT_REQUESTS = 200
DEFAULT_CONCURRENCY = 50
_TOKEN_CHARS = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(frozen=True)
class Target:
    """Where requests go, parsed once: the connect address and the request-target."""

    host: str
    port: int
    path: str  # path + query, as sent in the request line
    host_header: str


@dataclass(frozen=True)
class LoadConfig:
    """One load run. At least one bound: `requests` and/or `duration_s` (the first reached wins).

    `rate_rps` set → open model: requests start on a fixed schedule whatever the server does,
    at most `concurrency` in flight (more wait, and their wait counts as latency).
    `rate_rps` None → closed model: `concurrency` workers send back to back.
    """

    url: str
    requests: int | None = DEFAULT_REQUESTS
    concurrency: int = DEFAULT_CONCURRENCY
    duration_s: float | None = None
    rate_rps: float | None = None
    timeout_s: float = 10.0
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    disable_keepalive: bool = False
    resend_reused: bool = True  # send again after the keep-alive race (safe methods only)
    target: Target = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.requests is None and self.duration_s is None:
            raise UsageError("give a bound: a number of requests (-n) or a duration (-z)")
        if self.requests is not None and self.requests < 1:
            raise UsageError(f"-n must be at least 1, got {self.requests}")
        if self.duration_s is not None and not self.duration_s > 0:
            raise UsageError(f"the duration must be positive, got {self.duration_s}")
        if self.concurrency < 1:
            raise UsageError(f"-c must be at least 1, got {self.concurrency}")
        if self.rate_rps is not None and not self.rate_rps > 0:
            raise UsageError(f"--rate must be a positive number of requests/s, got {self.rate_rps}")
        if not self.timeout_s > 0:
            raise UsageError(f"the timeout must be positive, got {self.timeout_s}")
        if not self.method or not set(self.method) <= _TOKEN_CHARS:
            raise UsageError(f"invalid HTTP method {self.method!r}")
        for name, value in self.headers:
            check_header(name, value)
        object.__setattr__(self, "target", parse_url(self.url))


def parse_url(url: str) -> Target:
    """An http:// URL → Target, or a UsageError naming what is wrong with it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"invalid URL {url!r}: {exc}") from None
    if parts.scheme == "https":
        raise UsageError(f"https is not supported, use http:// ({url!r})")
    if parts.scheme != "http":
        raise UsageError(f"invalid URL {url!r}: expected http://HOST[:PORT]/PATH")
    host = parts.hostname
    if not host:
        raise UsageError(f"invalid URL {url!r}: no host")
    if any(c.isspace() for c in url):
        raise UsageError(f"invalid URL {url!r}: contains whitespace")
    port = port or 80
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    netloc_host = f"[{host}]" if ":" in host else host
    host_header = netloc_host if port == 80 else f"{netloc_host}:{port}"
    return Target(host=host, port=port, path=path, host_header=host_header)


def check_header(name: str, value: str) -> None:
    if not name or not set(name) <= _TOKEN_CHARS:
        raise UsageError(f"invalid header name {name!r}")
    if "\r" in value or "\n" in value:
        raise UsageError(f"invalid value for header {name!r}: contains a line break")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise UsageError(f"invalid value for header {name!r}: not latin-1 text") from None


def parse_header(text: str) -> tuple[str, str]:
    """`-H "Name: value"` → (name, value)."""
    name, sep, value = text.partition(":")
    if not sep:
        raise UsageError(f"invalid header {text!r}: expected 'Name: value'")
    name, value = name.strip(), value.strip()
    check_header(name, value)
    return name, value


def request_bytes(config: LoadConfig) -> bytes:
    """The request, serialized once: every request of a run is the same bytes."""
    target = config.target
    given = {name.lower() for name, _ in config.headers}
    lines = [f"{config.method} {target.path} HTTP/1.1"]
    if "host" not in given:
        lines.append(f"Host: {target.host_header}")
    if "user-agent" not in given:
        lines.append("User-Agent: probelab-load")
    lines.extend(f"{name}: {value}" for name, value in config.headers)
    if config.method in ("POST", "PUT", "PATCH") and "content-length" not in given:
        lines.append("Content-Length: 0")
    if config.disable_keepalive and "connection" not in given:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
