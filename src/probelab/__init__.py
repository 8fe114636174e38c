"""probelab: show, reproduce and check zero-downtime Kubernetes rollouts."""

__version__ = "0.1.0"
