"""`probelab demo --context` against a cluster it did not start (here a `probelab cluster up`
of the test's own, reached only through its kubeconfig context, as a real cluster would be).

The demo is `probelab test` on each variant: what a variant applied (its namespace included) is
deleted after its runs and the namespace waited for, so the cluster is left as the demo found it;
a cluster that lists no nodes gets a one-line error asking for --url.
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


def test_demo_on_a_context_cleans_up_and_asks_for_url_when_nodes_are_unknown(tmp_path) -> None:
    folder = quick_manifests(tmp_path, "withprobes").parent  # noprobes/ is not needed here
    with e2e_engine(tmp_path) as eng:
        common = ["demo", "--context", "probelab", "--kubeconfig", str(eng.kubeconfig),
                  "--manifests", str(folder), "--variant", "withprobes",
                  "--scenario", "scale-down", "--rate", "100"]
        # The engine serves no Node objects: no address to reach a NodePort on.
        result = run_probelab(*common, "--report", str(tmp_path / "none.html"), timeout=120)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        assert "no node address to reach service/simpleprobe's NodePort" in result.stderr
        assert "pass --url" in result.stderr
        assert not (tmp_path / "none.html").exists()

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
