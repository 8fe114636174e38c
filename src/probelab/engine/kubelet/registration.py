"""The engine's Node objects (one per logical node, each the same machine with its full
capacity: docs/cluster.md "Several nodes"): what the kubelet registers and keeps fresh
(`pkg/kubelet/kubelet_node_status.go` initialNode / registerWithAPIServer, and the setters of
`pkg/kubelet/nodestatus/setters.go`: MachineInfo, NodeAddress, VersionInfo, ReadyCondition,
MemoryPressureCondition, DiskPressureCondition, PIDPressureCondition).

`machine()` reads this machine (I/O); `node_object` and `heartbeat` are pure. Labels are those
the kubelet sets on itself (`kubernetes.io/hostname`, `kubernetes.io/os`, `kubernetes.io/arch`
and their `beta.` forms) plus `node-role.kubernetes.io/control-plane`, because this node also
runs the control plane, as a one-node kind or minikube cluster's does (so ROLES shows
`control-plane`). It carries no control-plane taint: like those one-node clusters, it must take
every pod.
"""

from __future__ import annotations

import os
import platform
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from probelab.engine.core.clock import rfc3339
from probelab.engine.core.version import GIT_VERSION

# Go's GOARCH names for what `platform.machine()` says (the `kubernetes.io/arch` label values).
GO_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
           "armv7l": "arm", "i686": "386", "i386": "386", "ppc64le": "ppc64le",
           "s390x": "s390x", "riscv64": "riscv64"}
CONTROL_PLANE_ROLE = "node-role.kubernetes.io/control-plane"
INTERNAL_IP = "127.0.0.1"  # pods and Services live on loopback addresses (docs/api.md)


@dataclass(frozen=True)
class Machine:
    """What the node reports about the host."""

    cores: int
    memory_kib: int
    hostname: str
    kernel: str
    os_image: str
    arch: str
    machine_id: str = ""
    boot_id: str = ""


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _memory_kib(meminfo: str) -> int:
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def _os_image(os_release: str) -> str:
    for line in os_release.splitlines():
        key, _, value = line.partition("=")
        if key == "PRETTY_NAME":
            return value.strip().strip('"')
    return platform.system()


def machine() -> Machine:
    """This host, as cadvisor and the kubelet see it (cores, MemTotal, os-release)."""
    return Machine(
        cores=os.cpu_count() or 1,
        memory_kib=_memory_kib(_read("/proc/meminfo")),
        hostname=socket.gethostname(),
        kernel=platform.release(),
        os_image=_os_image(_read("/etc/os-release")),
        arch=GO_ARCH.get(platform.machine(), platform.machine()),
        machine_id=_read("/etc/machine-id"),
        boot_id=_read("/proc/sys/kernel/random/boot_id"),
    )


def conditions(now: float, previous: list[Any] | None = None) -> list[dict[str, Any]]:
    """Ready=True (KubeletReady) and the three pressure conditions False, heartbeat `now`; a
    condition's lastTransitionTime stays while its status does not change."""
    prior = {c.get("type"): c for c in previous or [] if isinstance(c, dict)}
    stamp = rfc3339(now)
    rows = (
        ("MemoryPressure", "False", "KubeletHasSufficientMemory",
         "kubelet has sufficient memory available"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    )
    result = []
    for kind, status, reason, message in rows:
        old = prior.get(kind)
        kept = old is not None and old.get("status") == status
        result.append({"type": kind, "status": status, "lastHeartbeatTime": stamp,
                       "lastTransitionTime": old.get("lastTransitionTime") if kept and old
                       else stamp, "reason": reason, "message": message})
    return result


def node_object(name: str, host: Machine, max_pods: int, now: float,
                runtime_version: str) -> dict[str, Any]:
    """The Node the kubelet creates: labels, capacity = allocatable (no reservations), the
    conditions, the addresses and nodeInfo."""
    resources = {"cpu": str(host.cores), "memory": f"{host.memory_kib}Ki",
                 "pods": str(max_pods)}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": host.arch, "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": host.arch, CONTROL_PLANE_ROLE: "",
        }},
        "spec": {},
        "status": {
            "capacity": dict(resources),
            "allocatable": dict(resources),
            "conditions": conditions(now),
            "addresses": [{"type": "InternalIP", "address": INTERNAL_IP},
                          {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
            "nodeInfo": {
                "machineID": host.machine_id, "systemUUID": host.machine_id,
                "bootID": host.boot_id, "kernelVersion": host.kernel,
                "osImage": host.os_image, "containerRuntimeVersion": runtime_version,
                "kubeletVersion": GIT_VERSION, "kubeProxyVersion": "",
                "operatingSystem": "linux", "architecture": host.arch,
            },
        },
    }

