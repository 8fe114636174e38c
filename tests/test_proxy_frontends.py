"""The data-plane profiles in front of kube-proxy (`engine/proxy/frontends`): their pure rules
as tables (a clock we control: plain numbers), then ingress-nginx and cloud-lb on real sockets.
"""

from __future__ import annotations

import contextlib
import http.server
import random
import threading
import urllib.request

import aiohttp
import pytest

from probelab.engine.core.context import EngineConfig
from probelab.engine.engine import build_context
from probelab.engine.proxy.component import ServiceProxy
from probelab.engine.proxy.frontends.deregistration import (
    Target,
    next_expiry,
    routable,
    update_targets,
)
from probelab.engine.proxy.frontends.ingress import Ingress
from probelab.engine.proxy.frontends.profile import IngressDefaults
from probelab.engine.proxy.frontends.retry import Failure, pick, retries, status_for
from probelab.engine.proxy.rules import Endpoint, Listen
from support.echo_backends import backends, gather_names
from support.faulty_http import Behaviour, LoopServer
from support.loops import run
from support.sockets import free_port
from support.waiting import until
from test_proxy_component import endpoint, endpoint_slice, new_store, service, set_endpoints


def ep(address: str, port: int = 80) -> Endpoint:
    return Endpoint(address, port, True, True, False)


NODE = "127.0.0.1"
A, B, C = ep("10.0.0.1"), ep("10.0.0.2"), ep("10.0.0.3")


# ---- cloud-lb: deregistration (pure) ---------------------------------------------------------
def test_a_removed_target_gets_new_connections_until_the_lag_has_passed() -> None:
    lag = 15.0
    targets = update_targets({}, [A, B], now_s=100.0, lag_s=lag)
    assert routable(targets) == (A, B) and next_expiry(targets, lag) is None
    targets = update_targets(targets, [A], now_s=101.0, lag_s=lag)  # B leaves the Service
    assert routable(targets) == (A, B)  # ...but the LB still sends it new connections
    assert targets[(B.address, B.port)] == Target(B, 101.0)
    assert next_expiry(targets, lag) == 116.0
    targets = update_targets(targets, [A, C], now_s=110.0, lag_s=lag)  # B keeps its first removal
    assert routable(targets) == (A, B, C) and next_expiry(targets, lag) == 116.0
    assert routable(update_targets(targets, [A, C], now_s=115.9, lag_s=lag)) == (A, B, C)
    assert routable(update_targets(targets, [A, C], now_s=116.0, lag_s=lag)) == (A, C)


def test_a_target_back_before_the_lag_is_registered_again() -> None:
    targets = update_targets(update_targets({}, [A], 0.0, 10.0), [], 1.0, 10.0)
    assert next_expiry(targets, 10.0) == 11.0
    targets = update_targets(targets, [A], 2.0, 10.0)
    assert targets[(A.address, A.port)].removed_s is None and next_expiry(targets, 10.0) is None


def test_no_lag_drops_a_removed_target_at_once() -> None:
    assert routable(update_targets(update_targets({}, [A, B], 0.0, 0.0), [A], 1.0, 0.0)) == (A,)


# ---- ingress-nginx: proxy_next_upstream (pure) -----------------------------------------------
@pytest.mark.parametrize(("method", "failure", "tries", "retried"), [
    ("GET", Failure.CONNECT_ERROR, 1, True),
    ("GET", Failure.ERROR, 1, True),  # reset after sending: an idempotent request goes on
    ("GET", Failure.TIMEOUT, 2, True),
    ("GET", Failure.CONNECT_ERROR, 3, False),  # proxy-next-upstream-tries 3, all used
    ("POST", Failure.CONNECT_ERROR, 1, True),  # not sent yet: safe to pass on
    ("POST", Failure.CONNECT_TIMEOUT, 1, True),
    ("POST", Failure.ERROR, 1, False),  # sent: nginx does not repeat a non-idempotent request
    ("PATCH", Failure.TIMEOUT, 1, False),
    ("PUT", Failure.ERROR, 1, True),
])
def test_which_failures_go_to_the_next_upstream(method, failure, tries, retried) -> None:
    assert retries(method, failure, tries, max_tries=3) is retried


