"""Fetch ahead in worker threads, emit from the main thread.

Fivetran's runner accepts operations from any thread, but a checkpoint must follow the rows it covers, and every
operation must happen before `update()` returns; so workers only fetch (GraphQL requests, wandb-core allows ten in
flight per `Api`) and the main thread does all emitting and checkpointing. Each feed runs one source a few items
ahead of its consumer, so memory stays bounded by workers times depth pages, whatever the size of the entity.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K")

_ITEM, _END, _ERROR = "item", "end", "error"


class Stopped(Exception):
    """The consumer gave up (the sync failed elsewhere): the worker stops fetching."""


class Feed(Generic[T]):
    """Runs `source` in a worker thread, at most `depth` items ahead of whoever iterates the feed."""

    def __init__(self, pool: ThreadPoolExecutor, source: Callable[[], Iterator[T]], depth: int, stop: threading.Event):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = stop
        pool.submit(self._run, source)

    def _run(self, source: Callable[[], Iterator[T]]) -> None:
        try:
            for item in source():
                self._put((_ITEM, item))
            self._put((_END, None))
        except Stopped:
            return
        except BaseException as error:  # handed to the consumer, which re-raises it in the main thread
            try:
                self._put((_ERROR, error))
            except Stopped:
                return

    def _put(self, message: tuple) -> None:
        while True:
            if self._stop.is_set():
                raise Stopped
            try:
                self._queue.put(message, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[T]:
        while True:
            kind, value = self._queue.get()
            if kind == _END:
                return
            if kind == _ERROR:
                raise value
            yield value


class Prefetcher:
    """Starts feeds for the next `workers` sources while the main thread consumes the current one, in order."""

    def __init__(self, workers: int, depth: int, on_abort: Callable[[], None] | None = None):
        self.workers = workers
        self.depth = depth
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
                started.append((key, Feed(self._pool, source, self.depth, self._stop)))
            if not started:
                return
            yield started.popleft()
