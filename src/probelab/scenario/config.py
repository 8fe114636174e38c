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
    ROLLING_UPDATE = "rolling-update"  # image 1.0 -> 2.0


# Namespace, Deployment and Service names in the shipped manifests.
NAMESPACES = {Variant.NOPROBES: "noprobes", Variant.WITHPROBES: "probes"}
APP_NAME = "simpleprobe"
CONTAINER = "simpleweb"


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
    new_version: str = "2.0"
    warmup_s: float = 3.0
    settle_s: float = 2.0
    min_load_s: float = 20.0  # each run sends rate x this many requests at least
    timeout_s: float = 180.0  # give up on one run after this long
    request_timeout_s: float = 5.0
    endpoint_delay_s: float = 1.0  # local engine only
    dataplane: str = "auto"  # local engine only: kernel, userspace or auto
    seed: int | None = None
    repeat: int = 1

    def manifests_for(self, variant: Variant) -> Path:
        return (self.manifests_dir or REPO_MANIFESTS) / variant.value
