"""`probelab demo --context` against a cluster it did not start (here a `probelab cluster up`
of the test's own, reached only through its kubeconfig context, as a real cluster would be).

The demo is `probelab test` on each variant: what a variant applied (its namespace included) is
deleted after its runs and the namespace waited for, so the cluster is left as the demo found it.
The engine serves its Node `probelab` (InternalIP 127.0.0.1), so the NodePort is found as on a
real cluster; `--url` pins the address when it is not reachable.
"""

from __future__ import annotations

import os
import socket

from support.processes import run_probelab
from support.real_engine import e2e_engine, quick_manifests


def free_node_port() -> int:
    """A port in the NodePort range that nothing on loopback listens on right now."""
    for offset in range(2767):
        port = 30000 + (os.getpid() + offset) % 2767
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port in the NodePort range")


def namespaces(eng) -> set[str]:  # type: ignore[no-untyped-def]
    return {ns.metadata.name for ns in eng.core.list_namespace().items}


def test_demo_on_a_context_finds_the_node_address_or_takes_url_and_cleans_up(tmp_path) -> None:
    folder = quick_manifests(tmp_path, "withprobes").parent  # noprobes/ is not needed here
    with e2e_engine(tmp_path) as eng:
        common = ["demo", "--context", "probelab", "--kubeconfig", str(eng.kubeconfig),
                  "--manifests", str(folder), "--variant", "withprobes",
                  "--scenario", "scale-down", "--rate", "100"]
        # The Node's InternalIP (127.0.0.1) and the Service's nodePort: no --url needed.
        result = run_probelab(*common, "--report", str(tmp_path / "node.html"), timeout=180)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        assert (tmp_path / "node.html").exists()
        assert "probes" not in namespaces(eng)

        port = free_node_port()
        report = tmp_path / "report.html"
        result = run_probelab(*common, "--url", f"http://127.0.0.1:{port}/",
                              "--report", str(report), timeout=180)
        assert result.returncode == 0, result.stdout + result.stderr
        out = result.stdout
        assert "All " in out and "requests succeeded during scale 10 -> 3" in out
        assert report.exists()
        # Both attempts deleted their namespace before they ended.
        assert "probes" not in namespaces(eng)
