"""The load generator behind `probelab load`: send HTTP/1.1 requests, classify every outcome.

`config` (what to send) → `scheduler` (when: open or closed model) → `client` (how: a small
keep-alive HTTP/1.1 client on asyncio Protocols) → `records` (what happened, compact) →
`summary` (pure numbers) → `output` (terminal, JSON, CSV). `runner.run_load` wires them.
"""
