"""Pure: why a container's program failed, where the local engine itself is the cause.

In the userspace data plane every pod shares the machine's network namespace: a program that
binds 0.0.0.0:PORT (as most servers do) takes the port for every address, so a second replica
of the same program fails with EADDRINUSE, which on a cluster (a network namespace per pod)
never happens. `bind_conflict` recognises that in the tail of the container's log and says what
to do; the kubelet records it as a Warning Event `PortInUse` when the container exits.
"""

from __future__ import annotations

import re

_IN_USE = re.compile(r"address already in use|EADDRINUSE|Errno 98\b|WSAEADDRINUSE", re.I)


def bind_conflict(log_tail: str, container: str) -> str | None:
    """The Event message when the log says a bind failed with EADDRINUSE, else None."""
    if not _IN_USE.search(log_tail):
        return None
    return (f"Container {container} could not bind its port: address already in use. In the "
            "userspace data plane all pods share this machine's network, so a program that "
            "binds 0.0.0.0:PORT collides with another replica (or another program) on that "
            "port. Bind $POD_IP instead (each pod has its own loopback address), or run the "
            "engine with --dataplane kernel (a network namespace per pod, as on a cluster).")


def read_tail(text: bytes, limit: int = 4096) -> str:
    return text[-limit:].decode(errors="replace")
