"""Issue 6's walkthrough as one scenario: the real kubectl binary against a real
`probelab cluster up`, real pods, and load over the Service's NodePort the whole time.

The manifests are a copy of deploy/kubernetes/withprobes with shorter waits (preStop delay 2 s,
readiness initial delay 1 s); the commands are the README's, word for word.
"""

from __future__ import annotations

import json

from support.load_thread import proof_load
from support.paths import KUBECTL
from support.real_engine import e2e_engine, quick_manifests
from support.waiting import wait_until

RATE = 200  # requests/s during the whole walkthrough
DEPLOY = "deployment/simpleprobe"


def test_kubectl_walkthrough_under_load_loses_nothing(tmp_path) -> None:
    """Steps: engine -> `kubectl create -f withprobes/` -> `rollout status` -> the NodePort from
    `kubectl get service -o json` -> the proxy routes to all 10 -> load at 200 rps in the
    background -> `kubectl scale --replicas 3` -> `rollout status` -> `kubectl set image ...
    simpleweb=...:2.0` ->
    `rollout status` -> stop the load: zero failed requests, 1.0 and 2.0 both answered, only
    2.0 pods left -> `kubectl delete -f withprobes/` -> the namespace is gone."""
    assert KUBECTL.exists(), KUBECTL
    folder = quick_manifests(tmp_path, "withprobes")
    with e2e_engine(tmp_path) as eng:
        out = eng.kubectl("create", "-f", str(folder)).stdout
        assert out.split() == ["namespace/probes", "created", "deployment.apps/simpleprobe",
                               "created", "service/simpleprobe", "created"], out
        out = eng.kubectl("-n", "probes", "rollout", "status", DEPLOY, "--timeout", "60s").stdout
        assert 'deployment "simpleprobe" successfully rolled out' in out, out
        pods = eng.kubectl("-n", "probes", "get", "pods", "-o", "json").stdout
        assert len(json.loads(pods)["items"]) == 10

        svc = json.loads(eng.kubectl("get", "service", "simpleprobe", "-n", "probes",
                                     "-o", "json").stdout)
        url = f"http://127.0.0.1:{svc['spec']['ports'][0]['nodePort']}/"
        # `rollout status` returns when the pods are Ready; the Service proxy learns of them
        # --endpoint-delay later (like kube-proxy), so wait for that before the load starts.
        wait_until(lambda: eng.proxy_routes_to("probes", 10), timeout_s=15, interval_s=0.1,
                   what="the proxy to route to the 10 pods")

        # A new connection per request, like `hey -disable-keepalive`. With keep-alive this
        # walkthrough once lost 1 request of ~900 ("closed" before any response byte) in 2 of
        # 4 clean-checkout runs on a busy machine. The soak later showed the same failure at
        # the instant pods got SIGTERM and closed their idle connections: the keep-alive race,
        # which the load client now answers as hey does (docs/load.md); 8 keep-alive runs of
        # this walkthrough since were clean. The keep-alive proof is in test_e2e_proof.py.
        with proof_load(url, RATE, keepalive=False) as load:
            out = eng.kubectl("--namespace", "probes", "scale", "deployment", "simpleprobe",
                              "--replicas", "3").stdout
            assert out.strip() == "deployment.apps/simpleprobe scaled", out
            out = eng.kubectl("-n", "probes", "rollout", "status", DEPLOY,
                              "--timeout", "60s").stdout
            assert "successfully rolled out" in out, out

            out = eng.kubectl("--namespace", "probes", "set", "image", DEPLOY,
                              "simpleweb=probelab/simpleweb:2.0").stdout
            assert out.strip() == "deployment.apps/simpleprobe image updated", out
            out = eng.kubectl("-n", "probes", "rollout", "status", DEPLOY,
                              "--timeout", "90s").stdout
            assert 'deployment "simpleprobe" successfully rolled out' in out, out
            assert "Waiting for deployment" in out, out  # it did watch the update happen
            mark = len(load.records)
            wait_until(lambda: load.ok_count(mark) >= 50, what="answers after the rollout")
        result = load.stop()
        print(f"kubectl walkthrough: {load.describe()} in {result.elapsed_s:.1f} s, "
              f"versions {dict(load.versions())}")
        assert load.failures() == {}, load.describe() + eng.others()
        assert load.versions()["1.0"] > 0 and load.versions()["2.0"] > 0, load.versions()

        images = eng.kubectl("-n", "probes", "get", DEPLOY, "-o",
                             "jsonpath={.spec.template.spec.containers[0].image}").stdout
        assert images == "probelab/simpleweb:2.0"
        replicas = json.loads(eng.kubectl("-n", "probes", "get", DEPLOY, "-o", "json").stdout)
        assert replicas["status"]["updatedReplicas"] == replicas["status"]["readyReplicas"] == 3

        out = eng.kubectl("delete", "-f", str(folder), timeout=120).stdout
        assert 'namespace "probes" deleted' in out, out
        gone = wait_until(lambda: (r := eng.kubectl("get", "namespace", "probes",
                                                    check=False)).returncode != 0 and r,
                          timeout_s=60, interval_s=0.2, what="the namespace to be gone")
        assert 'namespaces "probes" not found' in gone.stderr, gone.stderr
        assert eng.core.list_namespaced_pod("probes").items == []
