"""The local engine ("probelab cluster"): a Kubernetes API on loopback that runs pods as processes.

Layers, imported one way: `store` (objects, resourceVersion, watch) -> components (`apiserver`,
`controllers/`, `kubelet/`, `proxy`) -> `cluster` (wiring) -> `probelab.commands.cluster` (CLI).
"""
