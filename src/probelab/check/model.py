"""Findings, severities and the timing model every rule reads.

The timing model is the one assumption the arithmetic cannot avoid: how long after a pod starts
terminating every proxy and load balancer has stopped sending it new connections (the *lag*).
Profiles give documented defaults for the usual data planes; `--lag` overrides them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

from probelab.errors import UsageError


class Severity(IntEnum):
    """Ordered so that `finding.severity >= fail_on` decides the exit code."""

    INFO = 0
    WARNING = 1
    ERROR = 2

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.upper()]
        except KeyError:
            raise UsageError(f"unknown severity {text!r} (error, warning or info)") from None


@dataclass(frozen=True)
class Profile:
    """A data plane and how long it keeps routing new connections to a terminating pod."""

    name: str
    lag_s: float
    source: str


# Where the numbers come from (docs/check.md repeats them with the reasoning):
# - kube-proxy: iptables/nftables rules are rewritten at most once per `minSyncPeriod`, whose
#   default is 1 s (pkg/proxy/apis/config/v1alpha1/defaults.go); the EndpointSlice update
#   reaches every node within that order of magnitude on a healthy cluster.
# - ingress-nginx: the controller pushes endpoints to the Lua balancer at most `--sync-rate-limit`
#   0.3 times a second (one sync per ~3.3 s, internal/ingress/controller/nginx.go), and each nginx
#   worker polls its copy once a second (rootfs/etc/nginx/lua/balancer.lua, `sync_backends`
#   every 1 s): about 4.3 s, rounded up to 5 s.
# - cloud-lb: cloud load balancers that target pods (AWS Load Balancer Controller in IP mode,
#   GKE container-native load balancing with NEGs) deregister a target through the cloud API
#   and the provider's own propagation; their docs recommend a preStop sleep of tens of seconds.
#   15 s is a conservative floor, not a measurement: set --lag from your own provider.
PROFILES: dict[str, Profile] = {
    "kube-proxy": Profile("kube-proxy", 1.0, "kube-proxy minSyncPeriod default 1 s"),
    "ingress-nginx": Profile("ingress-nginx", 5.0,
                             "ingress-nginx --sync-rate-limit 0.3/s + 1 s Lua balancer sync"),
    "cloud-lb": Profile("cloud-lb", 15.0,
                        "cloud load balancer target deregistration (provider docs)"),
}
DEFAULT_PROFILE = "kube-proxy"

# The oldest minor release still supported upstream in late 2026 (1.35, 1.36 and 1.37 are):
# conservative for version-dependent rules, since a chart must run on all three.
DEFAULT_KUBERNETES = (1, 35)
# The kubelet's one-off 2 s extension when preStop outlives the grace period
# (pkg/kubelet/kuberuntime/kuberuntime_container.go, `minimumGracePeriodInSeconds`), and the
# margin every "does it fit" rule keeps between the budget and SIGKILL.
DEFAULT_MARGIN_S = 2.0

# Version facts (minor releases where the behaviour is on by default).
SLEEP_ACTION_ALPHA = (1, 29)  # KEP-3960 PodLifecycleSleepAction: alpha, feature gate off
SLEEP_ACTION_BETA = (1, 30)  # KEP-3960: beta, on by default
SLEEP_ZERO = (1, 33)  # KEP-4818 PodLifecycleSleepActionAllowZero: beta, on by default
PROXY_TERMINATING_ENDPOINTS = (1, 26)  # KEP-1669: beta, on by default (GA in 1.28)


def parse_version(text: str) -> tuple[int, int]:
    """`1.30`, `v1.30` or `1.30.2` -> (1, 30)."""
    match = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.\d+)?", text.strip())
    if not match:
        raise UsageError(f"--kubernetes-version: expected 1.NN, got {text!r}")
    return int(match.group(1)), int(match.group(2))


@dataclass(frozen=True)
class TimingModel:
    """What the rules assume about the cluster; printed with every JSON and SARIF result."""

    lag_s: float = PROFILES[DEFAULT_PROFILE].lag_s
    margin_s: float = DEFAULT_MARGIN_S
    kubernetes: tuple[int, int] = DEFAULT_KUBERNETES
    profile: str = DEFAULT_PROFILE

    @property
    def version(self) -> str:
        return f"{self.kubernetes[0]}.{self.kubernetes[1]}"

    @property
    def has_sleep_action(self) -> bool:
        return self.kubernetes >= SLEEP_ACTION_BETA

    def as_dict(self) -> dict[str, object]:
        return {"profile": self.profile, "lag_seconds": self.lag_s,
                "margin_seconds": self.margin_s, "kubernetes_version": self.version}


def timing_model(profile: str | None = None, lag_s: float | None = None,
                 margin_s: float = DEFAULT_MARGIN_S, version: str | None = None) -> TimingModel:
    """The model from CLI flags: `--lag` wins over the profile's number (profile 'custom')."""
    chosen = PROFILES.get(profile or DEFAULT_PROFILE)
    if chosen is None:
        raise UsageError(f"unknown profile {profile!r}: {', '.join(PROFILES)}")
    if (lag_s is not None and lag_s < 0) or margin_s < 0:
        raise UsageError("--lag and --margin must be >= 0")
    kubernetes = parse_version(version) if version else DEFAULT_KUBERNETES
    if lag_s is None:
        return TimingModel(chosen.lag_s, margin_s, kubernetes, chosen.name)
    return TimingModel(lag_s, margin_s, kubernetes, "custom")


@dataclass(frozen=True)
class Finding:
    """One problem at one field of one object, with the numbers and what to do."""

    rule: str
    severity: Severity
    kind: str
    namespace: str
    name: str
    container: str | None
    field: str
    message: str
    fix: str
    file: str = ""
    line: int | None = None
    document: int = 0  # the object's position in the input (ordering, patches)

    @property
    def object_key(self) -> tuple[str, str, str]:
        return self.kind, self.namespace, self.name

    def as_dict(self) -> dict[str, object]:
        return {"rule": self.rule, "severity": str(self.severity), "kind": self.kind,
                "namespace": self.namespace, "name": self.name, "container": self.container,
                "field": self.field, "message": self.message, "fix": self.fix,
                "file": self.file, "line": self.line}