def test_the_status_of_the_last_failed_try() -> None:
    assert status_for(Failure.CONNECT_ERROR) == 502
    assert status_for(Failure.ERROR) == 502
    assert status_for(Failure.TIMEOUT) == 504
    assert status_for(Failure.CONNECT_TIMEOUT) == 504


def test_round_robin_skips_what_this_request_tried() -> None:
    assert pick([A, B, C], [], 0) == A
    assert pick([A, B, C], [], 4) == B
    assert pick([A, B, C], [B], 1) == C
    assert pick([A, B], [A, B], 0) == A  # all tried: round robin again
    assert pick([], [], 0) is None


# ---- ingress-nginx on real sockets -----------------------------------------------------------
@contextlib.asynccontextmanager
async def ingress_on(slices: list[dict], defaults: IngressDefaults | None = None):
    ingress = Ingress(latency_s=0.0, defaults=defaults)
    ingress.view.load(slices)
    port = free_port()
    spec = Listen("127.0.0.1", port, "http", True, node_port=True)
    server = await ingress.listen(("default", "web"), spec, "default/web:http")
    try:
        yield ingress, f"http://127.0.0.1:{port}/"
    finally:
        server.close()
        await ingress.close()


def http_slice(addresses: list[str], port: int) -> dict:
    return endpoint_slice("web", [{"addresses": [a], "conditions": {"ready": True}}
                                  for a in addresses], port)


async def statuses(url: str, n: int, method: str = "GET") -> list[int]:
    async with aiohttp.ClientSession() as session:
        out = []
        for _ in range(n):
            async with session.request(method, url) as response:
                await response.read()
                out.append(response.status)
        return out


def test_a_refused_pod_connection_is_retried_on_another_endpoint() -> None:
    async def main() -> None:
        good = LoopServer(Behaviour.ANSWER)
        port = await good.start()
        gone = "127.244.251.9"  # nothing listens there: connection refused
        async with ingress_on([http_slice([gone, "127.0.0.1"], port)]) as (ingress, url):
            assert await statuses(url, 6) == [200] * 6
            assert await statuses(url, 4, "POST") == [200] * 4  # refused = not sent: retried
        assert ingress.stats.retried >= 4 and good.requests == 10
        await good.stop()
    run(main())


def test_all_endpoints_refusing_is_a_502_and_no_endpoint_a_503() -> None:
    async def main() -> None:
        port = free_port()
        dead = ["127.244.251.7", "127.244.251.8"]
        async with ingress_on([http_slice(dead, port)]) as (ingress, url):
            assert await statuses(url, 3) == [502] * 3
            assert ingress.stats.retried == 6  # three tries each: both endpoints, then one again
        async with ingress_on([http_slice([], port)]) as (_, url):
            assert await statuses(url, 2) == [503] * 2
    run(main())


def test_a_reset_after_the_request_is_retried_for_get_and_a_502_for_post() -> None:
    async def main() -> None:
        resetting = LoopServer(Behaviour.RESET)
        port = await resetting.start()
        async with ingress_on([http_slice(["127.0.0.1"], port)]) as (_, url):
            assert await statuses(url, 1) == [502]
            assert resetting.requests == 3  # GET: three tries, all reset
            assert await statuses(url, 1, "POST") == [502]
            assert resetting.requests == 4  # POST: sent once, never repeated
        await resetting.stop()
    run(main())


def test_a_pod_that_does_not_answer_in_time_is_a_504() -> None:
    async def main() -> None:
        hanging = LoopServer(Behaviour.HANG)
        port = await hanging.start()
        defaults = IngressDefaults(read_timeout_s=0.2, next_upstream_tries=2)
        async with ingress_on([http_slice(["127.0.0.1"], port)], defaults) as (_, url):
            assert await statuses(url, 1) == [504]
        assert hanging.requests == 2
        await hanging.stop()
    run(main())


# ---- through the component: --profile selects what serves the NodePort ------------------------
@contextlib.asynccontextmanager
async def proxy_with(profile: str, lag_s: float = 15.0):
    store = new_store()
    config = EngineConfig(endpoint_delay_s=0.0, min_sync_period_s=0.0, profile=profile,
                          lb_deregistration_lag_s=lag_s)
    proxy = ServiceProxy()
    await proxy.start(build_context(config, store=store, rng=random.Random(3)))
    try:
        yield store, proxy
    finally:
        await proxy.stop()


