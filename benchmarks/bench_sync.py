"""Requests, wall time, rows per second and peak memory of the connector against the W&B double.

`make bench` (or `python -m benchmarks.bench_sync --dataset medium --latency 0.05`) builds a dataset with the
double's generator, serves it with injected latency, and runs through the real `fivetran debug` CLI (the runner
users get): a full sync, then a sync with nothing new. It samples the RSS of the CLI process and all its children
(wandb-core included) every 20 ms. In the same run it times the naive walk (`naive_walk.py`) on the same data.
Requests are counted by operation from the double's log. The last line printed is one JSON object.

Lineage is measured on its own dataset (`lineage_world`: 1,000 versions in 100 collections used by 10,000 runs):
the connector's full sync with lineage on and off, a sync with nothing new, and beside them the client's per-run
walk (`run.used_artifacts()` + `run.logged_artifacts()`) and per-version walk (`artifact.used_by()`), sampled on
`NAIVE_SAMPLE` runs (`NAIVE_VERSION_SAMPLE` versions) per project and scaled to all of them (`naive_lineage.py`).

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
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import psutil

from benchmarks.tester_baseline import export_rows
from devkit.fivetran_cli import ROOT, connector_project, offline_home
from devkit.wandb_double import DEFAULT_API_KEY, WandbDouble, build_world
from devkit.wandb_double.dataset import DATASETS, Collection, World, add_version

BENCH_DATASETS = ("small", "medium", "large")
NAIVE_SAMPLE = 25  # runs per project when the naive walk is sampled
NAIVE_VERSION_SAMPLE = 5  # versions per project for the per-version lineage walk (a request per version and user)
UNLIMITED = "100000"
# By default the figures are those of the tables before run history (history and system metrics off) and before
# run_config and run_summary, so they compare with earlier runs; `--history` and `--values` switch them on
# (`bench_values.py` measures the latter).
HISTORY: dict[str, str] = {}
VALUES_OFF = {"run_config": "false", "run_summary": "false"}
# The requests that read artifacts and their lineage (the shared first request carries the collections listing).
LINEAGE_OPS = ("ProjectFirstPages", "ProjectArtifactCollections", "ArtifactProbe", "ProjectArtifacts", "ArtifactUsedBy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", choices=BENCH_DATASETS, default="medium")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to every response")
    parser.add_argument("--page-cap", type=int, default=1000, help="most items the double returns per page")
    parser.add_argument("--naive", choices=("full", "sample", "off"), default="full")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--connector", type=Path, default=ROOT, help="the checkout whose connector runs (a before)")
    parser.add_argument(
        "--rate-limits", default="200,50", help="comma-separated requests per minute to sync under (empty: none)"
    )
    parser.add_argument(
        "--no-retry-after", action="store_true", help="the rate-limited double's 429s carry no Retry-After"
    )
    parser.add_argument("--history", action="store_true", help="sync run history and system metrics too")
    parser.add_argument("--values", action="store_true", help="sync run_config and run_summary too")
    parser.add_argument("--no-lineage", action="store_true", help="skip the lineage dataset")
    parser.add_argument("--lineage-only", action="store_true", help="measure only the lineage dataset")
    args = parser.parse_args()
    if args.lineage_only:
        print(json.dumps(measure_lineage(args)))
        return
    HISTORY.update({"history": "true"} if args.history else {"history": "false", "system_metrics": "false"})
    HISTORY.update({} if args.values else VALUES_OFF)

    world = build_world(seed=args.seed, **DATASETS[args.dataset])
    for run in world.runs:  # the client's lazy runs crash on a run without a user; the naive walk uses them
        run.user = run.user or world.users[0]
    runs = len(world.runs)
    report: dict = {"dataset": args.dataset, "runs": runs, "latency_s": args.latency}
    report["limited_retry_after"] = not args.no_retry_after
    report["history"] = args.history
    double = WandbDouble(world, page_cap=args.page_cap, latency=args.latency)
    with double, tempfile.TemporaryDirectory() as tmp:
        project = connector_project(Path(tmp) / "project", args.connector)
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
    if not args.no_lineage:
        report |= measure_lineage(args)
    print(json.dumps(report))


def lineage_world(seed: int) -> World:
    """10 projects of 1,000 runs, each with 10 collections of 10 versions, each logged by one of its runs; every
    run uses one or two of its project's versions."""
    world = build_world(seed=seed, projects=10, runs_per_project=1000, artifact_versions=0, history_steps=1)
    rng = random.Random(seed)
    for project in world.live_projects():
        runs = world.live_runs(project.name)
        for run in runs:
            run.user = run.user or world.users[0]
        for c in range(10):
            created = project.created_at + timedelta(hours=1, minutes=c)
            name = f"dataset-{c}"
            collection = Collection(world.next_number(), project.name, name, "dataset", None, created, created)
            world.collections.append(collection)
            for v in range(10):
                made = created + timedelta(minutes=v + 1)
                add_version(world, collection, (project.name, rng.choice(runs).name), made)
        versions = [a for a in world.artifacts if a.collection.project == project.name]
        for run in runs:
            for version in rng.sample(versions, rng.randint(1, 2)):
                version.used_by.append((project.name, run.name))
    return world


