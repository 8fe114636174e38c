"""CPU time of the sample service's own Python per request: parse, route, count, render, write.

    .venv/bin/python bench/web_handler_cost.py [--requests 50000] [--rounds 5]

Feeds `GET /` to one connection of the real protocol (probelab.web.protocol) in this process,
with a transport whose write does nothing, and divides the CPU time (`time.process_time`, so
time spent waiting for a busy core does not count) by the requests. Set beside
bench/web_vs_minimal.py's server CPU per request, it says how much of a request is this code
and how much the event loop and the kernel. The best of `--rounds` is reported (noise only ever
adds). A benchmark, not a test; no sockets.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from probelab.web.app import PublicApp
from probelab.web.http1 import identity_lines
from probelab.web.metrics import Metrics
from probelab.web.protocol import HttpServer
from probelab.web.shutdown import Phase, closes_connections
from probelab.web.state import ServiceState

REQUEST = b"GET / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n"


class NullTransport(asyncio.Transport):
    """Takes every write and keeps nothing: only the protocol's own work is measured."""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def close(self) -> None:
        pass


async def _measure(requests: int, rounds: int) -> list[float]:
    state = ServiceState(app_version="1.0", pod_name="bench", phase=Phase.SERVING)
    metrics = Metrics("1.0", "bench", ready=lambda: True, in_flight=lambda: state.in_flight)
    server = HttpServer(PublicApp(state, metrics), identity_lines("1.0", "bench"), 60.0,
                        draining=lambda: closes_connections(state.phase))
    connection = server()
    connection.connection_made(NullTransport())
    feed = connection.data_received
    results = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(requests):
            feed(REQUEST)
        results.append((time.process_time() - started) / requests * 1e6)
    server.close_all()
    assert state.requests_served == requests * rounds, "a request was not answered"
    return results


def run(requests: int = 50_000, rounds: int = 5) -> list[dict]:
    per_request = asyncio.run(_measure(requests, rounds))
    return [{"bench": "sample service", "metric": f"CPU per GET / in the service's own Python "
             f"(in-process, best of {rounds} x {requests})", "value": round(min(per_request), 2),
             "unit": "us", "baseline": None, "ratio": None}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=50_000, choices=range(1, 1_000_001),
                        metavar="1-1000000")
    parser.add_argument("--rounds", type=int, default=5, choices=range(1, 21), metavar="1-20")
    args = parser.parse_args()
    for row in run(args.requests, args.rounds):
        print(f"{row['bench']}: {row['metric']}: {row['value']:g} {row['unit']}")


if __name__ == "__main__":
    main()
