"""`--workers N`: one load from N processes (like wrk's `-t`), one merged result.

One Python process tops out at one core. N processes each run `run_load` on their part and
send their records back; the parent merges them into one `LoadResult`, so the summary, the
JSON and the CSV read as those of a single run. The parts add up to exactly the run asked:
closed model, `-c` and `-n` are split; open model, the schedule is dealt out request by
request (`scheduler.Share`: request k goes to process k mod N, still due at k / rate) from
one common start, taken after every process is ready. A stop (Ctrl-C, SIGTERM) is passed on
to every worker, whose summary still comes back; a second one ends them at once.
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import signal
import time
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any

from probelab.errors import RuntimeFailure, UsageError
from probelab.load.config import LoadConfig
from probelab.load.records import RecordLog
from probelab.load.runner import LoadResult, loop_factory, run_load
from probelab.load.scheduler import Share

_PR_SET_PDEATHSIG = 1  # prctl(2)
START_MARGIN_S = 0.2  # from "all workers ready" to the common start: for their connect probes
READY_TIMEOUT_S = 60.0


def split(total: int, parts: int, index: int) -> int:
    """Part `index` of `total` cut into `parts` as evenly as integers allow."""
    return total // parts + (1 if index < total % parts else 0)


def worker_configs(config: LoadConfig, workers: int) -> list[tuple[LoadConfig, Share | None]]:
    """Each worker's config (and, in the open model, its share of the schedule)."""
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    if workers > config.concurrency:
        raise UsageError(f"--workers {workers} needs -c {workers} or more (one connection "
                         f"each at least), got -c {config.concurrency}")
    if config.requests is not None and workers > config.requests:
        raise UsageError(f"--workers {workers} needs -n {workers} or more, got "
                         f"-n {config.requests}")
    parts = []
    for i in range(workers):
        concurrency = split(config.concurrency, workers, i)
        if config.rate_rps is not None:  # the share splits -n and the schedule
            parts.append((replace(config, concurrency=concurrency), Share(i, workers)))
        else:
            requests = None if config.requests is None else split(config.requests, workers, i)
            parts.append((replace(config, concurrency=concurrency, requests=requests), None))
    return parts


def merge_results(config: LoadConfig, results: list[LoadResult]) -> LoadResult:
    """One result from the workers': records appended worker after worker, counts added."""
    log = RecordLog()
    for result in results:
        log.extend(result.records)

    def total(name: str) -> Any:
        return sum(getattr(result, name) for result in results)

    return LoadResult(
        config=config,
        records=log,
        started_at=min(result.started_at for result in results),
        elapsed_s=max(result.elapsed_s for result in results),
        retries=total("retries"),
        resent=total("resent"),
        connections=total("connections"),
        interrupted=any(result.interrupted for result in results),
        abandoned=total("abandoned"),
        cpu_s=total("cpu_s"),
        concurrency_used=total("concurrency_used"),
        fd_limit=min(result.fd_limit for result in results),
        client_errors=total("client_errors"),
        client_error_example=next((r.client_error_example for r in results
                                   if r.client_error_example), None),
        scheduled=total("scheduled"),
        not_sent=total("not_sent"),
        client_bound=any(result.client_bound for result in results),
    )


def run_workers(config: LoadConfig, workers: int) -> LoadResult:
    """Run `config` from `workers` processes; blocks until all have reported."""
    parts = worker_configs(config, workers)
    context = multiprocessing.get_context("fork")  # nothing runs yet: a plain fork is safe
    pipes: list[Connection] = []
    procs = []
    try:
        for part, share in parts:
            ours, theirs = context.Pipe()
            proc = context.Process(target=_worker, args=(part, share, theirs),
                                   name="probelab-load-worker", daemon=True)
            proc.start()
            theirs.close()
            pipes.append(ours)
            procs.append(proc)
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            results = _coordinate(pipes, procs)
        finally:
            signal.signal(signal.SIGTERM, previous)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
            proc.join(5)
    return merge_results(config, results)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM to the parent stops the run like Ctrl-C does."""
    raise KeyboardInterrupt


def _coordinate(pipes: list[Connection], procs: list[Any]) -> list[LoadResult]:
    """Start the workers together, pass a stop on, collect their results."""
    for pipe in pipes:
        if not pipe.poll(READY_TIMEOUT_S):
            raise RuntimeFailure("a load worker did not start")
        _expect(_receive(pipe))
    start_at = time.perf_counter() + START_MARGIN_S
    for pipe in pipes:
        pipe.send(start_at)
    results: list[LoadResult] = []
    stops = 0
    while len(results) < len(pipes):
        try:
            for pipe in pipes[len(results):]:
                results.append(_expect(_receive(pipe)))
        except KeyboardInterrupt:  # Ctrl-C: the workers stop and still report; twice: now
            stops += 1
            for proc in procs:
                if proc.is_alive():
                    proc.terminate() if stops == 1 else proc.kill()
            if stops > 1:
                raise
    return results


def _receive(pipe: Connection) -> tuple[str, Any]:
    try:
        return pipe.recv()  # type: ignore[no-any-return]
    except EOFError:  # the worker died (killed, out of memory) before it could answer
        return ("ended", None)


def _expect(message: tuple[str, Any]) -> Any:
    kind, value = message
    if kind == "ended":
        raise RuntimeFailure("a load worker ended without a result")
    if kind == "error":
        raise RuntimeFailure(value)
    return value


def _stop_with_parent() -> None:
    """Linux: SIGTERM to this worker when the parent dies (even by SIGKILL), so that a worker
    never runs on alone for the rest of a long -z; elsewhere nothing (the run's bounds hold)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _worker(config: LoadConfig, share: Share | None, pipe: Connection) -> None:
    """A worker process: ready, wait for the common start, run, send the result back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent passes a stop on as SIGTERM
    _stop_with_parent()
    try:
        pipe.send(("ready", None))
        start_at = pipe.recv()
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            result = runner.run(_run(config, share, start_at))
        pipe.send(("result", result))
    except Exception as exc:
        pipe.send(("error", str(exc) or type(exc).__name__))
    finally:
        pipe.close()


async def _run(config: LoadConfig, share: Share | None, start_at: float) -> LoadResult:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    return await run_load(config, stop_event=stop, share=share, start_at=start_at)
