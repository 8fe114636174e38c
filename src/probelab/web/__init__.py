"""simpleweb, the sample service of probelab (`probelab web`, images probelab/simpleweb:1.0/2.0).

A tiny aiohttp service that behaves the way a pod should during a rollout: an admin port for the
kubelet (`/healthz`, `/livez`, `/prestop`, `/metrics`), a public port for users (`/`,
`/slow?ms=N`), and a graceful shutdown in logged phases.

    config.py    typed settings and the validation of flags
    shutdown.py  pure rules: readiness by phase, what a signal does, how long to drain
    state.py     the one owner of the counters and the phase
    stats.py     the stats page, as plain text and as HTML (pure)
    metrics.py   Prometheus metrics in a private registry
    app.py       the public application
    admin.py     the admin application
    server.py    sockets, signals, startup and shutdown phases
"""
