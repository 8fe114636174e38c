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

_OK = OUTCOMES.index(Outcome.OK)
# A record's `code` holds the status above CLASS_BITS and the outcome's index below them.
CLASS_BITS = 4
CLASS_MASK = (1 << CLASS_BITS) - 1
assert len(OUTCOMES) <= CLASS_MASK + 1, "the outcome classes outgrew CLASS_BITS"


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


class RecordLog:
    """Append-only columns of results; `len()` is the number of finished requests.

    `code` packs status and class (`status << CLASS_BITS | outcome index`, a status below
    4096); `origin` indexes the (version, pod) pairs seen; `error` indexes the distinct
    messages (0: none).
    """

    def __init__(self, on_result: Callable[[Record], object] | None = None) -> None:
        self.start_s = array("d")
        self.latency_s = array("d")
        self.code = array("H")
        self.origin = array("I")
        self.error = array("I")
        self.origins: list[tuple[str | None, str | None]] = [(None, None)]
        self._origin_ids: dict[tuple[str | None, str | None], int] = {(None, None): 0}
        self.messages: list[str | None] = [None]
        self._message_ids: dict[str | None, int] = {None: 0}
        self.failed = 0
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
            code, err = status << CLASS_BITS | _OK, 0  # the hot path: no classification needed
        else:
            outcome = classify(status, exc)
            code = (status or 0) << CLASS_BITS | OUTCOMES.index(outcome)
            err = self._message_id(describe(outcome, status, exc))
            self.failed += 1
        self.start_s.append(start_s)
        self.latency_s.append(latency_s)
        self.code.append(code)
        if version is None and pod is None:
            self.origin.append(0)
        else:
            self.origin.append(self._origin_id((version, pod)))
        self.error.append(err)
        if self.on_result is not None:
            self.on_result(self[len(self.code) - 1])

    def extend(self, other: RecordLog) -> None:
        """Append another log's records (another worker's), after this one's."""
        origins = [self._origin_id(key) for key in other.origins]
        messages = [self._message_id(message) for message in other.messages]
        self.start_s.extend(other.start_s)
        self.latency_s.extend(other.latency_s)
        self.code.extend(other.code)
        self.origin.extend(array("I", [origins[i] for i in other.origin]))
        self.error.extend(array("I", [messages[i] for i in other.error]))
        self.failed += other.failed

    def _origin_id(self, key: tuple[str | None, str | None]) -> int:
        origin = self._origin_ids.get(key)
        if origin is None:
            origin = self._origin_ids[key] = len(self.origins)
            self.origins.append(key)
        return origin

    def _message_id(self, message: str | None) -> int:
        got = self._message_ids.get(message)
        if got is None:
            got = self._message_ids[message] = len(self.messages)
            self.messages.append(message)
        return got

    def __len__(self) -> int:
        return len(self.code)

    def __getitem__(self, i: int) -> Record:
        code = self.code[i]
        version, pod = self.origins[self.origin[i]]
        return Record(
            start_s=self.start_s[i],
            latency_s=self.latency_s[i],
            outcome=OUTCOMES[code & CLASS_MASK],
            status=(code >> CLASS_BITS) or None,
            version=version,
            pod=pod,
            error=self.messages[self.error[i]],
        )

    def __iter__(self) -> Iterator[Record]:
        for i in range(len(self.code)):
            yield self[i]
