"""Annotations probelab reads or writes, in one place.

Written by the engine: the engine-only `EndpointsApplied` Event (the service proxy applied an
endpoints change) says in its message what the proxy now routes to, for people; these
annotations say it as numbers, for the demo's observer, which must not parse prose.

Read by `probelab check` from a pod template: the timings a manifest cannot express (how long an
httpGet preStop hook or the app's own drain takes) and the rules to skip (docs/check.md).
"""

from __future__ import annotations

PREFIX = "probelab.io/"
READY_ENDPOINTS = PREFIX + "ready-endpoints"  # endpoints the proxy routes to as ready
TERMINATING_ENDPOINTS = PREFIX + "terminating-endpoints"  # known, terminating (serving or not)
SERVING_TERMINATING_USED = PREFIX + "serving-terminating-used"  # routed to for lack of ready

PRESTOP_DELAY_SECONDS = PREFIX + "prestop-delay-seconds"  # what the preStop hook waits
DRAIN_SECONDS = PREFIX + "drain-seconds"  # how long the app takes to finish after SIGTERM
CHECK_IGNORE = PREFIX + "check-ignore"  # rule IDs `probelab check` skips for this object
