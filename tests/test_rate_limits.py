"""Pacing under W&B's rate limit: at most the configured requests in any window, across every worker, so a sync
within the key's limit is never refused; and when W&B refuses anyway, the pace halves and every worker waits."""

from __future__ import annotations

import threading
import time

import pytest

from devkit.wandb_double import WandbDouble
from tests.harness import Harness
from wandb_connector import pacing
from wandb_connector.pacing import Pacer

WINDOW_S = 2.0
LIMIT = 6


class Clock:
    """A clock that moves only when a call works or the pacer waits: the pacer's decisions, exactly, in no time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def wait(self, condition: threading.Condition, seconds: float) -> None:
        self.now += seconds


def entries(pacer: Pacer, clock: Clock, calls: int, duration: float = 0.01) -> list[tuple[float, float]]:
    """When each call got its slot and when it finished."""
    times, never = [], threading.Event()
    for _ in range(calls):
        with pacer.slot(never):
            started = clock()
            clock.now += duration
            times.append((started, clock()))  # the pacer stamps the call's end after this
    return times


def crowd(times: list[tuple[float, float]], window_s: float) -> int:
    """The most calls that were under way, or had finished less than a window before, when one started."""
    return max(sum(1 for s, f in times if s <= start < f + window_s - 1e-9) for start, _ in times)


def test_no_window_holds_more_calls_than_the_quota_whatever_its_phase():
    clock = Clock()
    times = entries(Pacer(3, window_s=0.4, clock=clock, wait=clock.wait), clock, calls=9)
    assert len(times) == 9
    assert crowd(times, 0.4) == 3
    assert times[3][0] >= times[0][1] + 0.4, "the fourth call waits until the first is a window old"


def test_a_sync_within_the_quota_is_not_paced():
    clock = Clock()
    times = entries(Pacer(10, window_s=30, clock=clock, wait=clock.wait), clock, calls=9)
    assert [start for start, _ in times] == pytest.approx([0.01 * i for i in range(9)]), "no call waited"


def test_when_wandb_keeps_refusing_then_the_pace_halves_and_every_call_waits_the_pause():
    clock = Clock()
    pacer = Pacer(4, window_s=0.4, clock=clock, wait=clock.wait)
    pacer.throttled(0.3)
    times = entries(pacer, clock, calls=3)
    assert pacer.per_window == 2
    assert times[0][0] >= 0.3
    assert crowd(times, 0.4) == 2


def test_workers_in_threads_share_one_quota():
    """The same quota across threads (the sync's four workers), on the real clock: no window holds more."""
    pacer, never, times, lock = Pacer(3, window_s=0.3), threading.Event(), [], threading.Lock()

    def worker() -> None:
        for _ in range(2):
            with pacer.slot(never):
                started = time.monotonic()
            with lock:
                times.append((started, time.monotonic()))

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(times) == 6 and crowd(sorted(times), 0.3) <= 3


def test_a_cancelled_sync_stops_waiting_for_a_slot():
    pacer, cancelled = Pacer(1, window_s=60), threading.Event()
    with pacer.slot(cancelled):
        pass
    cancelled.set()
    with pytest.raises(Exception, match="already failed"), pacer.slot(cancelled):
        pass


@pytest.fixture
def limited(tmp_path, world, configuration, monkeypatch) -> Harness:
    """The double refuses past LIMIT requests in each window of WINDOW_S seconds; the connector's minute is as
    long as the double's window."""
    monkeypatch.setattr(pacing, "WINDOW_S", WINDOW_S)
    double = WandbDouble(world, page_cap=25).start()
    double.limit_rate(LIMIT, WINDOW_S)
    yield Harness(tmp_path / "sync", {**configuration, "base_url": double.base_url}, double)
    double.stop()


def refused(double: WandbDouble) -> int:
    return sum(1 for r in double.requests if r.status == 429)


@pytest.mark.parametrize("retry_after", [True, False])
def test_given_the_keys_limit_as_requests_per_minute_then_a_sync_is_never_refused_and_lands_every_row(
    limited, retry_after
):
    limited.double.limit_rate(LIMIT, WINDOW_S, retry_after=retry_after)
    limited.configuration = {**limited.configuration, "requests_per_minute": str(LIMIT)}
    limited.sync()
    limited.assert_matches_world()
    assert limited.double.count() > 2 * LIMIT  # the sync needed more than one window's quota
    assert refused(limited.double) == 0


def test_given_no_pacing_under_the_same_limit_then_wandb_refuses_and_the_sync_still_lands_every_row(limited):
    """What pacing spares: the same sync sent as fast as the workers go is refused, and lands only because
    wandb-core waits out each `Retry-After`."""
    limited.configuration = {**limited.configuration, "requests_per_minute": "100000"}
    limited.sync()
    limited.assert_matches_world()
    assert refused(limited.double) > 0


def test_one_rate_limit_seen_by_every_worker_halves_the_pace_once():
    pacer = Pacer(48, window_s=60)
    for _ in range(4):  # four workers surface the same episode within its pause
        pacer.throttled(30)
    assert pacer.per_window == 24


def test_the_pace_never_falls_below_an_eighth_of_the_configured_quota():
    now = [0.0]
    pacer = Pacer(48, window_s=60, clock=lambda: now[0])
    for _ in range(10):  # ten episodes, each after the last pause ended
        pacer.throttled(1)
        now[0] += 2
    assert pacer.per_window == 6
