"""Pure rules of simpleweb's life cycle: phases, readiness, signals and the drain window.

`server.py` runs the loop and does the I/O; every decision it takes is one of these functions, so
the rules are table-tested without sockets or sleeping (tests/test_web_rules.py).

The sequence they encode (docs/web.md, "Life cycle"):
    STARTING   admin port up, /healthz 503; public port bound but not listening (startup delay)
    SERVING    public port listening, /healthz 200
    DRAINING   after GET /prestop or the first SIGTERM/SIGINT: /healthz 503, still accepting, and
               every public response carries `Connection: close` so keep-alive clients reconnect
               (through the Service) to pods that stay
    CLOSING    listeners closed, idle connections closed with FIN, in-flight requests finishing
    STOPPED    everything closed; the process exits 0
"""

from __future__ import annotations

import signal
from enum import Enum


class Phase(Enum):
    STARTING = "starting"  # waiting the startup delay; not ready
    SERVING = "serving"  # listening and ready
    DRAINING = "draining"  # not ready, still serving, closing each connection after its response
    CLOSING = "closing"  # listeners closed; waiting for in-flight requests
    STOPPED = "stopped"  # nothing left to wait for


class SignalAction(Enum):
    START_SHUTDOWN = "start-shutdown"  # the graceful sequence begins
    FORCE_EXIT = "force-exit"  # a second Ctrl-C: leave now, whatever is in flight
    IGNORE = "ignore"  # a repeated SIGTERM: the sequence is already running


def is_ready(phase: Phase) -> bool:
    """Readiness (`/healthz`): only a serving pod should receive new traffic."""
    return phase is Phase.SERVING


def closes_connections(phase: Phase) -> bool:
    """Whether a public response must carry `Connection: close` (and the connection end after it).

    From the moment draining starts, not only after the listeners close: a client holding a
    keep-alive connection would otherwise keep sending to this pod until the very end, and lose a
    request when the idle connection is finally closed under it."""
    return phase in (Phase.DRAINING, Phase.CLOSING, Phase.STOPPED)


def on_signal(signum: int, shutdown_started: bool) -> SignalAction:
    """What a SIGTERM or SIGINT does. The first starts the graceful sequence; a second SIGINT
    (an impatient Ctrl-C) exits at once; a repeated SIGTERM changes nothing."""
    if not shutdown_started:
        return SignalAction.START_SHUTDOWN
    if signum == signal.SIGINT:
        return SignalAction.FORCE_EXIT
    return SignalAction.IGNORE


def after_prestop(phase: Phase) -> Phase:
    """`GET /prestop` takes the pod out of rotation; it never brings a closing pod back."""
    if phase in (Phase.STARTING, Phase.SERVING):
        return Phase.DRAINING
    return phase


def drain_wait_s(drain_delay_s: float, prestop_started: bool) -> float:
    """How long to keep accepting after the stop signal before closing listeners.

    A preStop hook that called /prestop already held the pod in the draining phase for its whole
    delay (the kubelet sends SIGTERM only after the hook answered), so waiting again would only
    eat into the grace period."""
    return 0.0 if prestop_started else max(0.0, drain_delay_s)

