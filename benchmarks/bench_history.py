"""Run history: requests, speed and memory of a first sync against the ways anyone reads it, on the same data.

`make bench-history` (or `python -m benchmarks.bench_history`) serves one project of 50 finished runs x 4,000
steps (W&B's parquet export holding them all) with 50 ms latency and measures, in one run on one machine:

- the connector's first sync through the real `fivetran debug` (history on; system metrics, config and summary
  rows off, so the rows are history rows): requests by operation from the double's log, the runner's own elapsed
  time, peak RSS of the CLI and all its children (wandb-core included);
- the naive walk: `run.scan_history()` per run with the client's defaults, reading only, which wandb-core serves
  from the parquet export (`RunParquetHistory` and a download per run);
- the same walk with no export (wandb-core pages every step with `HistoryPage`, 1,000 a request): paged GraphQL;
- the local runner writing the same history rows with no W&B at all: the ceiling of rows per second here;
- then one first sync of a single run of 100,000 steps and one of 1,000, for memory.

The last line printed is one JSON object (`history_*` keys).
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.bench_sync import UNLIMITED, VALUES_OFF, measure_sync
from devkit.fivetran_cli import ROOT, connector_project
from devkit.wandb_double import DEFAULT_API_KEY, WandbDouble, build_world
from devkit.wandb_double.dataset import World
from wandb_connector.tables.run_history import TABLE as RUN_HISTORY
from wandb_connector.walker import Where


def history_world(runs: int, steps: int, seed: int = 7) -> World:
    """One project of finished runs with `steps` steps each, all exported to parquet; no artifacts."""
    world = build_world(seed=seed, projects=1, runs_per_project=runs, artifact_versions=0, history_steps=steps)
    for run in world.runs:
        run.user = run.user or world.users[0]  # the client's lazy runs crash on a run without a user
        if run.state in ("running", "pending"):
            world.finish_run(run)
        if not run.segments:
            run.log_steps(steps, run.created_at)
        world.export_history(run)
    return world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--steps", type=int, default=4_000)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to every response")
    parser.add_argument("--memory-steps", default="1000,100000", help="the single runs measured for memory")
    parser.add_argument("--memory-only", action="store_true", help="only the single runs measured for memory")
    parser.add_argument("--connector", type=Path, default=ROOT, help="the checkout whose connector runs (a before)")
    args = parser.parse_args()
    report: dict = {} if args.memory_only else comparison(args)
    memory, runner_memory = {}, {}
    for steps in [int(s) for s in args.memory_steps.split(",")]:
        single = history_world(1, steps, seed=11)
        with WandbDouble(single, page_cap=1000, latency=args.latency) as double, tempfile.TemporaryDirectory() as tmp:
            memory[steps] = first_sync(double, Path(tmp), args.connector)
            runner_memory[steps] = runner_alone(single, double.base_url, Path(tmp) / "history.jsonl")
        print(f"one run of {steps} steps: {json.dumps(memory[steps])}; runner alone: {runner_memory[steps]}")
    for steps, result in memory.items():
        label = f"{steps // 1000}k" if steps % 1000 == 0 else str(steps)
        report |= {f"history_rss_{label}_mb": result["peak_rss_mb"], f"history_wall_{label}_s": result["wall_s"]}
        report[f"history_runner_rss_{label}_mb"] = runner_memory[steps]["peak_rss_mb"]
    if "history_rss_1k_mb" in report and "history_rss_100k_mb" in report:
        report["history_rss_100k_over_1k"] = round(report["history_rss_100k_mb"] / report["history_rss_1k_mb"], 3)
        runner = report["history_runner_rss_100k_mb"] / report["history_runner_rss_1k_mb"]
        report["history_runner_rss_100k_over_1k"] = round(runner, 3)
        for label in ("1k", "100k"):  # what the connector adds above the runner alone
            added = report[f"history_rss_{label}_mb"] - report[f"history_runner_rss_{label}_mb"]
            report[f"history_connector_rss_{label}_mb"] = round(added, 1)
    print(json.dumps(report))


def comparison(args: argparse.Namespace) -> dict:
    """The connector's first sync of `args.runs` runs beside `scan_history` (exported and paged) and the runner."""
    world = history_world(args.runs, args.steps)
    history_rows = sum(run.history_line_count for run in world.runs)
    report = {"history_runs": args.runs, "history_steps_per_run": args.steps, "latency_s": args.latency}
    with WandbDouble(world, page_cap=1000, latency=args.latency) as double, tempfile.TemporaryDirectory() as tmp:
        sync = first_sync(double, Path(tmp), args.connector)
        print(f"connector: {json.dumps(sync)}", flush=True)
        parquet = naive_walk(double, world)
        print(f"naive scan_history (parquet export): {json.dumps(parquet)}", flush=True)
        for run in world.runs:
            world.export_history(run, None)
        paged = naive_walk(double, world)
        print(f"naive scan_history (no export: paged GraphQL): {json.dumps(paged)}", flush=True)
        runner = runner_alone(world, double.base_url, Path(tmp) / "history.jsonl")
        print(f"local runner alone: {json.dumps(runner)}", flush=True)
    history_requests = sync["by_op"].get("HistoryPages", 0)
    naive = min((parquet, paged), key=lambda walk: walk["wall_s"])
    return report | {
        "history_rows": history_rows,
        "history_upserts": sync["upserts"],
        "history_wall_s": sync["wall_s"],
        "history_sync_s": sync["sync_s"],
        "history_rows_per_s": round(history_rows / sync["sync_s"], 1),
        "history_runner_rows_per_s": runner["rows_per_s"],
        "history_runner_share": round(history_rows / sync["sync_s"] / runner["rows_per_s"], 3),
        "history_requests": history_requests,
        "history_sync_requests": sync["requests"],
        "history_naive_requests": parquet["requests"],
        "history_naive_wall_s": parquet["wall_s"],
        "history_naive_paged_requests": paged["requests"],
        "history_naive_paged_wall_s": paged["wall_s"],
        "history_naive_fastest": "parquet" if naive is parquet else "paged",
        "history_requests_share": round(history_requests / parquet["requests"], 3),
        "history_peak_rss_mb": sync["peak_rss_mb"],
        "history_runner_rss_mb": runner["peak_rss_mb"],
    }


