"""The client's own budget of file descriptors: every connection is one, and the limit is ours.

A run with `-c 2000` from a shell whose soft RLIMIT_NOFILE is 1024 would fail its own
connects with EMFILE ("Too many open files"): a problem of the client, which must never show
up as a failed request of the server. So a run first raises its soft limit to the hard one
(any process may), then opens at most as many connections as fit, and says so when `-c` asks
for more. The arithmetic is pure (`connection_cap`, `fd_note`); only `raise_fd_limit` and
`open_fds` touch the process.
"""

from __future__ import annotations

import os
import resource

# Descriptors kept for what the process opens besides connections: the event loop's own, the
# resolver, the --json/--csv files, the connection a name with several addresses is tried on.
SPARE_FDS = 32
_UNLIMITED_TARGET = 1 << 20  # what "unlimited" is taken to mean (Linux caps it at nr_open)


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE as far as the hard limit allows; the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _UNLIMITED_TARGET if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft
        return target
    return _UNLIMITED_TARGET if soft == resource.RLIM_INFINITY else soft


def open_fds() -> int:
    """Descriptors this process has open now (Linux; elsewhere a guess: stdin/out/err)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 3


def connection_cap(concurrency: int, fd_limit: int, in_use: int) -> int:
    """How many of the `concurrency` connections fit under `fd_limit` (at least one)."""
    return min(concurrency, max(1, fd_limit - in_use - SPARE_FDS))


def fd_note(concurrency: int, used: int, fd_limit: int) -> str | None:
    """What to tell the user when `-c` does not fit; None when it does."""
    if used >= concurrency:
        return None
    return (f"-c {concurrency} exceeds the file descriptors this process may open ({fd_limit}, "
            f"its hard limit): at most {used} connections are used. Raise the hard limit "
            "(ulimit -Hn, or LimitNOFILE) to go further")