def measure_lineage(args: argparse.Namespace) -> dict:
    """The lineage dataset: the connector with lineage on, off and with nothing new, beside the client's walks."""
    world = lineage_world(args.seed)
    runs, projects = len(world.runs), len(world.live_projects())
    double = WandbDouble(world, page_cap=args.page_cap, latency=args.latency)
    results = {}
    with double, tempfile.TemporaryDirectory() as tmp:
        projects_by = {kind: connector_project(Path(tmp) / f"project-{kind}") for kind in ("off", "on")}
        for name, lineage in (("off", "false"), ("on", "true"), ("nochange", "true")):
            kind = "off" if name == "off" else "on"
            home, project = Path(tmp) / f"home-{kind}", projects_by[kind]
            configuration = {
                "api_key": DEFAULT_API_KEY,
                "entity": world.entity,
                "base_url": double.base_url,
                "requests_per_minute": UNLIMITED,
                "history": "false",
                "system_metrics": "false",
                "lineage": lineage,
                **VALUES_OFF,
            }
            results[name] = measure_sync(double, project, configuration, home)
            print(f"lineage dataset, connector, lineage {name}: {json.dumps(results[name])}", flush=True)
        per_run = measure_naive_lineage(double, world.entity, "per-run", runs)
        print(f"lineage dataset, per-run walk: {json.dumps(per_run)}", flush=True)
        per_version = measure_naive_lineage(double, world.entity, "per-version", len(world.artifacts))
        print(f"lineage dataset, per-version walk: {json.dumps(per_version)}", flush=True)
    on, nochange = results["on"], results["nochange"]
    lineage_requests = sum(on["by_op"].get(op, 0) for op in LINEAGE_OPS)
    report = {
        "lineage_runs": runs,
        "lineage_versions": len(world.artifacts),
        "lineage_edges": on["upserts"] - results["off"]["upserts"],
        "lineage_requests": lineage_requests,
        "lineage_naive_requests": per_run["requests"],
        "lineage_per_version_requests": per_version["requests"],
        "lineage_wall_s": on["wall_s"],
        "lineage_off_wall_s": results["off"]["wall_s"],
        "lineage_naive_wall_s": per_run["wall_s"],
        "lineage_per_version_wall_s": per_version["wall_s"],
        "lineage_sync_requests": on["requests"],
        "lineage_off_sync_requests": results["off"]["requests"],
        "lineage_nochange_requests": nochange["requests"],
        "lineage_nochange_per_project": round(nochange["requests"] / projects, 2),
        "lineage_peak_rss_mb": on["peak_rss_mb"],
    }
    report["lineage_share_of_naive"] = round(lineage_requests / per_run["requests"], 4)
    print(
        f"lineage: {report['lineage_edges']} edges, {lineage_requests} requests for artifacts and lineage "
        f"({report['lineage_share_of_naive']:.2%} of the per-run walk's {per_run['requests']}; per version: "
        f"{per_version['requests']}); no-change sync {nochange['requests']} requests "
        f"({report['lineage_nochange_per_project']} per project)"
    )
    return report


def measure_naive_lineage(double: WandbDouble, entity: str, walk: str, total: int) -> dict:
    """The client's lineage walk on a sample of each project's runs (or versions), its per-item requests and wall
    time scaled to all of them."""
    double.reset_log()
    command = [sys.executable, "-m", "benchmarks.naive_lineage", double.base_url, entity, DEFAULT_API_KEY]
    sample = NAIVE_SAMPLE if walk == "per-run" else NAIVE_VERSION_SAMPLE
    result = subprocess.run([*command, "--walk", walk, "--sample", str(sample)], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"the {walk} walk failed:\n{result.stderr[-3000:]}")
    walked = json.loads(result.stdout.strip().splitlines()[-1])
    by_op = collections.Counter(r.op for r in double.requests)
    item_ops = ("RunInputArtifacts", "RunOutputArtifacts") if walk == "per-run" else ("ArtifactUsedBy", "Run")
    requests, wall = scaled(by_op, item_ops, walked["wall_s"], total / max(walked["walked"], 1))
    return {"requests": requests, "wall_s": wall, "sampled": walked, "by_op": dict(by_op)}


def scaled(by_op: collections.Counter, per_item_ops: tuple[str, ...], wall: float, scale: float) -> tuple[int, float]:
    """A sampled walk's requests and wall time for the whole dataset: its per-item requests (most of them) and
    its time grow with the items, the rest (listings) does not."""
    per_item = sum(by_op[op] for op in per_item_ops)
    return round(sum(by_op.values()) - per_item + per_item * scale), round(wall * scale, 1)


def measure_sync(
    double: WandbDouble,
    project: Path,
    configuration: dict,
    home: Path,
    verb: str = "debug",
    venv_bin: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> dict:
    """One `fivetran debug` run (or `fivetran run`, with the lakehouse venv's CLI), with its requests by operation,
    wall time and the peak RSS of its process tree."""
    home.mkdir(exist_ok=True)
    config_file = home / "configuration.json"
    config_file.write_text(json.dumps(configuration))
    double.reset_log()
    venv_bin = venv_bin or Path(sys.executable).parent
    command = [str(venv_bin / "fivetran"), verb, str(project), "--configuration", str(config_file)]
    env = offline_home(home, venv_bin) | (extra_env or {})
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=project, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True
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
        "updates": _count(output, "Updates"),
        "deletes": _count(output, "Deletes"),
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
    if mode == "sample":
        requests, wall = scaled(by_op, ("Run", "RunOutputArtifacts"), wall, runs / max(walked["runs"], 1))
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
