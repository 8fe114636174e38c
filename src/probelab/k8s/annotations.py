"""Annotations probelab's engine writes on objects, for probelab's own readers.

The engine-only `EndpointsApplied` Event (the service proxy applied an endpoints change) says in
its message what the proxy now routes to, for people; these annotations say it as numbers, for
the demo's observer, which must not parse prose.
"""

from __future__ import annotations

PREFIX = "probelab.io/"
READY_ENDPOINTS = PREFIX + "ready-endpoints"  # endpoints the proxy routes to as ready
TERMINATING_ENDPOINTS = PREFIX + "terminating-endpoints"  # known, terminating (serving or not)
SERVING_TERMINATING_USED = PREFIX + "serving-terminating-used"  # routed to for lack of ready
