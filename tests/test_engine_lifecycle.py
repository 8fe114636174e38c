"""The engine's life in process, with fake components: start in order, stop in reverse order on
the first signal, give up waiting on the second, and stop what started when a start fails.

Fake components make the order visible and let a stop hang on purpose, which real ones do only
with a stubborn pod; `cluster up` end to end is in test_cluster_cli.py.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import ClassVar

import pytest

from probelab.engine import engine as engine_cluster
from probelab.engine.core.context import EngineConfig
from probelab.errors import UsageError


class FakeComponent:
    """Records its calls; `stop_blocks` makes stop() hang like a pod that never exits."""

    name = "fake"
    calls: ClassVar[list[str]] = []
    stop_blocks = False
    fail_start = False

    async def start(self, ctx) -> None:
        FakeComponent.calls.append(f"start {self.name}")
        if self.fail_start:
            raise UsageError("cannot listen")

    async def stop(self) -> None:
        FakeComponent.calls.append(f"stop {self.name}")
        if self.stop_blocks:
            await asyncio.Event().wait()


class First(FakeComponent):
    name = "first"


class Second(FakeComponent):
    name = "second"


@pytest.fixture
def fakes(monkeypatch):
    FakeComponent.calls = []
    FakeComponent.stop_blocks = False
    FakeComponent.fail_start = False
    Second.fail_start = False
    monkeypatch.setattr(engine_cluster, "COMPONENTS", (First, Second))
    return FakeComponent


def run_with_signals(signals: list[signal.Signals]) -> tuple[engine_cluster.Outcome, list[str]]:
    """Run the engine; once ready, send ourselves `signals` one per loop turn."""
    seen: list[str] = []

    async def main() -> engine_cluster.Outcome:
        eng = engine_cluster.Engine(EngineConfig())

        async def send() -> None:
            for sig in signals:
                os.kill(os.getpid(), sig)
                await asyncio.sleep(0)
                await asyncio.sleep(0)

        def ready() -> None:
            seen.append("ready")
            asyncio.get_running_loop().create_task(send())

        return await eng.run_forever(ready, seen.append)

    return asyncio.run(main()), seen


def test_first_signal_stops_in_reverse_order(fakes) -> None:
    outcome, seen = run_with_signals([signal.SIGTERM])
    assert outcome is engine_cluster.Outcome.GRACEFUL
    assert seen == ["ready", "SIGTERM"]
    assert fakes.calls == ["start first", "start second", "stop second", "stop first"]
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handlers removed again


def test_second_signal_forces_a_hanging_stop(fakes) -> None:
    fakes.stop_blocks = True
    outcome, seen = run_with_signals([signal.SIGINT, signal.SIGINT])
    assert outcome is engine_cluster.Outcome.FORCED
    assert seen == ["ready", "SIGINT"]


def test_failed_start_stops_what_started(fakes) -> None:
    Second.fail_start = True

    async def main() -> None:
        await engine_cluster.Engine(EngineConfig()).run_forever()

    with pytest.raises(UsageError):
        asyncio.run(main())
    assert fakes.calls == ["start first", "start second", "stop second", "stop first"]
