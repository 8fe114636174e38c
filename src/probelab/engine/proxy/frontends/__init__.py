"""What sits in front of kube-proxy for traffic from outside the cluster (`--profile`).

The NodePort listeners (what the demo and `probelab test` load) are served by the chosen
profile; ClusterIP listeners stay kube-proxy's whatever the profile, as in-cluster traffic does
not pass an ingress or a cloud load balancer.

- `profile`: the profiles, their defaults and where they come from (pure data);
- `view`: a frontend's own lagging view of the EndpointSlices (it watches them itself, with its
  own latency and sync rate, through `proxy.syncrunner`);
- `deregistration` (pure) + `cloudlb`: a cloud load balancer that keeps sending new
  connections to a removed pod for its deregistration lag;
- `retry` (pure) + `ingress`: ingress-nginx, an HTTP reverse proxy with an upstream keep-alive
  pool that retries idempotent requests on another endpoint and answers 502/503/504 as nginx.
"""