def first_sync(double: WandbDouble, tmp: Path, connector: Path = ROOT) -> dict:
    project = connector_project(tmp / "project", connector)
    configuration = {
        "api_key": DEFAULT_API_KEY,
        "entity": double.world.entity,
        "base_url": double.base_url,
        "requests_per_minute": UNLIMITED,
        "history": "true",
        "system_metrics": "false",
        **VALUES_OFF,
    }
    return measure_sync(double, project, configuration, tmp / "home")


def naive_walk(double: WandbDouble, world: World) -> dict:
    """`run.scan_history()` for every run, with the client's defaults, in its own process."""
    double.reset_log()
    command = [sys.executable, "-m", "benchmarks.naive_history", double.base_url, world.entity, DEFAULT_API_KEY]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    walked = json.loads(result.stdout.strip().splitlines()[-1])
    by_op = collections.Counter(r.op for r in double.requests)
    return {"requests": sum(by_op.values()), "wall_s": walked["wall_s"], "rows": walked["rows"], "by_op": dict(by_op)}


def runner_alone(world: World, app_url: str, rows_file: Path) -> dict:
    """The local runner upserting the connector's own history rows, built from the dataset, with no W&B."""
    where = Where(world.entity, app_url, datetime.now(UTC), world.live_projects()[0].name)
    with rows_file.open("w") as out:
        for run in world.runs:
            for step in run.history():
                row = RUN_HISTORY.row({"run": run.name, "row": step}, where)
                cells = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items() if v is not None}
                out.write(json.dumps({"table": RUN_HISTORY.name, "row": _finite(cells)}) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.tester_baseline", str(rows_file)], capture_output=True, text=True, check=True
    )
    return next(json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"rows"'))


def _finite(value):
    from wandb_connector.convert import finite_json

    return finite_json(value)


if __name__ == "__main__":
    main()
