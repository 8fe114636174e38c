"""The local-engine options `probelab test` and `probelab demo` share (one block, so their
flags, ranges and help cannot drift apart); `probelab cluster up` declares its own, as the
engine's own command. A decorator: `@local_engine_options(...)` above the command."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

F = TypeVar("F", bound=Callable[..., object])

MAX_NODES = 16  # as `probelab cluster up --nodes`


def local_engine_options(endpoint_delay_s: float = 0.1, endpoint_delay_note: str = "",
                         nodes: bool = False) -> Callable[[F], F]:
    """--endpoint-delay (default `endpoint_delay_s`, `endpoint_delay_note` appended to its
    help), --min-sync-period, --profile, --lb-deregistration-lag, --seed, --dataplane and, with
    `nodes`, --nodes (default None: the command decides)."""
    options = [
        click.option("--endpoint-delay", "endpoint_delay_s", type=click.FloatRange(min=0, max=30),
                     default=endpoint_delay_s, show_default=True,
                     help="Local engine: latency from an EndpointSlice change to the proxy's "
                          "sync runner (s)" + endpoint_delay_note + "."),
        click.option("--min-sync-period", "min_sync_period_s",
                     type=click.FloatRange(min=0, max=30), default=1.0, show_default=True,
                     help="Local engine: kube-proxy's minSyncPeriod (a change syncs at once "
                          "when none ran within it, else at its end) (s)."),
        click.option("--profile", type=click.Choice(["kube-proxy", "ingress-nginx", "cloud-lb"]),
                     default="kube-proxy", show_default=True,
                     help="Local engine: what serves NodePort traffic: kube-proxy alone, "
                          "ingress-nginx (an HTTP proxy that retries, 502/504) or cloud-lb "
                          "(keeps sending to removed pods for --lb-deregistration-lag)."),
        click.option("--lb-deregistration-lag", "lb_deregistration_lag_s",
                     type=click.FloatRange(min=0, max=600), default=15.0, show_default=True,
                     help="Local engine: cloud-lb: seconds from an endpoint's removal until "
                          "the load balancer stops sending it new connections."),
        click.option("--seed", type=int, default=None,
                     help="Seed for the local engine's choices."),
        click.option("--dataplane", type=click.Choice(["auto", "kernel", "userspace"]),
                     default="userspace", show_default=True,
                     help="Local engine's data plane (see `probelab cluster up --help`): kernel "
                          "needs root or CAP_NET_ADMIN. userspace by default here: the shipped "
                          "results and their tests are measured on it (docs/cluster.md)."),
    ]
    if nodes:
        options.append(click.option(
            "--nodes", type=click.IntRange(1, MAX_NODES), default=None,
            help="Local engine: logical nodes (see `probelab cluster up --help`). Default 1, "
                 "or 2 when a drain scenario runs, so the drained node's pods have a node to "
                 "go to; --nodes 1 skips the drain (unmeasurable on one node)."))

    def decorate(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate
