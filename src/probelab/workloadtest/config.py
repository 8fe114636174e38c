"""Typed settings of one `probelab test` run and the scenario grammar (the CLI only fills these).

Parsing lives here, not in the click command, so the rules are table-tested and the errors are
the same one-line `UsageError`s wherever a value comes from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from probelab.errors import UsageError


class Action(Enum):
    """What a scenario does to the workload while the load runs."""

    ROLLING_UPDATE = "rolling-update"  # a new ReplicaSet (restartedAt, or --new-image)
    SCALE_DOWN = "scale-down"  # to N replicas, default ceil(replicas / 3)
    SCALE_UP = "scale-up"  # to N replicas, default twice the replicas
    DELETE_POD = "delete-pod"  # one pod, with its own grace period
    DRAIN = "drain"  # cordon the pods' nodes, evict every pod (PDBs honoured), uncordon


DEFAULT_SCENARIOS = "rolling-update,scale-down"
TAKES_COUNT = (Action.SCALE_DOWN, Action.SCALE_UP)


@dataclass(frozen=True)
class Scenario:
    action: Action
    replicas: int | None = None  # scale-down=N / scale-up=N; None = the default target

    @property
    def label(self) -> str:
        return self.action.value + (f"={self.replicas}" if self.replicas is not None else "")


def parse_scenarios(values: tuple[str, ...] | list[str]) -> tuple[Scenario, ...]:
    """`--scenario` values (repeatable, each comma-separated) → scenarios in order; a
    scenario given twice runs twice (a repeat is a choice, not a typo we could detect)."""
    names = [part.strip() for value in (values or (DEFAULT_SCENARIOS,))
             for part in value.split(",") if part.strip()]
    if not names:
        raise UsageError("--scenario: give at least one scenario")
    return tuple(_parse_one(name) for name in names)


def _parse_one(text: str) -> Scenario:
    name, sep, count = text.partition("=")
    try:
        action = Action(name)
    except ValueError:
        known = ", ".join(a.value for a in Action)
        raise UsageError(f"--scenario {text!r}: unknown scenario (known: {known})") from None
    if not sep:
        return Scenario(action)
    if action not in TAKES_COUNT:
        raise UsageError(f"--scenario {text!r}: {name} takes no number")
    if not count.isdigit() or int(count) < 1:
        raise UsageError(f"--scenario {text!r}: expected {name}=N with N a positive integer")
    return Scenario(action, int(count))


def parse_assignment(text: str, flag: str, what: str) -> tuple[str, str]:
    """`LEFT=RIGHT` of flags like `--new-image CONTAINER=IMAGE`; both sides non-empty."""
    left, sep, right = text.partition("=")
    left, right = left.strip(), right.strip()
    if not sep or not left or not right:
        raise UsageError(f"{flag} {text!r}: expected {what}")
    return left, right


@dataclass(frozen=True)
class TestSettings:
    """One `probelab test` run: inputs, what to load, which scenarios, how to judge them."""

    __test__ = False  # not a pytest class, although the name starts with Test

    paths: tuple[str, ...]
    workload: str | None = None  # "deployment/NAME" or "NAME"
    service: str | None = None
    port: str | None = None  # a Service port's name or number
    path: str = "/"
    headers: tuple[tuple[str, str], ...] = ()
    host: str | None = None  # Host header, for name-based routing
    scenarios: tuple[Scenario, ...] = field(
        default_factory=lambda: parse_scenarios((DEFAULT_SCENARIOS,)))
    new_images: tuple[tuple[str, str], ...] = ()  # (container, image) for rolling-update
    rate_rps: float = 100.0
    keepalive: bool = True
    warmup_s: float = 2.0
    settle_s: float = 2.0
    rollout_timeout_s: float = 120.0
    request_timeout_s: float = 5.0
    max_failures: int = 0
    max_error_rate: float | None = None  # percent of requests
    keep: bool = False
    images: tuple[tuple[str, str], ...] = ()  # local engine: (IMAGE, COMMAND)
    endpoint_delay_s: float = 0.1  # local engine: watch -> proxy sync runner latency
    min_sync_period_s: float = 1.0  # local engine: kube-proxy's minSyncPeriod
    profile: str = "kube-proxy"  # local engine: what serves the NodePort
    lb_deregistration_lag_s: float = 15.0  # local engine: cloud-lb's lag
    seed: int | None = None
    dataplane: str = "userspace"  # the local engine's: kernel, userspace or auto
    nodes: int | None = None  # the local engine's logical nodes; None: `engine_nodes`
    json_path: Path | None = None
    junit_path: Path | None = None
    report_path: Path | None = None  # --report: the HTML report with the demo's plots
    repeat: int = 1  # each scenario this many times (in order, the whole list per round)
    resend: bool = True  # the load sends a request once more after the keep-alive race
    # A real cluster instead of the local engine: a kubeconfig context (official client only),
    # and the URL this machine reaches the Service at when its NodePort on a node's address
    # is not reachable from here.
    context: str | None = None
    kubeconfig: Path | None = None
    url: str | None = None

    @property
    def engine_nodes(self) -> int:
        """The local engine's nodes: --nodes, else 2 when a drain is to run (a drained node's
        pods need another node to go to, or the drain is an outage, not a rollout), else 1."""
        if self.nodes is not None:
            return self.nodes
        return 2 if any(s.action is Action.DRAIN for s in self.scenarios) else 1

    @property
    def local(self) -> bool:
        """The test starts (and stops) its own local engine."""
        return self.context is None

    @property
    def proxy_lag_s(self) -> float:
        """The longest the local proxy may take to apply a change: the latency plus a wait for
        the end of a sync period (`engine.proxy.syncrunner`)."""
        return self.endpoint_delay_s + self.min_sync_period_s

    @property
    def load_headers(self) -> tuple[tuple[str, str], ...]:
        """The -H headers, plus Host when --host is given (it wins over a -H Host)."""
        if self.host is None:
            return self.headers
        return (*[(n, v) for n, v in self.headers if n.lower() != "host"], ("Host", self.host))
