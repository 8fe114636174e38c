"""The Kubernetes version the engine answers as: `/version` (the API server) and the Node's
`status.nodeInfo.kubeletVersion` (the kubelet) must agree, as they do on a real cluster."""

from __future__ import annotations

KUBE_MAJOR, KUBE_MINOR = "1", "37"
GIT_VERSION = f"v{KUBE_MAJOR}.{KUBE_MINOR}.0-probelab"
