"""The kernel data plane's ruleset renderer (pure): what each Service port becomes in nftables."""

from __future__ import annotations

import pytest

from probelab.engine.network.ranges import EngineNet
from probelab.engine.proxy.kernel.nft import Frontend, render

NET = EngineNet(2)  # pods 198.18.4.0/24, Services 198.18.5.0/24, bridge plb2


def rules(*frontends: Frontend) -> list[str]:
    return [line.strip() for line in render(NET, frontends).splitlines()]


@pytest.mark.parametrize(("frontend", "expected", "absent"), [
    # one endpoint: straight to its DNAT chain
    (Frontend("ns/a:80", "198.18.5.9", 80, (("198.18.4.2", 8080),)),
     ["ip daddr . tcp dport vmap { 198.18.5.9 . 80 : goto svc-0 }", "goto ep-0-0",
      "meta l4proto tcp dnat to 198.18.4.2:8080"], ["numgen random"]),
    # three endpoints: a uniform random choice per new connection
    (Frontend("ns/a:80", "198.18.5.9", 80, (("198.18.4.2", 8080), ("198.18.4.3", 8080),
                                            ("198.18.4.4", 8080))),
     ["numgen random mod 3 vmap { 0 : goto ep-0-0, 1 : goto ep-0-1, 2 : goto ep-0-2 }",
      "meta l4proto tcp dnat to 198.18.4.4:8080"], []),
    # a NodePort: only this port on 127.0.0.1, never a range
    (Frontend("ns/a:80", "127.0.0.1", 31000, (("198.18.4.2", 8080),)),
     ["ip daddr . tcp dport vmap { 127.0.0.1 . 31000 : goto svc-0 }"], ["31000-"]),
    # no usable endpoint: rejected (ECONNREFUSED), no DNAT chain
    (Frontend("ns/a:80", "198.18.5.9", 80, ()),
     ["ip daddr . tcp dport vmap { 198.18.5.9 . 80 : goto reject-no-endpoints }",
      "reject with tcp reset"], ["chain svc-0 {", "dnat to"]),
])
def test_service_ports(frontend: Frontend, expected: list[str], absent: list[str]) -> None:
    lines = rules(frontend)
    text = "\n".join(lines)
    for line in expected:
        assert line in lines, text
    for part in absent:
        assert part not in text


def test_the_table_is_replaced_in_one_transaction_and_guards_the_host() -> None:
    lines = rules()
    assert lines[:3] == ["add table ip probelab-2", "delete table ip probelab-2",
                         "table ip probelab-2 {"]
    # port-preserving SNAT of NodePort traffic to the bridge address (no fully-random)
    assert 'oifname "plb2" ip saddr 127.0.0.0/8 snat to 198.18.4.1' in lines
    assert not any("masquerade" in line or "fully-random" in line for line in lines)
    # CVE-2020-8558: nothing from the bridge reaches 127.0.0.0/8 unless the host began it
    assert ('iifname "plb2" ip daddr 127.0.0.0/8 ct state != { established, related } drop'
            in lines)
    # other programs' loopback traffic is not tracked; NodePort connections are
    assert lines.count("notrack") == 2
    assert "ip daddr 127.0.0.1 tcp dport 30000-32767 return" in lines
    # ClusterIP traffic from pods is DNATed only when it comes in on the engine's bridge
    assert 'iifname "plb2" jump services' in lines
    # no empty verdict maps (a syntax error in nft)
    assert not any(line.endswith("vmap {  }") for line in lines)


def test_comments_cannot_break_out_of_their_quotes() -> None:
    text = render(NET, [Frontend('ns/x"; drop;:80', "198.18.5.9", 80, ())])
    assert '"; drop;' not in text
