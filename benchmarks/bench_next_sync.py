"""What a sync with nothing new, a sync after edits and deletes, and a reconcile cost, and how big the state is.

`make bench-next-sync` (or `python -m benchmarks.bench_next_sync`) builds the medium dataset (20 projects, 10,000
runs), serves it with the double, and runs the real `fivetran debug` CLI through these syncs, in order:

1. a first sync;
2. a sync with nothing new: `nochange_requests` (and per project);
3. a reconcile with nothing changed (`reconcile_interval_hours` 0): `reconcile_rows`, the rows it upserts, updates
   and deletes (an exact reconcile writes none);
4. 10 edits of finished runs (tags, notes, config, summary in turn) and 10 runs deleted, one per project over the
   20 projects, then one sync: `next_sync_requests`, and `next_sync_exact`, whether the warehouse then equals the
   dataset's ground truth, table by table (`next_sync_stale_rows` counts the rows that differ);
5. `state_bytes_per_run`: the state file's size over the runs it covers.

`--connector DIR` runs another checkout's connector (an earlier commit's, for "before" figures) against the same
double; the tables are the benchmark's usual ones (run history, system metrics, config and summary off, so the
figures compare with `make bench`'s) unless `--all-tables`. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from benchmarks.bench_sync import UNLIMITED, measure_sync
from devkit.expected import expected_rows, primary_keys, warehouse_rows
from devkit.fivetran_cli import ROOT, connector_project
from devkit.wandb_double import DEFAULT_API_KEY, WandbDouble, build_world
from devkit.wandb_double.dataset import DATASETS, World

EDITS = 10
DELETES = 10
FEW_TABLES = {"history": "false", "system_metrics": "false", "run_config": "false", "run_summary": "false"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", choices=tuple(DATASETS), default="medium")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to every response")
    parser.add_argument("--connector", type=Path, default=ROOT, help="the checkout whose connector runs")
    parser.add_argument("--all-tables", action="store_true", help="every table on, run history included")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    world = build_world(seed=args.seed, **DATASETS[args.dataset])
    tables = {"history": "true"} if args.all_tables else FEW_TABLES
    report = {"dataset": args.dataset, "runs": len(world.runs), "all_tables": args.all_tables}
    report |= measure(world, args, tables)
    print(json.dumps(report))


def measure(world: World, args: argparse.Namespace, tables: dict[str, str]) -> dict:
    projects = len(world.live_projects())
    with WandbDouble(world, page_cap=1000, latency=args.latency) as double, tempfile.TemporaryDirectory() as tmp:
        project = connector_project(Path(tmp) / "project", args.connector)
        home = Path(tmp) / "home"
        configuration = {
            "api_key": DEFAULT_API_KEY,
            "entity": world.entity,
            "base_url": double.base_url,
            "requests_per_minute": UNLIMITED,
            "reconcile_interval_hours": "24",
            **tables,
        }
        first = measure_sync(double, project, configuration, home)
        print(f"first sync: {json.dumps(first)}", flush=True)
        nochange = measure_sync(double, project, configuration, home)
        print(f"no-change sync: {json.dumps(nochange)}", flush=True)
        reconcile = measure_sync(double, project, configuration | {"reconcile_interval_hours": "0"}, home)
        print(f"reconcile, nothing changed: {json.dumps(reconcile)}", flush=True)
        change(world)
        following = measure_sync(double, project, configuration, home)
        print(f"sync after {EDITS} edits and {DELETES} deletes: {json.dumps(following)}", flush=True)
        stale = stale_rows(world, double.base_url, configuration, project / "files" / "warehouse.db")
        state = (project / "files" / "state.json").read_bytes()
    return {
        "first_requests": first["requests"],
        "nochange_requests": nochange["requests"],
        "nochange_requests_per_project": round(nochange["requests"] / projects, 2),
        "reconcile_rows": reconcile["upserts"] + reconcile["updates"] + reconcile["deletes"],
        "reconcile_requests": reconcile["requests"],
        "next_sync_requests": following["requests"],
        "next_sync_by_op": following["by_op"],
        "next_sync_rows": following["upserts"] + following["updates"] + following["deletes"],
        "next_sync_exact": not stale,
        "next_sync_stale_rows": sum(stale.values()),
        "next_sync_stale_by_table": stale,
        "state_bytes": len(state),
        "state_bytes_per_run": round(len(state) / len(world.runs), 1),
    }


def change(world: World) -> None:
    """`EDITS` edits of finished runs, one kind after another, and `DELETES` deleted runs, one per project."""
    names = [p.name for p in world.live_projects()]
    edits = [
        lambda run: world.edit_run(run, tags=[*(run.tags or []), "reviewed"]),
        lambda run: world.edit_run(run, notes="edited after it finished"),
        lambda run: world.edit_run(run, config={**run.config, "reviewed": True}),
        lambda run: world.update_summary(run, {"eval/reviewed": 1.0}),
    ]
    for i, name in enumerate(names[: EDITS + DELETES]):
        run = next(r for r in world.live_runs(name) if r.state == "finished")
        if i < EDITS:
            edits[i % len(edits)](run)
        else:
            world.delete_run(run)


def stale_rows(world: World, base_url: str, configuration: dict, database: Path) -> dict[str, int]:
    """Per table, rows of the warehouse (live) that differ from the ground truth, are missing, or should not be
    live (tables with none left out)."""
    keys, differing = primary_keys(), {}
    for table, rows in expected_rows(world, base_url, configuration).items():
        live = warehouse_rows(database, table, keys[table])
        count = len(rows.keys() ^ live.keys()) + sum(1 for k in rows.keys() & live.keys() if rows[k] != live[k])
        if count:
            differing[table] = count
            for key in (
                sorted(rows.keys() ^ live.keys())[:2] + [k for k in rows.keys() & live.keys() if rows[k] != live[k]][:2]
            ):
                print(f"  stale {table} {key}: {rows.get(key)} vs {live.get(key)}"[:600], flush=True)
    return differing


if __name__ == "__main__":
    main()
