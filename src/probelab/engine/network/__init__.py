"""The engine's host network for the kernel data plane: address ranges, the claim that keeps two
engines on one machine apart, and the bridge, routes and pod network namespaces made with
iproute2. Shared by the kubelet (pod side), the proxy (nftables) and `engine.py` (set up and
torn down once per engine); imports only `core`. See docs/cluster.md, "The data plane"."""
