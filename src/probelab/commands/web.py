"""`probelab web`: run the sample service simpleweb (docs/web.md).

Flags are read as text and checked by `probelab.web.config.parse_config`, so a bad value is one
line and exit 2. Each flag can also come from an environment variable (`PROBELAB_WEB_<FLAG>`):
the container image runs `probelab web` without arguments, and the manifests tune it through
`env:` (deploy/kubernetes/withprobes sets PROBELAB_WEB_PRESTOP_DELAY). A flag on the command
line wins over its variable.
"""

from __future__ import annotations

import click

ENV_PREFIX = "PROBELAB_WEB_"


def _option(flag: str, default: str, help_text: str, metavar: str):
    name = flag.lstrip("-").replace("-", "_")
    return click.option(
        flag, name, default=default, show_default=True, metavar=metavar,
        envvar=ENV_PREFIX + name.upper(), show_envvar=True, help=help_text,
    )


@click.command(name="web")
@_option("--host", "0.0.0.0", "Address to listen on (both ports).", "ADDRESS")
@_option("--port", "8080", "Public port: / (stats page) and /slow?ms=N.", "PORT")
@_option("--admin-port", "8081", "Admin port: /healthz /livez /prestop /metrics.", "PORT")
@_option("--app-version", "1.0", "Version shown on / and sent as X-App-Version.", "VERSION")
@_option("--drain-delay", "0", "Seconds to keep serving after SIGTERM before closing listeners "
         "(skipped when /prestop already drained).", "SECONDS")
@_option("--prestop-delay", "10", "Seconds GET /prestop holds before answering.", "SECONDS")
@_option("--shutdown-timeout", "20", "Seconds to wait for in-flight requests once listeners "
         "are closed; the rest are cancelled.", "SECONDS")
@_option("--startup-delay", "0", "Seconds to wait before listening on the public port "
         "(/healthz answers 503 meanwhile).", "SECONDS")
@_option("--idle-timeout", "60", "Close a connection idle this long, or one that has not sent "
         "its request headers within it (slow loris).", "SECONDS")
def command(host: str, port: str, admin_port: str, app_version: str, drain_delay: str,
            prestop_delay: str, shutdown_timeout: str, startup_delay: str,
            idle_timeout: str) -> None:
    """Run simpleweb, the sample service whose pods the demo scales and updates.

    \b
    Public port:  GET /            stats page (HTML in a browser, text for curl)
                  GET /slow?ms=N   answers after N ms
    Admin port:   GET /healthz     readiness: 200 serving, 503 starting or draining
                  GET /livez       liveness: 200 while the event loop answers
                  GET /prestop     readiness 503 now, answer after --prestop-delay
                  GET /metrics     Prometheus metrics
    Every response carries X-App-Version and X-Pod-Name (POD_NAME, else the hostname).

    \b
    On SIGTERM or SIGINT: readiness 503 and Connection: close on every response, wait
    --drain-delay, close the listeners and idle connections, let in-flight requests finish
    (up to --shutdown-timeout), exit 0. A second Ctrl-C exits at once.

    \b
    Examples:
      probelab web --port 8080 --admin-port 8081
      probelab web --app-version 2.0 --startup-delay 3 --prestop-delay 5
    """
    from probelab.web.config import parse_config, pod_name_from_env
    from probelab.web.server import run

    config = parse_config(
        host=host, port=port, admin_port=admin_port, app_version=app_version,
        drain_delay=drain_delay, prestop_delay=prestop_delay,
        shutdown_timeout=shutdown_timeout, startup_delay=startup_delay,
        idle_timeout=idle_timeout, pod_name=pod_name_from_env(),
    )
    raise SystemExit(run(config))
