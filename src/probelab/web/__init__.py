"""simpleweb, the sample service of probelab (`probelab web`, images probelab/simpleweb:1.0/2.0).

A tiny HTTP/1.1 service (its own asyncio protocol on httptools, on uvloop where installed) that
behaves the way a pod should during a rollout: an admin port for the kubelet (`/healthz`,
`/livez`, `/prestop`, `/metrics`), a public port for users (`/`, `/slow?ms=N`), and a graceful
shutdown in logged phases. docs/web.md says why its own server rather than aiohttp or uvicorn.

    config.py      typed settings and the validation of flags
    shutdown.py    pure rules: readiness by phase, what a signal does, how long to drain
    state.py       the one owner of the counters and the phase
    stats.py       the stats page, as plain text and as HTML (pure)
    http1.py       pure HTTP/1.1 rules (RFC 9110/9112): framing, limits, Connection, responses
    protocol.py    the asyncio protocol on httptools, and the connections of one port
    exposition.py  Prometheus text format from plain numbers; process_* from /proc
    metrics.py     the counters as plain integers, written out at scrape time
    app.py         the public routes, counting every answer
    admin.py       the admin routes
    server.py      sockets, signals, startup and shutdown phases
"""
