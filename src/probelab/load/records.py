"""What happened to every request, stored column by column so long runs stay small.

A 60 s run at 60k requests/s is 3.6 M requests; as objects that would be ~1 GB, as columns it
is ~30 bytes each. Iterating a `RecordLog` yields `Record` views built on demand, which is what
the summary, the CSV writer and the demo read. The log is the single owner of these results;
the scheduler appends, everything else only reads.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from probelab.load.outcome import OUTCOMES, Outcome, classify, describe

_OK_INDEX = OUTCOMES.index(Outcome.OK)


@dataclass(frozen=True, slots=True)
class Record:
    """One finished request. Times are seconds; `start_s` is from the start of the run."""

    start_s: float  # scheduled send time (open model) or actual send time (closed model)
    latency_s: float  # until the response was complete or the request failed
    outcome: Outcome
    status: int | None  # HTTP status when a response came
    version: str | None  # X-App-Version
    pod: str | None  # X-Pod-Name
    error: str | None  # short message for failures, None for ok


class _Interned:
    """Small ints for repeated strings (versions, pods, messages); 0 stands for None."""

    __slots__ = ("index", "values")

    def __init__(self) -> None:
        self.values: list[str | None] = [None]
        self.index: dict[str | None, int] = {None: 0}

    def id(self, value: str | None) -> int:
        got = self.index.get(value)
        if got is None:
            got = self.index[value] = len(self.values)
            self.values.append(value)
        return got


class RecordLog:
    """Append-only columns of results; `len()` is the number of finished requests."""

    def __init__(self, on_result: Callable[[Record], object] | None = None) -> None:
        self.start_s = array("d")
        self.latency_s = array("d")
        self.outcome = bytearray()
        self.status = array("H")  # 0: no response
        self._version = array("I")
        self._pod = array("I")
        self._error = array("I")
        self.versions = _Interned()
        self.pods = _Interned()
        self.errors = _Interned()
        self.on_result = on_result

    def add(
        self,
        start_s: float,
        latency_s: float,
        status: int | None,
        version: str | None,
        pod: str | None,
        exc: BaseException | None,
    ) -> None:
        if exc is None and status is not None and 200 <= status < 400:
            code, err = _OK_INDEX, 0  # the hot path: no classification needed
        else:
            outcome = classify(status, exc)
            code, err = OUTCOMES.index(outcome), self.errors.id(describe(outcome, status, exc))
        self.start_s.append(start_s)
        self.latency_s.append(latency_s)
        self.outcome.append(code)
        self.status.append(status or 0)
        self._version.append(self.versions.id(version))
        self._pod.append(self.pods.id(pod))
        self._error.append(err)
        if self.on_result is not None:
            self.on_result(self[len(self.outcome) - 1])

    def __len__(self) -> int:
        return len(self.outcome)

    def __getitem__(self, i: int) -> Record:
        status = self.status[i]
        return Record(
            start_s=self.start_s[i],
            latency_s=self.latency_s[i],
            outcome=OUTCOMES[self.outcome[i]],
            status=status or None,
            version=self.versions.values[self._version[i]],
            pod=self.pods.values[self._pod[i]],
            error=self.errors.values[self._error[i]],
        )

    def __iter__(self) -> Iterator[Record]:
        for i in range(len(self.outcome)):
            yield self[i]
