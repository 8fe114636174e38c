"""The data-plane profiles and their defaults (pure data; docs/cluster.md says why each value).

Sources:
- kube-proxy: `pkg/proxy/apis/config/v1alpha1/defaults.go` (minSyncPeriod 1 s), see
  `proxy.syncrunner`.
- ingress-nginx: `cmd/nginx/flags.go` (`--sync-rate-limit` 0.3 syncs/s, so one sync per
  3.33 s at most), `rootfs/etc/nginx/lua/balancer.lua` (each worker polls the backends the
  controller posted once a second) and `docs/user-guide/nginx-configuration/configmap.md` of
  kubernetes/ingress-nginx (upstream-keepalive-connections 320, upstream-keepalive-timeout
  60 s, upstream-keepalive-requests 10000, proxy-next-upstream "error timeout",
  proxy-next-upstream-tries 3, proxy-connect-timeout 5 s, proxy-read-timeout 60 s).
- cloud-lb: AWS target groups stop new requests to a deregistering target only once the
  deregistration has propagated, which takes seconds to minutes (kubernetes-sigs/
  aws-load-balancer-controller issues 1834 and 3270); `deregistration_delay` (300 s default)
  is how long in-flight requests may drain afterwards. GCP connection draining is the same
  drain. The lag modelled is the first: 15 s by default, longer than the 5 s preStop of
  deploy/kubernetes/withprobes, the case where such a preStop is not enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Profile(Enum):
    KUBE_PROXY = "kube-proxy"
    INGRESS_NGINX = "ingress-nginx"
    CLOUD_LB = "cloud-lb"


NAMES = tuple(p.value for p in Profile)


@dataclass(frozen=True, slots=True)
class IngressDefaults:
    """ingress-nginx's defaults that change what a client sees during a rollout."""

    sync_period_s: float = 1 / 0.3  # --sync-rate-limit 0.3: one backend sync per 3.33 s at most
    worker_poll_s: float = 1.0  # each nginx worker reads the synced backends once a second
    keepalive_connections: int = 320  # upstream-keepalive-connections (idle, per worker)
    keepalive_timeout_s: float = 60.0  # upstream-keepalive-timeout
    keepalive_requests: int = 10_000  # upstream-keepalive-requests
    next_upstream_tries: int = 3  # proxy-next-upstream-tries (the first try included)
    connect_timeout_s: float = 5.0  # proxy-connect-timeout
    read_timeout_s: float = 60.0  # proxy-read-timeout


@dataclass(frozen=True, slots=True)
class CloudLbDefaults:
    """A cloud load balancer with IP targets (pods registered directly)."""

    deregistration_lag_s: float = 15.0  # endpoint removed -> LB stops new connections
