"""What the kubelet fetches for a pod before it builds environments and volumes: the ConfigMaps
and Secrets the pod refers to (read from the store, as the kubelet's configmap and secret
managers read their watch caches) and the node's allocatable resources (what an unset limit
reads as in the downward API)."""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from probelab.engine.core.store import Store
from probelab.engine.kubelet import envsources


def fetch(store: Store, pod: Mapping[str, Any], state_dir: Path) -> envsources.Sources:
    """The pod's ConfigMaps and Secrets as they are now (absent ones are left out)."""
    namespace = (pod.get("metadata") or {}).get("namespace")
    cm_names, secret_names = envsources.referenced(pod)
    config_maps = {n: obj for n in cm_names
                   if (obj := store.find("configmaps", namespace, n)) is not None}
    secrets = {n: obj for n in secret_names
               if (obj := store.find("secrets", namespace, n)) is not None}
    return envsources.Sources(config_maps, secrets, allocatable(state_dir))


@functools.cache
def allocatable(state_dir: Path) -> envsources.Allocatable:
    """This machine's CPUs, memory and the free space of the state folder's file system."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        disk = shutil.disk_usage(state_dir if state_dir.exists() else "/").total
    except OSError:
        disk = 0
    return envsources.Allocatable((cpus or 1) * 1000, memory, disk)
