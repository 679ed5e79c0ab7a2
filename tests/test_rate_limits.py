"""Pacing under W&B's rate limit: at most the configured requests in any window, across every worker, so a sync
within the key's limit is never refused; and when W&B refuses anyway, the pace halves and every worker waits."""

from __future__ import annotations

import threading
import time

import pytest

from tests.harness import Harness
from tests.wandb_double import WandbDouble
from wandb_connector import pacing
from wandb_connector.pacing import Pacer

WINDOW_S = 2.0
LIMIT = 6


def entries(pacer: Pacer, calls: int, workers: int = 3) -> list[tuple[float, float]]:
    """When each call got its slot and when it finished, from several threads at once."""
    times: list[tuple[float, float]] = []
    lock, never = threading.Lock(), threading.Event()

    def call() -> None:
        with pacer.slot(never):
            started = time.monotonic()
            time.sleep(0.01)
            finished = time.monotonic()  # the pacer stamps the call's end after this
        with lock:
            times.append((started, finished))

    def worker(count: int) -> None:
        for _ in range(count):
            call()

    threads = [threading.Thread(target=worker, args=(calls // workers,)) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(times)


def crowd(times: list[tuple[float, float]], window_s: float) -> int:
    """The most calls that were under way, or had finished less than a window before, when one started."""
    return max(sum(1 for s, f in times if s <= start < f + window_s - 1e-6) for start, _ in times)


def test_no_window_holds_more_calls_than_the_quota_whatever_its_phase():
    times = entries(Pacer(3, window_s=0.4), calls=9)
    assert len(times) == 9
    assert crowd(times, 0.4) == 3


def test_a_sync_within_the_quota_is_not_paced():
    times = entries(Pacer(10, window_s=30), calls=9)
    assert times[-1][0] - times[0][0] < 30  # a paced call would wait the whole window


def test_when_wandb_keeps_refusing_then_the_pace_halves_and_every_worker_waits_the_pause():
    pacer = Pacer(4, window_s=0.4)
    pacer.throttled(0.3)
    asked = time.monotonic()
    times = entries(pacer, calls=3)
    assert pacer.per_window == 2
    assert times[0][0] >= asked + 0.3 - 1e-6
    assert crowd(times, 0.4) == 2


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
