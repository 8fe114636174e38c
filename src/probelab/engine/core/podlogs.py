"""Where container output is kept: written by the kubelet, served by the API server (pods/log)."""

from __future__ import annotations

from pathlib import Path


def log_path(state_dir: Path, namespace: str, pod: str, container: str) -> Path:
    """The file holding a container's stdout and stderr (current and earlier restarts)."""
    return state_dir / "logs" / f"{namespace}_{pod}_{container}.log"
