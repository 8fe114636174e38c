"""Each pod's own network (kernel data plane): a network namespace with a veth to the engine's
bridge and the pod's address (`network.iproute.add_pod`), made before its containers start and
deleted after their processes are gone. Containers, exec probes and exec hooks run inside it
through an argv wrapper (`wrap`: nsenter into the namespace, then exec the command; no Python
preexec function, so `runtime.spawn` keeps its vfork path), which composes with the cgroup join
and other wrappers. HTTP and TCP probes and hooks reach the pod at its address from the host,
routed through the bridge, as a kubelet reaches a pod.
"""

from __future__ import annotations

import shutil

from probelab.engine.network import iproute
from probelab.engine.network.ranges import EngineNet

NSENTER = shutil.which("nsenter") or "/usr/bin/nsenter"


class PodNet:
    def __init__(self, net: EngineNet) -> None:
        self.net = net

    async def attach(self, address: str) -> None:
        """Make the pod's namespace; raises iproute.NetworkError."""
        await iproute.add_pod(self.net, address)

    async def detach(self, address: str) -> None:
        await iproute.remove_pod(self.net, address)

    def wrap(self, address: str) -> tuple[str, ...]:
        """The argv prefix that runs a command inside the pod's network namespace."""
        return (NSENTER, f"--net={iproute.netns_path(self.net, address)}", "--")
