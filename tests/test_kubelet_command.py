"""Table tests of what a container process is given ($(VAR) expansion, env, argv) and of the
pod IP allocator."""

from __future__ import annotations

import ipaddress

import pytest

from probelab.engine.kubelet.command import EnvError, argv, container_env, expand
from probelab.engine.kubelet.ipam import PodIPs, PoolExhausted

ENV = {"A": "alpha", "B": "$(A)", "EMPTY": ""}


@pytest.mark.parametrize(("text", "expected"), [
    ("$(A)", "alpha"),
    ("x-$(A)-y", "x-alpha-y"),
    ("$(A)$(A)", "alphaalpha"),
    ("$(MISSING)", "$(MISSING)"),  # unknown variables stay as written
    ("$$(A)", "$(A)"),  # escaped
    ("$$$(A)", "$alpha"),
    ("$$", "$"),
    ("$", "$"),
    ("a$", "a$"),
    ("$A", "$A"),  # only $(...) is a reference
    ("$(A", "$(A"),  # unclosed
    ("$()", "$()"),
    ("$(EMPTY)x", "x"),
    ("$(B)", "$(A)"),  # values are not expanded again
    ("", ""),
])
def test_expand(text, expected) -> None:
    assert expand(text, ENV) == expected


@pytest.mark.parametrize(("container", "expected"), [
    ({}, ["run", "--v", "1"]),
    ({"args": ["--x", "$(A)"]}, ["run", "--x", "alpha"]),  # args replace the image's args
    ({"args": []}, ["run"]),
    ({"command": ["sh", "-c", "echo $(A)"]}, ["sh", "-c", "echo alpha"]),
    ({"command": ["sh"], "args": ["-c", "$$(A)"]}, ["sh", "-c", "$(A)"]),
])
def test_argv(container, expected) -> None:
    assert argv(["run"], ["--v", "1"], container, ENV) == expected


POD = {"metadata": {"name": "web-1", "namespace": "probes", "uid": "u-1",
                    "labels": {"app": "web"}, "annotations": {"note": "n"}},
       "spec": {"nodeName": "probelab"}}


def test_container_env() -> None:
    container = {"env": [
        {"name": "GREETING", "value": "hi $(POD_NAME) at $(POD_IP)"},
        {"name": "ME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "LATER", "value": "$(GREETING)!"},
        {"name": "POD_NAME", "value": "override"},
        {"name": "HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
    ]}
    env = container_env(POD, container, "127.244.0.7", "127.0.0.1",
                        host_env={"PATH": "/bin", "SECRET": "x"})
    assert env["PATH"] == "/bin" and "SECRET" not in env
    assert env["POD_IP"] == "127.244.0.7" and env["POD_NAMESPACE"] == "probes"
    assert env["HOSTNAME"] == "web-1"
    assert env["GREETING"] == "hi web-1 at 127.244.0.7"
    assert env["ME"] == "web-1" and env["APP"] == "web" and env["NODE"] == "probelab"
    assert env["LATER"] == "hi web-1 at 127.244.0.7!"
    assert env["POD_NAME"] == "override"
    assert env["HOST"] == "127.0.0.1"


@pytest.mark.parametrize("container", [
    {"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
    {"env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}}]},
    {"envFrom": [{"configMapRef": {"name": "c"}}]},
])
def test_unresolvable_env_sources_are_errors(container) -> None:
    # no ConfigMap or Secret exists here (no sources), and spec.bogus is no field path
    with pytest.raises(EnvError):
        container_env(POD, container, "127.244.0.7", "127.0.0.1", host_env={})


def test_pod_ips_are_unique_and_in_the_pod_range() -> None:
    ips = PodIPs("127.244")
    got = [ips.allocate(f"pod-{i}") for i in range(600)]
    assert len(set(got)) == 600
    net = ipaddress.ip_network("127.244.0.0/16")
    assert all(ipaddress.ip_address(ip) in net for ip in got)
    assert "127.244.0.0" not in got
    assert ips.allocate("pod-3") == got[3]  # the same owner keeps its address


def test_an_ip_is_never_reused_while_held() -> None:
    ips = PodIPs("127.244")
    first = ips.allocate("a")
    second = ips.allocate("b")
    ips.release("a")
    third = ips.allocate("c")
    assert third not in (first, second)  # round robin: a freed address is not reused at once
    assert ips.reserve("127.244.0.2", "z") is False  # held by "b"
    assert ips.reserve("127.244.9.9", "z") is True


def test_a_small_pool_wraps_and_then_runs_out() -> None:
    ips = PodIPs("127.244")
    ips._size = 3  # a tiny pool to reach the end quickly
    a, b, c = (ips.allocate(x) for x in "abc")
    with pytest.raises(PoolExhausted):
        ips.allocate("d")
    ips.release("b")
    assert ips.allocate("d") == b  # only the freed one is handed out
    assert {a, c} <= set(ips.held())


@pytest.mark.parametrize("prefix", ["127", "127.244.1", "300.1", "a.b"])
def test_a_bad_prefix_is_refused(prefix) -> None:
    with pytest.raises(ValueError):
        PodIPs(prefix)


def test_ip_cursor_start_spreads_engines_apart() -> None:
    from probelab.engine.kubelet.kubelet import ip_cursor_start

    a, b = PodIPs("127.244", start=ip_cursor_start(4000)), PodIPs("127.244",
                                                                  start=ip_cursor_start(4001))
    first_a = {a.allocate(f"a{i}") for i in range(100)}
    first_b = {b.allocate(f"b{i}") for i in range(100)}
    assert not first_a & first_b
