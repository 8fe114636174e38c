"""`probelab check`: the timing arithmetic of a zero-downtime rollout, done on manifests offline.

Linters check that a probe or a preStop hook *exists*; this package checks whether the numbers
add up: preStop delay against the endpoint propagation lag, preStop plus drain against the grace
period, liveness against readiness, Services against the ports and labels of the pods they
select, rollout and disruption budgets against the replica count.

Layout: `model` (findings, severities, the timing model), `workloads` (typed views of the loaded
objects), `prestop` (how long a hook delays SIGTERM), `rules/` (pure functions, one concern per
module), `fix` (the patch that clears errors), `output/` (table, JSON, SARIF, GitHub), `lines`
and `sources` (the only I/O: reading files and stdin, YAML line numbers). Depends on
`probelab.k8s` only.
"""
