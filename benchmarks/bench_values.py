"""Config, summary and hardware: what `run_config`, `run_summary` and the `runInfo` columns cost, and memory on huge
documents.

`make bench-values` (or `python -m benchmarks.bench_values`) measures, through the real `fivetran debug` against the
double with 50 ms latency, in one run on one machine:

- the metadata path: a first sync of the medium dataset (10,000 runs) with the run listing as shipped (`runInfo`
  in each run) and with `runInfo` taken out of a copy of the connector, side by side: the requests and time that
  hardware adds (`metadata_*`);
- what the long tables cost: the same first sync with `run_config` and `run_summary` off, and a sync with nothing
  new with them on (`values_*`);
- memory: one project of 20 runs, alone, then with one run whose config is 5 MB, then with one run whose summary
  has 10,000 keys; peak RSS of the CLI and all its children (wandb-core included), and the state's size.

History and system metrics are off throughout, so the figures are the run listing's. The last line printed is one
JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from benchmarks.bench_sync import UNLIMITED, measure_sync
from devkit.fivetran_cli import connector_project
from devkit.wandb_double import DEFAULT_API_KEY, WandbDouble, build_world
from devkit.wandb_double.dataset import DATASETS, World

OFF = {"history": "false", "system_metrics": "false"}


def huge_config() -> dict:
    """About 5 MB of config as teams log it: a vocabulary list and a layer-by-layer architecture."""
    vocab = [f"token_{i:06d}" for i in range(200_000)]
    layers = {f"layer_{i}": {"type": "linear", "in": 4096, "out": 4096, "dropout.p": 0.1} for i in range(20_000)}
    return {"vocab": vocab, "model": {"layers": layers}}


def wide_summary() -> dict:
    return {f"eval/class_{i:05d}/f1": i / 10_000 for i in range(10_000)} | {"_runtime": 60.0, "_step": 9}


def small_world(extra: str | None) -> World:
    world = build_world(seed=3, projects=1, runs_per_project=20, artifact_versions=0, history_steps=5)
    if extra == "config":
        world.runs[0].config |= huge_config()
    elif extra == "summary":
        world.runs[0].summary = (world.runs[0].summary or {}) | wide_summary()
    return world


def sync(
    world: World, latency: float, tmp: Path, settings: dict, without_run_info: bool = False, again: bool = False
) -> dict:
    """A first sync (then, with `again`, the figures of a second) through `fivetran debug` on a fresh project."""
    project = connector_project(tmp / "project")
    if without_run_info:
        module = project / "wandb_connector" / "tables" / "run_fields.py"
        text = module.read_text()
        module.write_text(text.replace("\n  {RUN_INFO}\n", "\n"))
        assert "{RUN_INFO}" not in module.read_text(), "the runs fragment changed: update the benchmark"
    with WandbDouble(world, page_cap=1000, latency=latency) as double:
        configuration = {
            "api_key": DEFAULT_API_KEY,
            "entity": world.entity,
            "base_url": double.base_url,
            "requests_per_minute": UNLIMITED,
            **OFF,
            **settings,
        }
        first = measure_sync(double, project, configuration, tmp / "home")
        first["state_kb"] = round((project / "files" / "state.json").stat().st_size / 1024, 1)
        if again:
            first["again"] = measure_sync(double, project, configuration, tmp / "home")
    return first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", choices=("small", "medium", "large"), default="medium")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to every response")
    args = parser.parse_args()
    report: dict = {"dataset": args.dataset, "latency_s": args.latency}
    world = build_world(seed=7, **DATASETS[args.dataset])
    report["runs"] = len(world.runs)
    with tempfile.TemporaryDirectory() as tmp:
        shipped = sync(world, args.latency, Path(tmp) / "shipped", {}, again=True)
        print(f"shipped: {json.dumps(shipped)}", flush=True)
        bare = sync(world, args.latency, Path(tmp) / "bare", {}, without_run_info=True)
        print(f"without runInfo: {json.dumps(bare)}", flush=True)
        flat = sync(world, args.latency, Path(tmp) / "flat", {"run_config": "false", "run_summary": "false"})
        print(f"without run_config and run_summary: {json.dumps(flat)}", flush=True)
    report |= {
        "metadata_requests": shipped["requests"],
        "metadata_requests_without_run_info": bare["requests"],
        "metadata_added_requests": shipped["requests"] - bare["requests"],
        "metadata_wall_s": shipped["wall_s"],
        "metadata_wall_s_without_run_info": bare["wall_s"],
        "values_rows": shipped["upserts"] - flat["upserts"],
        "values_wall_s": shipped["wall_s"],
        "values_wall_s_off": flat["wall_s"],
        "values_state_kb": shipped["state_kb"],
        "values_state_kb_off": flat["state_kb"],
        "values_nochange_requests": shipped["again"]["requests"],
        "values_nochange_upserts": shipped["again"]["upserts"],
    }
    for extra in (None, "config", "summary"):
        with tempfile.TemporaryDirectory() as tmp:
            result = sync(small_world(extra), args.latency, Path(tmp), {})
        name = {None: "baseline", "config": "config_5mb", "summary": "summary_10k"}[extra]
        print(f"{name}: {json.dumps(result)}", flush=True)
        report |= {f"{name}_peak_rss_mb": result["peak_rss_mb"], f"{name}_rows": result["upserts"]}
        report |= {f"{name}_wall_s": result["wall_s"], f"{name}_state_kb": result["state_kb"]}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
