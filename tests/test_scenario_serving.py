"""The demo starts measuring only once the Service answers cleanly (real sockets)."""

import asyncio

import pytest
from aiohttp import web

from probelab.scenario.loaddriver import SERVING_WINDOWS, wait_serving
from support.sockets import free_port


async def _serve(handler) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/"


def test_waits_for_clean_windows_then_returns() -> None:
    async def main() -> int:
        calls = {"n": 0}

        async def flaky(_request: web.Request) -> web.Response:
            calls["n"] += 1  # the first requests fail, as behind a proxy that lags
            return web.Response(status=503 if calls["n"] <= 30 else 200, text="x")

        runner, url = await _serve(flaky)
        try:
            return await wait_serving(url, timeout_s=30, request_timeout_s=2)
        finally:
            await runner.cleanup()

    windows = asyncio.run(main())
    assert windows > SERVING_WINDOWS  # the failing window did not count


def test_gives_up_on_a_closed_port() -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    with pytest.raises(TimeoutError, match="did not answer cleanly"):
        asyncio.run(wait_serving(url, timeout_s=2, request_timeout_s=1))
