"""The kernel data plane: the proxy's routes become one nftables table (`nft.render`), replaced
in one transaction whenever a route changes (at most once per event loop turn).

Same interface as the userspace `dataplane.DataPlane` (`listen`, `sync`, `abort_all`, `stats`),
so `proxy.component` decides what each Service port routes to and does not care how. `listen`
on 127.0.0.1:nodePort also binds (without listening) a socket on that port: it claims the port
on this machine, as kube-proxy's iptables mode holds its NodePorts open, so that neither another
engine nor another program can take it; a port already taken is an OSError the component turns
into a FailedListen Event. Connections themselves never reach that socket: DNAT sends them on
before.
"""

from __future__ import annotations

import asyncio
import logging
import socket

from probelab.engine.network import nftables
from probelab.engine.network.ranges import EngineNet
from probelab.engine.proxy.dataplane import Route, Stats
from probelab.engine.proxy.kernel.nft import LOCALHOST, Frontend, render

log = logging.getLogger("probelab.engine.proxy.kernel")


class _Rule:
    """One address of one route, while the Service has it (what `listen` returns)."""

    def __init__(self, plane: KernelPlane, host: str, port: int, route: Route,
                 sock: socket.socket | None) -> None:
        self.plane, self.host, self.port, self.route, self.sock = plane, host, port, route, sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self in self.plane.rules:
            self.plane.rules.remove(self)
            self.plane.sync()

    async def wait_closed(self) -> None:
        return None


class KernelPlane:
    def __init__(self, net: EngineNet) -> None:
        self.net = net
        self.loop = asyncio.get_running_loop()
        self.rules: list[_Rule] = []
        self.stats = Stats()  # connections never pass through this process: nothing to count
        self.syncs = 0  # transactions applied
        self._scheduled = False
        self._closed = False
        self.apply_now()  # the table exists (rejecting nothing) from the start

    async def listen(self, host: str, port: int, route: Route) -> _Rule:
        sock = None
        if host == LOCALHOST:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.bind((host, port))
            except OSError:
                sock.close()
                raise
        rule = _Rule(self, host, port, route, sock)
        self.rules.append(rule)
        self.sync()
        return rule

    def sync(self) -> None:
        """Apply the routes as they are at the end of this loop turn."""
        if not self._scheduled and not self._closed:
            self._scheduled = True
            self.loop.call_soon(self.apply_now)

    def frontends(self) -> list[Frontend]:
        return [Frontend(r.route.name, r.host, r.port,
                         tuple((e.address, e.port) for e in r.route.usable))
                for r in self.rules]

    def apply_now(self) -> None:
        self._scheduled = False
        if self._closed:
            return
        try:
            nftables.run(render(self.net, self.frontends()))
            self.syncs += 1
        except nftables.NftError as exc:  # kept for the next sync; say so loudly
            log.error("proxy: nftables refused the rules of engine %d: %s", self.net.index, exc)

    def abort_all(self) -> int:
        """The proxy stops: its table goes (new connections to Services fail; established
        ones keep their conntrack entry until their pods stop)."""
        self._closed = True
        for rule in list(self.rules):
            if rule.sock is not None:
                rule.sock.close()
        self.rules.clear()
        try:
            nftables.delete_table(self.net.table)
        except nftables.NftError as exc:
            log.error("proxy: cannot delete nftables table %s: %s", self.net.table, exc)
        return 0
