"""The pieces of the engine's Kubernetes REST API: Status errors, discovery, request parsing,
watch streaming and the resource handlers. `probelab.engine.apiserver` wires them into one
aiohttp application; `probelab.engine.registry` holds the per-kind rules they call."""
