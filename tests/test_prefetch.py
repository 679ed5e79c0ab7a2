"""The prefetch feed's bound is in rows: small items flow, large ones wait, one heavier than the bound passes alone."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from wandb_connector import prefetch
from wandb_connector.prefetch import Feed, weigh


@dataclass
class Page:
    nodes: list[dict]
    cursor: str | None = None


@dataclass
class Steps:
    name: str
    rows: list[dict]
    last_row: dict | None = None
    extra: dict = field(default_factory=dict)


def test_weigh_counts_the_records_an_item_carries_whichever_walk_made_it():
    assert weigh((0, Page([{"a": 1}] * 500))) == 500
    assert weigh((3, [Steps("r1", [{"_step": i} for i in range(700)]), Steps("r2", [{"_step": 0}] * 300)])) >= 1000
    assert weigh((1, [("run", "key", [{"cpu": 1}] * 40)])) == 40
    assert weigh((2, {"node": {"nested": [{"x": 1}] * 99}})) == 1  # a record's own lists are not rows
    assert weigh((4, Page([]))) == 1


def _held_when_blocked(items: list[object], rows: int) -> tuple[int, int]:
    """How many items the worker produced, and queued, once it blocks with nobody consuming."""
    produced = []

    def source():
        for item in items:
            produced.append(item)
            yield item

    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        feed = Feed(pool, source, rows, stop)
        deadline, last = time.monotonic() + 10, -1
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if len(produced) == last:
                break
            last = len(produced)
        blocked = len(produced), len(feed._items)
        consumed = list(feed)
        stop.set()
    assert consumed == items  # in order, every one, once released
    return blocked


def test_a_feed_holds_rows_not_items():
    pages = [(0, Page([{"run": i}] * 600)) for i in range(10)]
    produced, queued = _held_when_blocked(pages, rows=2000)
    assert queued == 3  # 1,800 rows; a fourth page would pass 2,000
    assert produced == 4  # the fourth waits in the worker's hand


def test_small_items_flow_up_to_the_item_bound(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(prefetch, "ITEMS_AHEAD", 16)
    edges = [(1, Page([{"edge": i}])) for i in range(100)]
    _, queued = _held_when_blocked(edges, rows=2000)
    assert queued == 16


def test_an_item_heavier_than_the_bound_passes_alone():
    huge = [(0, Page([{"run": i}] * 5000)) for i in range(3)]
    produced, queued = _held_when_blocked(huge, rows=2000)
    assert (produced, queued) == (2, 1)