def test_ingress_profile_serves_the_node_port_and_hides_a_refusing_pod() -> None:
    async def main() -> None:
        good = LoopServer(Behaviour.ANSWER)
        port = await good.start()
        async with proxy_with("ingress-nginx") as (store, proxy):
            node_port = free_port()
            store.create("services", service("web", "127.96.201.1", node_port))
            store.create("endpointslices", http_slice(["127.244.251.9", "127.0.0.1"], port))
            await until(lambda: proxy.frontend.view.syncs >= 1, what="the ingress's sync")
            await until(lambda: (NODE, node_port) in proxy.listening(), what="the node port")
            assert await statuses(f"http://127.0.0.1:{node_port}/", 4) == [200] * 4
            assert proxy.frontend.stats.retried >= 1
        await good.stop()
    run(main())


def test_cloud_lb_keeps_sending_new_connections_to_a_removed_pod() -> None:
    async def main() -> None:
        async with backends(2, first=20) as (b1, b2), proxy_with("cloud-lb", 60.0) as (
                store, proxy):
            node_port = free_port()
            store.create("services", service("web", "127.96.201.2", node_port))
            set_endpoints(store, "web", [endpoint(b1), endpoint(b2)], b1.port)
            await until(lambda: len(proxy.frontend.routes_to(NODE, node_port)) == 2,
                        what="both targets registered")
            syncs = proxy.frontend.view.syncs
            set_endpoints(store, "web", [endpoint(b1)], b1.port)  # b2 leaves the Service
            await until(lambda: proxy.frontend.view.syncs > syncs, what="the LB saw it")
            await until(lambda: [e.pod for e in proxy.usable("default", "web", "http")] == ["b1"],
                        what="kube-proxy dropped b2")
            assert proxy.frontend.routes_to(NODE, node_port) == (b1.host, b2.host)
            assert "b2" in set(await gather_names(NODE, node_port, 40))
    run(main())


def test_cloud_lb_stops_sending_once_the_lag_has_passed() -> None:
    async def main() -> None:
        async with backends(2, first=22) as (b1, b2), proxy_with("cloud-lb", 0.3) as (
                store, proxy):
            node_port = free_port()
            store.create("services", service("web", "127.96.201.3", node_port))
            set_endpoints(store, "web", [endpoint(b1), endpoint(b2)], b1.port)
            await until(lambda: len(proxy.frontend.routes_to(NODE, node_port)) == 2,
                        what="both targets registered")
            set_endpoints(store, "web", [endpoint(b1)], b1.port)
            await until(lambda: proxy.frontend.routes_to(NODE, node_port) == (b1.host,),
                        what="b2 deregistered")
            assert set(await gather_names(NODE, node_port, 20)) == {"b1"}
    run(main())



def test_an_unknown_profile_is_refused() -> None:
    async def main() -> None:
        with pytest.raises(ValueError):
            async with proxy_with("haproxy"):
                pass
    run(main())


def test_the_ingress_answers_while_the_engine_loop_is_busy() -> None:
    """ingress-nginx is a pod of its own: a busy engine loop (the kubelet's probes, the API
    server) must not hold its requests, nor its load delay them. Here the engine's loop is
    blocked until a request through the ingress is answered; on that loop the ingress could not
    answer (the cause of thousands of 503s in withprobes runs: probes timed out behind it)."""
    pod = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    pod_thread = threading.Thread(target=pod.serve_forever, daemon=True)
    pod_thread.start()

    async def main() -> None:
        slices = [http_slice(["127.0.0.1"], pod.server_address[1])]
        async with ingress_on(slices) as (_, url):
            got: list[int] = []
            answered = threading.Event()

            def fetch() -> None:
                with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=30) as r:
                    got.append(r.status)
                answered.set()

            client = threading.Thread(target=fetch)
            client.start()
            answered.wait(30)  # blocks the engine's loop on purpose (a condition, not a sleep)
            client.join()
            assert got == [200]
    try:
        run(main())
    finally:
        pod.shutdown()
        pod.server_close()


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass
