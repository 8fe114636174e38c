"""The service proxy component on a real store and real sockets: listeners follow Services,
endpoint changes apply after the delay (asserted through the EndpointsApplied events, not the
clock), the terminating fallback, resets, conntrack-like stickiness, port conflicts, stop."""

import asyncio
import contextlib
import random
import socket

from probelab.engine.core.context import EngineConfig
from probelab.engine.core.store import Store
from probelab.engine.engine import build_context
from probelab.engine.proxy.component import ServiceProxy
from probelab.k8s.annotations import (
    READY_ENDPOINTS,
    SERVING_TERMINATING_USED,
    TERMINATING_ENDPOINTS,
)
from support.echo_backends import backends, expect_reset, gather_names, greet
from support.loops import run
from support.sockets import free_port
from support.waiting import until

NODE = "127.0.0.1"
DELAY_S = 0.3


def service(name: str, cluster_ip: str, node_port: int | None = None, port: int = 0) -> dict:
    """A Service as the API server stores it (defaulted, clusterIP and nodePort allocated)."""
    port = port or free_port(cluster_ip)
    spec = {"type": "NodePort" if node_port else "ClusterIP", "clusterIP": cluster_ip,
            "clusterIPs": [cluster_ip], "selector": {"app": name}, "sessionAffinity": "None",
            "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]}
    if node_port:
        spec["ports"][0]["nodePort"] = node_port
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def endpoint(b, ready=True, serving=None, terminating=False) -> dict:
    serving = ready if serving is None else serving
    return {"addresses": [b.host],
            "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
            "targetRef": {"kind": "Pod", "name": b.name, "namespace": "default"}}


def endpoint_slice(svc: str, endpoints: list[dict], port: int, name: str = "") -> dict:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name or f"{svc}-abcde", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4", "endpoints": endpoints,
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}]}


def set_endpoints(store: Store, svc: str, endpoints: list[dict], port: int) -> None:
    obj = endpoint_slice(svc, endpoints, port)
    if store.find("endpointslices", "default", obj["metadata"]["name"]) is None:
        store.create("endpointslices", obj)
    else:
        store.update("endpointslices", obj)


def events(store: Store, svc: str, reason: str) -> list[dict]:
    found, _ = store.list("events", "default",
                          where=lambda e: e["involvedObject"]["name"] == svc
                          and e["reason"] == reason)
    return sorted(found, key=lambda e: int(e["metadata"]["resourceVersion"]))


async def applied(store: Store, svc: str, text: str) -> dict:
    """Wait for the EndpointsApplied event whose message contains `text`."""
    def find():
        return next((e for e in events(store, svc, "EndpointsApplied") if text in e["message"]),
                    None)
    return await until(find, what=f"EndpointsApplied '{text}' on {svc}")


@contextlib.asynccontextmanager
async def proxy_on(store: Store | None = None, delay_s: float = DELAY_S,
                   min_sync_s: float = 0.0):
    store = store or new_store()
    ctx = build_context(EngineConfig(endpoint_delay_s=delay_s, min_sync_period_s=min_sync_s),
                        store=store,
                        rng=random.Random(5))
    proxy = ServiceProxy()
    await proxy.start(ctx)
    try:
        yield store, proxy
    finally:
        await proxy.stop()


def new_store() -> Store:
    store = Store()
    store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                "metadata": {"name": "default"}})
    return store


def test_component_contract() -> None:
    proxy = ServiceProxy()
    assert proxy.name == "proxy"
    run(proxy.stop())  # stop before start is harmless


def test_listeners_follow_the_service_and_connections_spread() -> None:
    async def main() -> None:
        async with backends(3) as backs, proxy_on() as (store, proxy):
            node_port = free_port()
            svc = store.create("services", service("web", "127.96.200.1", node_port))
            cluster = ("127.96.200.1", svc["spec"]["ports"][0]["port"])
            await until(lambda: len(proxy.listening()) == 2, what="two listeners")
            assert set(proxy.listening()) == {cluster, (NODE, node_port)}
            await expect_reset(NODE, node_port)  # no endpoints yet: reset
            set_endpoints(store, "web", [endpoint(b) for b in backs], backs[0].port)
            await applied(store, "web", "routes to 3 ready endpoints")
            assert set(await gather_names(NODE, node_port, 30)) == {"b1", "b2", "b3"}
            assert set(await gather_names(*cluster, 30)) == {"b1", "b2", "b3"}

            moved = free_port()  # a new nodePort: the old listener closes, a new one opens
            svc["spec"]["ports"][0]["nodePort"] = moved
            store.update("services", svc)
            await until(lambda: (NODE, moved) in proxy.listening(), what="the new nodePort")
            assert (NODE, node_port) not in proxy.listening()
            assert (await gather_names(NODE, moved, 3))[0] in {"b1", "b2", "b3"}

            store.delete("services", "default", "web")
            await until(lambda: not proxy.listening(), what="listeners closed")
            for host, port in (cluster, (NODE, moved)):
                try:
                    with socket.create_connection((host, port), timeout=2):
                        raise AssertionError(f"{host}:{port} still accepts connections")
                except ConnectionRefusedError:
                    pass
    run(main())


def test_an_endpoint_removal_applies_only_after_the_delay() -> None:
    async def main() -> None:
        async with backends(3) as backs, proxy_on() as (store, proxy):
            node_port = free_port()
            store.create("services", service("web", "127.96.200.2", node_port))
            set_endpoints(store, "web", [endpoint(b) for b in backs], backs[0].port)
            await applied(store, "web", "routes to 3 ready endpoints")

            # b3 starts terminating: the controller marks it not ready at once...
            set_endpoints(store, "web", [endpoint(b) for b in backs[:2]]
                          + [endpoint(backs[2], ready=False, serving=True, terminating=True)],
                          backs[0].port)
            changed_at = store.clock.now()
            # ...but the proxy still routes to it until its view catches up
            assert "b3" in {e.pod for e in proxy.usable("default", "web", "http")}
            event = await applied(store, "web", "routes to 2 ready endpoints (1 terminating")
            assert event["metadata"]["annotations"] == {  # the same numbers, as data
                READY_ENDPOINTS: "2", TERMINATING_ENDPOINTS: "1", SERVING_TERMINATING_USED: "0"}
            lag = _event_time(event) - changed_at
            assert lag >= DELAY_S - 0.01, lag
            assert "b3" not in set(await gather_names(NODE, node_port, 40))
            assert proxy.timeline[-1].usable == (backs[0].host, backs[1].host)
    run(main())


def _event_time(event: dict) -> float:
    from probelab.engine.core.clock import parse_rfc3339

    return parse_rfc3339(event["eventTime"])


def test_changes_apply_in_the_order_seen() -> None:
    async def main() -> None:
        async with backends(2) as (b1, b2), proxy_on() as (store, proxy):
            store.create("services", service("web", "127.96.200.3", free_port()))
            set_endpoints(store, "web", [endpoint(b1)], b1.port)
            set_endpoints(store, "web", [endpoint(b1), endpoint(b2)], b1.port)
            set_endpoints(store, "web", [endpoint(b2)], b1.port)
            await until(lambda: proxy.timeline and proxy.timeline[-1].usable == (b2.host,),
                        what="the last change applied")
            assert [e.address for e in proxy.usable("default", "web", "http")] == [b2.host]
    run(main())


def test_changes_within_the_min_sync_period_wait_for_its_end_and_apply_together() -> None:
    period = 1.0

    async def main() -> None:
        async with backends(2) as (b1, b2), proxy_on(delay_s=0.05, min_sync_s=period) as (
                store, proxy):
            store.create("services", service("web", "127.96.200.7", free_port()))
            set_endpoints(store, "web", [endpoint(b1)], b1.port)
            first = await applied(store, "web", "routes to 1 ready endpoints")
            syncs = proxy.syncs
            # two changes right after a sync: the runner holds both until the period ends
            set_endpoints(store, "web", [endpoint(b1), endpoint(b2)], b1.port)
            await asyncio.sleep(0)
            set_endpoints(store, "web", [endpoint(b2)], b1.port)
            await until(lambda: proxy.timeline and proxy.timeline[-1].usable == (b2.host,),
                        what="the last change applied")
            last = events(store, "web", "EndpointsApplied")[-1]
            assert _event_time(last) - _event_time(first) >= period - 0.01
            assert proxy.syncs == syncs + 1  # one sync applied both
            assert (b1.host, b2.host) not in [a.usable for a in proxy.timeline]
    run(main())


def test_no_ready_endpoint_falls_back_to_serving_terminating_ones() -> None:
    async def main() -> None:
        async with backends(3) as backs, proxy_on() as (store, _proxy):
            node_port = free_port()
            store.create("services", service("web", "127.96.200.4", node_port))
            set_endpoints(store, "web", [
                endpoint(backs[0], ready=False, serving=True, terminating=True),
                endpoint(backs[1], ready=False, serving=False, terminating=True),
                endpoint(backs[2], ready=False),  # starting, not ready yet
            ], backs[0].port)
            await applied(store, "web",
                          "routes to 0 ready endpoints (2 terminating, 1 serving-terminating used)")
            assert set(await gather_names(NODE, node_port, 10)) == {"b1"}
    run(main())


