"""The streaming subresources `pods/exec`, `pods/attach` and `pods/portforward`: WebSocket
channel protocols (`channels`), SPDY/3.1 framing (`spdy`) for port-forward tunnelled through a
WebSocket, and the handlers that connect them to the kubelet's `core.streaming.PodRuntime`."""
