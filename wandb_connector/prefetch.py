"""Fetch ahead in worker threads, emit from the main thread.

Fivetran's runner accepts operations from any thread, but a checkpoint must follow the rows it covers, and every
operation must happen before `update()` returns; so workers only fetch (GraphQL requests, wandb-core allows ten in
flight per `Api`) and the main thread does all emitting and checkpointing. Each feed runs one source a few items
ahead of its consumer, so memory stays bounded by workers times the rows a feed may hold, whatever the size of the
entity. A feed's depth is counted in rows, not items: a page of 1,000 runs and a page of a dozen versions cost the
same request, and counting both as one item left a worker idle behind two small items while the main thread was
still writing a large one (then the main thread waited out each small request in turn).
"""

from __future__ import annotations

import dataclasses
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import Any, Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K")

_ITEM, _END, _ERROR = "item", "end", "error"
# Small items (a version page, a lineage edge list) flow freely up to this many; rows bound the rest.
ITEMS_AHEAD = 64


class Stopped(Exception):
    """The consumer gave up (the sync failed elsewhere): the worker stops fetching."""


class Feed(Generic[T]):
    """Runs `source` in a worker thread, holding at most `rows` rows (`weigh`) and `ITEMS_AHEAD` items ahead of
    whoever iterates the feed; an item heavier than `rows` still passes, alone."""

    def __init__(self, pool: ThreadPoolExecutor, source: Callable[[], Iterator[T]], rows: int, stop: threading.Event):
        self._items: deque[tuple[str, Any, int]] = deque()
        self._held = 0
        self._rows = rows
        self._ready = threading.Condition()
        self._stop = stop
        pool.submit(self._run, source)

    def _run(self, source: Callable[[], Iterator[T]]) -> None:
        try:
            for item in source():
                self._put(_ITEM, item, weigh(item))
            self._put(_END, None, 0)
        except Stopped:
            return
        except BaseException as error:  # handed to the consumer, which re-raises it in the main thread
            try:
                self._put(_ERROR, error, 0)
            except Stopped:
                return

    def _put(self, kind: str, value: Any, weight: int) -> None:
        with self._ready:
            while self._items and (self._held + weight > self._rows or len(self._items) >= ITEMS_AHEAD):
                if self._stop.is_set():
                    raise Stopped
                self._ready.wait(timeout=0.1)
            if self._stop.is_set():
                raise Stopped
            self._items.append((kind, value, weight))
            self._held += weight
            self._ready.notify_all()

    def __iter__(self) -> Iterator[T]:
        while True:
            with self._ready:
                while not self._items:
                    self._ready.wait()
                kind, value, weight = self._items.popleft()
                self._held -= weight
                self._ready.notify_all()
            if kind == _END:
                return
            if kind == _ERROR:
                raise value
            yield value


def weigh(item: object, depth: int = 5) -> int:
    """The rows an item carries, whichever walk made it: the records (dicts) in it, through lists, tuples and
    dataclass fields, not inside a record; at least 1."""

    def count(value: object, depth: int) -> int:
        if isinstance(value, dict):
            return 1
        if depth == 0:
            return 0
        if isinstance(value, list | tuple):
            return sum(count(part, depth - 1) for part in value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return sum(count(getattr(value, f.name), depth - 1) for f in dataclasses.fields(value))
        return 0

    return max(1, count(item, depth))


class Prefetcher:
    """Starts feeds for the next `workers` sources while the main thread consumes the current one, in order."""

    def __init__(self, workers: int, rows: int, on_abort: Callable[[], None] | None = None):
        self.workers = workers
        self.rows = rows
        self._on_abort = on_abort
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="wandb-fetch")

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, kind: type | None, *exc: object) -> None:
        """Stop the workers; when the sync failed, also cut short what they wait for (a rate-limit pause)."""
        self._stop.set()
        if kind is not None and self._on_abort:
            self._on_abort()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def in_order(self, sources: Iterable[tuple[K, Callable[[], Iterator[T]]]]) -> Iterator[tuple[K, Feed[T]]]:
        """The feeds of `sources` (each beside its key), in order; each source starts fetching `workers` feeds
        ahead of its turn. `sources` is read only that far ahead, so what it sets up for a source (a project's
        walks, from the state) is set up shortly before that source is due, in the consumer's thread."""
        started: deque[tuple[K, Feed[T]]] = deque()
        pending = iter(sources)
        while True:
            for key, source in islice(pending, max(0, self.workers - len(started))):
                started.append((key, Feed(self._pool, source, self.rows, self._stop)))
            if not started:
                return
            yield started.popleft()