def test_nothing_usable_resets_new_connections_but_established_ones_stay() -> None:
    async def main() -> None:
        async with backends(1) as (b1,), proxy_on() as (store, proxy):
            node_port = free_port()
            store.create("services", service("web", "127.96.200.5", node_port))
            set_endpoints(store, "web", [endpoint(b1)], b1.port)
            await applied(store, "web", "routes to 1 ready endpoints")
            name, reader, writer = await greet(NODE, node_port)

            store.delete("endpointslices", "default", "web-abcde")
            await applied(store, "web", "routes to 0 ready endpoints (0 terminating")
            await expect_reset(NODE, node_port)
            await until(lambda: proxy.stats.rejected >= 1)  # counted in the proxy process
            writer.write(b"conntrack")  # the old connection still reaches its pod
            assert (name, await asyncio.wait_for(reader.readexactly(9), 10)) == ("b1", b"conntrack")
            writer.close()
    run(main())


def test_a_backend_that_refuses_gives_the_client_a_reset() -> None:
    async def main() -> None:
        async with backends(1) as (b1,), proxy_on() as (store, proxy):
            node_port = free_port()
            store.create("services", service("web", "127.96.200.6", node_port))
            gone = {"addresses": ["127.244.250.99"], "conditions": {"ready": True}}
            set_endpoints(store, "web", [gone], b1.port)  # ready on paper, no listener
            await applied(store, "web", "routes to 1 ready endpoints")
            await expect_reset(NODE, node_port)
            await until(lambda: proxy.stats.failed == 1)
    run(main())


def test_a_port_in_use_is_a_warning_and_other_services_keep_working() -> None:
    async def main() -> None:
        with socket.socket() as squatter:
            squatter.bind((NODE, 0))
            squatter.listen()
            taken = squatter.getsockname()[1]
            async with backends(1) as (b1,), proxy_on() as (store, proxy):
                store.create("services", service("blocked", "127.96.200.7", taken))
                ok_port = free_port()
                store.create("services", service("web", "127.96.200.8", ok_port))
                warning = await until(lambda: events(store, "blocked", "FailedListen"))
                assert warning[0]["type"] == "Warning"
                assert f"127.0.0.1:{taken}" in warning[0]["message"]
                set_endpoints(store, "web", [endpoint(b1)], b1.port)
                await applied(store, "web", "routes to 1 ready endpoints")
                assert await gather_names(NODE, ok_port, 2) == ["b1", "b1"]
                assert len(proxy.listening()) == 3  # both clusterIPs and web's nodePort
    run(main())


def test_a_node_port_freed_by_another_process_is_bound_and_named_right(monkeypatch) -> None:
    monkeypatch.setattr(ServiceProxy, "listen_retry_s", 0.1, raising=False)

    async def main() -> None:
        squatter = socket.socket()
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind((NODE, 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        try:
            async with backends(1) as (b1,), proxy_on() as (store, proxy):
                svc = service("late", "127.96.200.9", taken)
                svc["spec"]["ports"][0]["name"] = ""  # unnamed: the message gives its number
                port = svc["spec"]["ports"][0]["port"]
                store.create("services", svc)
                warning = await until(lambda: events(store, "late", "FailedListen"))
                assert f"(nodePort of port {port})" in warning[0]["message"]
                squatter.close()  # the other process lets the port go
                await until(lambda: (NODE, taken) in proxy.listening(), timeout_s=10)
                set_endpoints(store, "late", [endpoint(b1)], b1.port)
                await applied(store, "late", "routes to 1 ready endpoints")
                assert await gather_names(NODE, taken, 1) == ["b1"]
        finally:
            squatter.close()
    run(main())


def test_existing_objects_apply_at_start_and_stop_closes_everything() -> None:
    async def main() -> None:
        async with backends(1) as (b1,):
            store = new_store()
            node_port = free_port()
            svc = store.create("services", service("web", "127.96.200.9", node_port))
            set_endpoints(store, "web", [endpoint(b1)], b1.port)
            async with proxy_on(store) as (_store, proxy):
                assert len(proxy.listening()) == 2  # start returned with listeners ready
                assert await gather_names(NODE, node_port, 1) == ["b1"]  # no delay at start
                _name, reader, writer = await greet(NODE, node_port)
                await proxy.stop()
                await proxy.stop()  # twice is fine
                assert not proxy.listening()
                try:
                    await asyncio.wait_for(reader.read(), 10)
                    raise AssertionError("the live connection was not reset")
                except ConnectionResetError:
                    pass
                writer.close()
                for addr in ((NODE, node_port), ("127.96.200.9", svc["spec"]["ports"][0]["port"])):
                    try:
                        _r, w = await asyncio.open_connection(*addr)
                        w.close()
                        raise AssertionError(f"{addr} still listening")
                    except ConnectionRefusedError:
                        pass
    run(main())
