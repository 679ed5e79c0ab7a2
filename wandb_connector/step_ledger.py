"""What a history walk remembers of the steps it synced of one run, in a few bytes whatever their number: the steps
as arithmetic progressions, and the run's `Ledger` (how many lines it read, the last step and its `_timestamp`, the
rows it holds, whether the cap cut it). The walk compares a listed run with its ledger to know whether it needs
reading at all, and deletes exactly the steps a run no longer has, and no row more, from it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

# The ledger keeps a run's synced steps as arithmetic progressions; a run whose steps need more is kept as one
# range from its first to its last step (a delete then also names steps it never had, which deletes nothing).
MAX_PROGRESSIONS = 64


def add_step(steps: list[int], step: int) -> None:
    """Add `step` (larger than any before) to `steps`, a flat list of progressions [start, stride, count, ...]."""
    if steps:
        start, stride, count = steps[-3:]
        if count == 1:
            steps[-2:] = [step - start, 2]
            return
        if step == start + stride * count:
            steps[-1] += 1
            return
    steps += [step, 1, 1]
    if len(steps) > 3 * MAX_PROGRESSIONS:
        first, last = steps[0], steps[-3] + steps[-2] * (steps[-1] - 1)
        steps[:] = [first, 1, last - first + 1]


def all_steps(steps: list[int]) -> Iterator[int]:
    for i in range(0, len(steps), 3):
        start, stride, count = steps[i : i + 3]
        yield from range(start, start + stride * count, stride)


def span(steps: list[int]) -> int:
    return sum(steps[i + 2] for i in range(0, len(steps), 3))


def missing(before: list[int], after: list[int]) -> Iterator[int]:
    """The steps of `before` not in `after` (both progressions in step order), without building either set."""
    now = all_steps(after)
    current = next(now, None)
    for step in all_steps(before):
        while current is not None and current < step:
            current = next(now, None)
        if current != step:
            yield step


@dataclass
class Ledger:
    """What a walk synced of one run's history: how many lines it read (the listing's count once read to the end)
    and the last of them (`last`, with its `_timestamp` in `tail`), the rows it holds (`emitted`) at the steps
    `steps` names (progressions), and whether the step cap cut it."""

    lines: int = 0
    last: int = -1
    tail: float | None = None
    capped: bool = False
    emitted: int = 0
    steps: list[int] = field(default_factory=list)

    def dump(self) -> list:
        return [self.lines, self.last, self.tail, int(self.capped), self.emitted, *self.steps]

    @classmethod
    def load(cls, raw: list) -> Ledger:
        lines, last, tail, capped, emitted, *steps = raw
        return cls(lines, last, tail, bool(capped), emitted, list(steps))
