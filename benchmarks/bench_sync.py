"""Requests, wall time, rows per second and peak memory of the connector against the W&B double.

`make bench` (or `python -m benchmarks.bench_sync --dataset medium --latency 0.05`) builds a dataset with the
double's generator, serves it with injected latency, and runs through the real `fivetran debug` CLI (the runner
users get): a full sync, then a sync with nothing new. It samples the RSS of the CLI process and all its children
(wandb-core included) every 20 ms. In the same run it times the naive walk (`naive_walk.py`) on the same data.
Requests are counted by operation from the double's log. The last line printed is one JSON object.

Those syncs run with pacing set far above any limit (`UNLIMITED`), so they measure the connector, not a quota.
Then, for each rate in `--rate-limits`, a first sync of the same dataset against a double that enforces that many
requests per minute (429 with `Retry-After` past it, in fixed windows as W&B's quota): once paced at that rate
(`ratelimited_*` for the first rate, `limited_<rate>_*` for each) and once unpaced (`..._unpaced_*`), with the
requests W&B refused and the wall time.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from benchmarks.tester_baseline import export_rows
from tests.fivetran_cli import connector_project, offline_home
from tests.wandb_double import DEFAULT_API_KEY, WandbDouble, build_world
from tests.wandb_double.dataset import DATASETS, World

BENCH_DATASETS = ("small", "medium", "large")
NAIVE_SAMPLE = 25  # runs per project when the naive walk is sampled
UNLIMITED = "100000"
# By default the figures are those of the tables before run history (history and system metrics off), so they
# compare with earlier runs; `--history` switches them on.
HISTORY: dict[str, str] = {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", choices=BENCH_DATASETS, default="medium")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to every response")
    parser.add_argument("--page-cap", type=int, default=1000, help="most items the double returns per page")
    parser.add_argument("--naive", choices=("full", "sample", "off"), default="full")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--rate-limits", default="200,50", help="comma-separated requests per minute to sync under (empty: none)"
    )
    parser.add_argument(
        "--no-retry-after", action="store_true", help="the rate-limited double's 429s carry no Retry-After"
    )
    parser.add_argument("--history", action="store_true", help="sync run history and system metrics too")
    args = parser.parse_args()
    HISTORY.update({} if args.history else {"history": "false", "system_metrics": "false"})

    world = build_world(seed=args.seed, **DATASETS[args.dataset])
    for run in world.runs:  # the client's lazy runs crash on a run without a user; the naive walk uses them
        run.user = run.user or world.users[0]
    runs = len(world.runs)
    report: dict = {"dataset": args.dataset, "runs": runs, "latency_s": args.latency}
    report["limited_retry_after"] = not args.no_retry_after
    report["history"] = args.history
    double = WandbDouble(world, page_cap=args.page_cap, latency=args.latency)
    with double, tempfile.TemporaryDirectory() as tmp:
        project = connector_project(Path(tmp) / "project")
        configuration = {
            "api_key": DEFAULT_API_KEY,
            "entity": world.entity,
            "base_url": double.base_url,
            "requests_per_minute": UNLIMITED,
            **HISTORY,
        }
        full = measure_sync(double, project, configuration, Path(tmp) / "home")
        print(f"full sync: {json.dumps(full)}", flush=True)
        nochange = measure_sync(double, project, configuration, Path(tmp) / "home")
        print(f"no-change sync: {json.dumps(nochange)}", flush=True)
        naive = measure_naive(double, world.entity, args.naive, len(world.live_projects()), runs)
        print(f"naive walk: {json.dumps(naive)}", flush=True)
        tester = measure_tester(double, Path(tmp) / "rows.jsonl")
    limited = {}
    for rate in [int(r) for r in args.rate_limits.split(",") if r.strip()]:
        for paced in (True, False):
            name = f"limited_{rate}" + ("" if paced else "_unpaced")
            limited[name] = measure_limited(world, args, rate, paced)
            print(f"{name}: {json.dumps(limited[name])}", flush=True)
    rows = full["upserts"]
    report |= {
        "requests": full["requests"],
        "naive_requests": naive["requests"],
        "wall_s": full["wall_s"],
        "naive_wall_s": naive["wall_s"],
        "nochange_requests": nochange["requests"],
        "nochange_wall_s": nochange["wall_s"],
        "peak_rss_mb": max(full["peak_rss_mb"], nochange["peak_rss_mb"]),
        "rows_per_s": round(rows / full["sync_s"], 1) if full["sync_s"] else None,
        "rows": rows,
        "naive_measured": naive["measured"],
        "tester_rss_mb": tester["peak_rss_mb"],
        "tester_rows_per_s": tester["rows_per_s"],
    }
    for name, result in limited.items():
        report |= {f"{name}_{key}": result[key] for key in ("wall_s", "429s", "requests", "expected_s")}
    if limited:
        first = next(iter(limited))
        report |= {"ratelimited_wall_s": limited[first]["wall_s"], "ratelimited_429s": limited[first]["429s"]}
        report |= {"ratelimited_rate_per_min": limited[first]["rate_per_min"]}
        report |= {f"ratelimited_unpaced_{k}": limited[f"{first}_unpaced"][k] for k in ("wall_s", "429s")}
    print_table(report, full, nochange, naive, len(world.live_projects()))
    print(json.dumps(report))


def measure_sync(double: WandbDouble, project: Path, configuration: dict, home: Path) -> dict:
    """One `fivetran debug` run, with its requests by operation, wall time and the peak RSS of its process tree."""
    home.mkdir(exist_ok=True)
    config_file = home / "configuration.json"
    config_file.write_text(json.dumps(configuration))
    double.reset_log()
    fivetran = str(Path(sys.executable).with_name("fivetran"))
    command = [fivetran, "debug", str(project), "--configuration", str(config_file)]
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=project, env=offline_home(home), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True
    )
    peak = PeakRss(process.pid)
    output, _ = process.communicate()
    wall = time.monotonic() - started
    peak.stop()
    if process.returncode != 0 or "SYNC SUCCEEDED" not in output:
        raise SystemExit(f"the sync failed:\n{output[-3000:]}")
    by_op = collections.Counter(r.op for r in double.requests)
    sync_s = _sync_seconds(output) or wall
    return {
        "requests": sum(by_op.values()),
        "429s": sum(1 for r in double.requests if r.status == 429),
        "by_op": dict(by_op),
        "wall_s": round(wall, 2),
        "sync_s": sync_s,
        "upserts": _count(output, "Upserts"),
        "peak_rss_mb": round(peak.value / 2**20, 1),
        "peak_rss_by_process_mb": {name: round(size / 2**20, 1) for name, size in peak.by_process.items()},
    }


def measure_limited(world: World, args: argparse.Namespace, rate: int, paced: bool) -> dict:
    """A first sync against a double that allows `rate` requests a minute, paced at that rate or not at all."""
    double = WandbDouble(world, page_cap=args.page_cap, latency=args.latency)
    with double, tempfile.TemporaryDirectory() as tmp:
        project = connector_project(Path(tmp) / "project")
        double.limit_rate(rate, 60.0, retry_after=not args.no_retry_after)
        configuration = {
            "api_key": DEFAULT_API_KEY,
            "entity": world.entity,
            "base_url": double.base_url,
            "requests_per_minute": str(rate) if paced else UNLIMITED,
            **HISTORY,
        }
        result = measure_sync(double, project, configuration, Path(tmp) / "home")
    answered = result["requests"] - result["429s"]
    return result | {"rate_per_min": rate, "expected_s": round(answered / rate * 60, 1)}


def measure_tester(double: WandbDouble, rows_file: Path) -> dict:
    """The local runner alone writing the same rows: its memory and speed are the floor and the ceiling."""
    export_rows(double, rows_file)
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.tester_baseline", str(rows_file)], capture_output=True, text=True, check=True
    )
    return next(json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"rows"'))


def measure_naive(double: WandbDouble, entity: str, mode: str, projects: int, runs: int) -> dict:
    if mode == "off":
        return {"requests": None, "wall_s": None, "measured": "off", "by_op": {}}
    double.reset_log()
    command = [sys.executable, "-m", "benchmarks.naive_walk", double.base_url, entity, DEFAULT_API_KEY]
    if mode == "sample":
        command += ["--runs-per-project", str(NAIVE_SAMPLE)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    walked = json.loads(result.stdout.strip().splitlines()[-1])
    by_op = collections.Counter(r.op for r in double.requests)
    requests, wall = sum(by_op.values()), walked["wall_s"]
    if mode == "sample":  # scale the per-run part (most of it) to every run
        scale = runs / max(walked["runs"], 1)
        per_run = by_op["Run"] + by_op["RunOutputArtifacts"]
        requests = round(requests - per_run + per_run * scale)
        wall = round(wall * scale, 1)
    return {"requests": requests, "wall_s": wall, "measured": mode, "by_op": dict(by_op)}


class PeakRss:
    """Samples the RSS of a process and all its descendants (wandb-core) until stopped; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.02):
        self.value = 0
        self.by_process: dict[str, int] = {}
        self._stop = threading.Event()
        self._process = psutil.Process(pid)
        self._thread = threading.Thread(target=self._sample, args=(interval,), daemon=True)
        self._thread.start()

    def _sample(self, interval: float) -> None:
        while not self._stop.is_set():
            try:
                tree = [self._process, *self._process.children(recursive=True)]
                sizes = {p.pid: (_name(p), _rss(p)) for p in tree}
                self.value = max(self.value, sum(size for _, size in sizes.values()))
                for name, size in sizes.values():
                    self.by_process[name] = max(self.by_process.get(name, 0), size)
            except psutil.NoSuchProcess:
                return
            time.sleep(interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _name(process: psutil.Process) -> str:
    try:
        return "wandb-core" if "wandb-core" in " ".join(process.cmdline()) else process.name()
    except psutil.Error:
        return "?"


def _rss(process: psutil.Process) -> int:
    try:
        return process.memory_info().rss
    except psutil.NoSuchProcess:
        return 0


def _count(output: str, label: str) -> int:
    for line in output.splitlines():
        if line.strip().startswith(label):
            return int(line.split("|")[1])
    return 0


def _sync_seconds(output: str) -> float | None:
    """The runner's own "total elapsed" (the sync without the CLI's start-up)."""
    for line in output.splitlines():
        if "SYNC SUCCEEDED" in line and "elapsed" in line:
            hours, minutes, seconds = line.rsplit(" ", 1)[-1].split(":")
            return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return None


def print_table(report: dict, full: dict, nochange: dict, naive: dict, projects: int) -> None:
    print(f"dataset {report['dataset']}: {report['runs']} runs in {projects} projects, latency {report['latency_s']}s")
    print(f"{'':28}{'connector':>12}{'naive walk':>14}")
    print(f"{'full sync requests':28}{full['requests']:>12}{naive['requests']!s:>14}")
    print(f"{'full sync wall (s)':28}{full['wall_s']:>12}{naive['wall_s']!s:>14}")
    print(f"{'no-change sync requests':28}{nochange['requests']:>12}")
    print(f"{'no-change sync wall (s)':28}{nochange['wall_s']:>12}")
    print(f"{'rows upserted':28}{full['upserts']:>12}")
    print(f"{'rows per second':28}{report['rows_per_s']!s:>12}")
    print(
        f"{'peak RSS incl. wandb-core':28}{report['peak_rss_mb']:>10}MB  (full sync, by process: "
        f"{full['peak_rss_by_process_mb']})"
    )
    print(
        f"{'local runner alone':28}{report['tester_rss_mb']:>10}MB, {report['tester_rows_per_s']} rows/s "
        "(the same rows upserted with no W&B: the local warehouse and renaming in `fivetran debug`)"
    )
    print(f"{'requests W&B refused (429)':28}{full['429s']:>12}")
    print(f"requests by operation, full: {full['by_op']}")
    print(f"requests by operation, no-change: {nochange['by_op']}")
    print(f"requests by operation, naive ({naive['measured']}): {naive['by_op']}")


if __name__ == "__main__":
    main()
