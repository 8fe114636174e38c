"""Builds the frontend of a profile (None for kube-proxy: its own listeners serve NodePorts)."""

from __future__ import annotations

from probelab.engine.proxy.dataplane import DataPlane
from probelab.engine.proxy.frontends.cloudlb import CloudLb
from probelab.engine.proxy.frontends.ingress import Ingress
from probelab.engine.proxy.frontends.profile import Profile

Frontend = CloudLb | Ingress


def frontend_for(profile: str, plane: DataPlane, latency_s: float,
                 lb_lag_s: float) -> Frontend | None:
    """The frontend serving NodePort listeners; raises ValueError for an unknown profile."""
    chosen = Profile(profile)
    if chosen is Profile.CLOUD_LB:
        return CloudLb(plane, latency_s, lb_lag_s)
    if chosen is Profile.INGRESS_NGINX:
        return Ingress(latency_s)
    return None
