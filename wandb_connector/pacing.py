"""Pacing: stay within the key's W&B rate limit instead of spending the sync in 429s and wandb-core's waits.

W&B limits requests per key per window (about 50 to 200 a minute, by plan) and answers 429 with `Retry-After`
past it. wandb-core honours `Retry-After` on each 429 it sees, but with four workers fetching ahead a large sync
would keep hitting the limit, and once 429s outlast wandb-core's retries the failure policy pauses for minutes.
So every request takes a slot first: at most `requests_per_minute` are in flight or finished within any trailing
minute, across all workers. A sync smaller than the quota runs at full speed; a larger one runs at the quota's
pace and W&B never has to refuse it. A slot is counted from when its call finished, so the server, which sees a
request some time after it was sent, never counts more in a window than the quota, whatever its window's phase.

When 429s still outlast wandb-core's retries (the key's limit is lower than configured, or another client shares
it), the pacer learns: it halves its quota for the rest of the sync, once per episode and down to an eighth of the
configured quota, and holds every worker for the pause.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .errors import Cancelled

WINDOW_S = 60.0
WAKE_S = 0.5


class Pacer:
    def __init__(
        self,
        per_window: int,
        window_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[threading.Condition, float], object] = threading.Condition.wait,
    ) -> None:
        """`clock` and `wait` (how a worker waits on the pacer's condition) are seams: a test's clock moves when
        the pacer waits."""
        self.per_window = per_window
        self._floor = max(1, per_window // 8)
        self.window_s = window_s or WINDOW_S
        self._clock = clock
        self._wait_on = wait
        self._finished: deque[float] = deque()
        self._in_flight = 0
        self._held_until = 0.0
        self._changed = threading.Condition()

    @contextmanager
    def slot(self, cancelled: threading.Event) -> Iterator[None]:
        """Wait for room under the quota (or until the sync fails), then hold a slot for one call."""
        self._acquire(cancelled)
        try:
            yield
        finally:
            with self._changed:
                self._in_flight -= 1
                self._finished.append(self._clock())
                self._changed.notify_all()

    def throttled(self, pause_s: float) -> None:
        """W&B kept answering 429 past wandb-core's retries: send nothing for `pause_s` and, once per episode (the
        workers that hit the same limit, the further tries within one pause), pace at half the quota from now on,
        never below an eighth of the configured one."""
        with self._changed:
            now = self._clock()
            if self._held_until <= now:
                self.per_window = max(self._floor, self.per_window // 2)
            self._held_until = max(self._held_until, now + pause_s)

    def _acquire(self, cancelled: threading.Event) -> None:
        with self._changed:
            while True:
                if cancelled.is_set():
                    raise Cancelled("not sending a request: the sync already failed")
                wait = self._wait()
                if wait <= 0:
                    self._in_flight += 1
                    return
                self._wait_on(self._changed, min(wait, WAKE_S))

    def _wait(self) -> float:
        """Seconds until a slot may free up; 0 when one is free now."""
        now = self._clock()
        while self._finished and self._finished[0] <= now - self.window_s:
            self._finished.popleft()
        if self._held_until > now:
            return self._held_until - now
        if self._in_flight + len(self._finished) < self.per_window:
            return 0.0
        return self._finished[0] + self.window_s - now if self._finished else WAKE_S
