"""The one owner of simpleweb's mutable state: phase, counters, start time.

Everything runs on one event loop, so plain attributes suffice (no locks). Handlers of both
applications read it; only `server.py`, `/prestop` and the public app's counting change it.
`/metrics` reads it at scrape time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from probelab.web.shutdown import Phase, after_prestop


@dataclass
class ServiceState:
    app_version: str
    pod_name: str
    phase: Phase = Phase.STARTING
    started_monotonic: float = field(default_factory=time.monotonic)
    requests_served: int = 0  # public requests answered (any status)
    in_flight: int = 0  # public requests being handled right now
    prestop_started: bool = False

    def uptime_s(self) -> float:
        return time.monotonic() - self.started_monotonic

    def start_prestop(self) -> bool:
        """Enter draining because of /prestop; True if this call changed the phase."""
        self.prestop_started = True
        before = self.phase
        self.phase = after_prestop(before)
        return self.phase is not before
