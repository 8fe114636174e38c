"""Typed settings of a demo run (the CLI only translates flags into these)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

REPO_MANIFESTS = Path(__file__).resolve().parents[3] / "deploy" / "kubernetes"


class Variant(Enum):
    NOPROBES = "noprobes"  # no readiness probe, no preStop hook
    WITHPROBES = "withprobes"  # readiness probe on /healthz, preStop on /prestop


class Scenario(Enum):
    SCALE_DOWN = "scale-down"  # 10 -> 3 replicas
    ROLLING_UPDATE = "rolling-update"  # a new ReplicaSet (kubectl rollout restart)


@dataclass(frozen=True)
class DemoConfig:
    variants: tuple[Variant, ...] = (Variant.NOPROBES, Variant.WITHPROBES)
    scenarios: tuple[Scenario, ...] = (Scenario.SCALE_DOWN, Scenario.ROLLING_UPDATE)
    rate_rps: float = 500.0
    keepalive: bool = True
    resend: bool = True  # the load sends a request again after the keep-alive race
    context: str | None = None  # kubeconfig context of a real cluster; None = local engine
    kubeconfig: Path | None = None
    url: str | None = None  # service URL override (real clusters)
    manifests_dir: Path | None = None  # folder holding noprobes/ and withprobes/
    image_repo: str = "probelab/simpleweb"
    scale_to: int = 3
    # The load runs warm-up + rollout + settle (probelab test's defaults): the failures of
    # noprobes come within the endpoint lag of each pod's stop, well inside the settle time.
    warmup_s: float = 2.0
    settle_s: float = 2.0
    timeout_s: float = 180.0  # a rollout not complete after this long fails the run
    request_timeout_s: float = 5.0
    endpoint_delay_s: float = 1.0  # local engine only: watch -> sync runner (a busy cluster)
    min_sync_period_s: float = 1.0  # local engine only: kube-proxy's minSyncPeriod
    profile: str = "kube-proxy"  # local engine only: what serves the NodePort
    lb_deregistration_lag_s: float = 15.0  # local engine only: cloud-lb's lag
    dataplane: str = "userspace"  # local engine only: kernel, userspace or auto

    @property
    def proxy_lag_s(self) -> float:
        """The longest the local proxy may take to apply a change: the latency plus a wait for
        the end of a sync period (`engine.proxy.syncrunner`)."""
        return self.endpoint_delay_s + self.min_sync_period_s
    seed: int | None = None
    repeat: int = 1

    def manifests_for(self, variant: Variant) -> Path:
        return (self.manifests_dir or REPO_MANIFESTS) / variant.value
