"""The connector under Fivetran's hosted limits: half a CPU and 1 GiB, every table on, growing entities.

`make bench-hosted` (or `python -m benchmarks.bench_hosted --sizes 1000,10000,100000 --long-run`) runs the real
`fivetran debug` CLI inside a cgroup (v1) with `cpu.cfs_quota_us` 50000 of `cpu.cfs_period_us` 100000 and
`memory.limit_in_bytes` 1 GiB, as root. Elsewhere: on cgroup v2, `systemd-run --scope -p CPUQuota=50% -p
MemoryMax=1G fivetran debug …` applies the same limits; `--no-cgroup` runs unlimited (figures then say nothing of
the limits). The double serves outside the cgroup.

For each size N (runs, 1,000 a project, a few config and summary keys and 10 history steps a run, every table on):
a first sync and a no-change sync. It reports, per size, `hosted_<N>_sync_s`, `hosted_<N>_nochange_s`,
`hosted_<N>_peak_rss_mb` (the CLI and wandb-core, sampled), `hosted_<N>_cgroup_peak_mb` (the cgroup's own peak, page
cache included), `hosted_<N>_oom` (the kernel killed something in the cgroup, or the sync died of a signal),
`hosted_<N>_state_bytes_per_run`, `hosted_<N>_checkpoints`, `hosted_<N>_checkpoint_share` (the state's part of
checkpointing over the sync's seconds: the connector encoding it, the SDK encoding and sending it inside
`op.checkpoint`, the runner writing and printing it), `hosted_<N>_flush_share` (the local runner writing the rows
waiting, inside `op.checkpoint` too, which Fivetran's hosted runtime does on its own side: row writing, not state),
`hosted_<N>_checkpoint_share_with_flush` (both) and `seconds_per_1000_runs_<N>`;
then `state_bytes_per_run` and `checkpoint_share` of the largest size. `--long-run` adds one run of 100,000 steps
(`hosted_long_run_*`). `op.checkpoint` is timed by a `sitecustomize` put on the CLI's path: it wraps the SDK's
function and writes its totals when the process ends; the connector is not touched. The last line is one JSON
object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks.bench_sync import UNLIMITED, PeakRss, _count, _sync_seconds
from devkit.fivetran_cli import ROOT, connector_project, offline_home
from devkit.wandb_double import DEFAULT_API_KEY, WandbDouble, build_world
from devkit.wandb_double.dataset import World

CPU = Path("/sys/fs/cgroup/cpu")
MEMORY = Path("/sys/fs/cgroup/memory")
QUOTA_US, PERIOD_US = 50_000, 100_000
CPU_LIMITED = True  # --memory-only-limit: 1 GiB but a whole CPU (a quicker look at memory and state at 100,000 runs)
LIMIT_BYTES = 2**30
RUNS_PER_PROJECT = 1000
HISTORY_STEPS = 10
LONG_RUN_STEPS = 100_000
ALL_TABLES = {"history": "true", "reconcile_interval_hours": "24"}

# Put first on the CLI's PYTHONPATH: times every `op.checkpoint` (the SDK encodes the state and sends it there; the
# local runner also writes the rows waiting, `flush`, which Fivetran's hosted runtime does on its own side) and the
# connector's own encoding of the state (`SyncState.to_dict`, wrapped at the first checkpoint, once imported).
TIMER = textwrap.dedent(
    """
    import atexit, json, os, sys, time
    from fivetran_connector_sdk import Operations
    from fivetran_connector_sdk_core import runner
    _spent = {"seconds": 0.0, "calls": 0, "flush": 0.0, "encode": 0.0}

    def _timing(original, key, count=False):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                _spent[key] += time.perf_counter() - started
                _spent["calls"] += count
        return timed

    _original = _timing(Operations.checkpoint, "seconds", count=True)
    def _checkpoint(*args, **kwargs):
        state = sys.modules.get("wandb_connector.state")
        if state and not getattr(state.SyncState.to_dict, "timed", False):
            state.SyncState.to_dict = _timing(state.SyncState.to_dict, "encode")
            state.SyncState.to_dict.timed = True
        return _original(*args, **kwargs)
    _static = isinstance(Operations.__dict__.get("checkpoint"), staticmethod)
    Operations.checkpoint = staticmethod(_checkpoint) if _static else _checkpoint
    runner._Sync.flush = _timing(runner._Sync.flush, "flush")
    atexit.register(lambda: open(os.environ["HOSTED_TIMINGS"], "w").write(json.dumps(_spent)))
    """
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated run counts (all: 1000,10000,100000)")
    parser.add_argument("--long-run", action="store_true", help="also one run of 100,000 history steps")
    parser.add_argument("--no-cgroup", action="store_true", help="run without limits (not a hosted figure)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every response")
    parser.add_argument("--connector", type=Path, default=ROOT, help="the checkout whose connector runs (a before)")
    parser.add_argument("--memory-only-limit", action="store_true", help="1 GiB, no CPU quota (times say little)")
    args = parser.parse_args()
    # A benchmark stopped with SIGTERM unwinds like Ctrl-C, so its cgroups go with it; earlier ones killed harder
    # (SIGKILL leaves them) are removed once empty.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    remove_left_groups()
    global CPU_LIMITED
    CPU_LIMITED = not args.memory_only_limit
    report: dict = {"cgroup": not args.no_cgroup, "cpu_quota": QUOTA_US / PERIOD_US if CPU_LIMITED else None}
    report["memory_limit_mb"] = LIMIT_BYTES >> 20
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    for size in sizes:
        world = build_world(
            seed=7,
            projects=max(1, size // RUNS_PER_PROJECT),
            runs_per_project=min(size, RUNS_PER_PROJECT),
            artifact_versions=max(8, size // 50),
            history_steps=HISTORY_STEPS,
        )
        result = measure(world, f"hosted_{size}", args)
        result[f"seconds_per_1000_runs_{size}"] = round(result[f"hosted_{size}_sync_s"] / (size / 1000), 2)
        report |= result
        print(json.dumps(result), flush=True)
    if sizes:
        largest = max(sizes)
        report["state_bytes_per_run"] = report[f"hosted_{largest}_state_bytes_per_run"]
        report["checkpoint_share"] = report[f"hosted_{largest}_checkpoint_share"]
    if args.long_run:
        world = build_world(seed=7, projects=1, runs_per_project=1, artifact_versions=8, history_steps=LONG_RUN_STEPS)
        result = measure(world, "hosted_long_run", args)
        report |= result
        print(json.dumps(result), flush=True)
    print(json.dumps(report))


def measure(world: World, name: str, args: argparse.Namespace) -> dict:
    runs = len(world.runs)
    with WandbDouble(world, page_cap=1000, latency=args.latency) as double, tempfile.TemporaryDirectory() as tmp:
        project = connector_project(Path(tmp) / "project", args.connector)
        configuration = {
            "api_key": DEFAULT_API_KEY,
            "entity": world.entity,
            "base_url": double.base_url,
            "requests_per_minute": UNLIMITED,
            **ALL_TABLES,
        }
        home = Path(tmp) / "home"
        first = run(project, configuration, home, Path(tmp), args.no_cgroup)
        nochange = run(project, configuration, home, Path(tmp), args.no_cgroup)
        state = (project / "files" / "state.json").read_bytes()
    sync_s = first["sync_s"]

    def share(seconds: float) -> float | None:
        return round(seconds / sync_s, 4) if sync_s else None

    return {
        f"{name}_runs": runs,
        f"{name}_sync_s": sync_s,
        f"{name}_nochange_s": nochange["sync_s"],
        f"{name}_upserts": first["upserts"],
        f"{name}_peak_rss_mb": max(first["peak_rss_mb"], nochange["peak_rss_mb"]),
        f"{name}_cgroup_peak_mb": max(first["cgroup_peak_mb"], nochange["cgroup_peak_mb"]),
        f"{name}_oom": first["oom"] or nochange["oom"],
        f"{name}_state_bytes_per_run": round(len(state) / runs, 1),
        f"{name}_checkpoints": first["checkpoints"],
        f"{name}_checkpoint_share": share(first["checkpoint_s"] - first["flush_s"] + first["encode_s"]),
        f"{name}_flush_share": share(first["flush_s"]),
        f"{name}_checkpoint_share_with_flush": share(first["checkpoint_s"] + first["encode_s"]),
    }


def run(project: Path, configuration: dict, home: Path, tmp: Path, unlimited: bool) -> dict:
    """One `fivetran debug`, in the limited cgroup unless `unlimited`."""
    home.mkdir(exist_ok=True)
    config_file = home / "configuration.json"
    config_file.write_text(json.dumps(configuration))
    hook = tmp / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(TIMER)
    timings = tmp / "timings.json"
    timings.unlink(missing_ok=True)
    venv_bin = Path(sys.executable).parent
    env = offline_home(home, venv_bin) | {"PYTHONPATH": str(hook), "HOSTED_TIMINGS": str(timings)}
    command = [str(venv_bin / "fivetran"), "debug", str(project), "--configuration", str(config_file)]
    with limited(unlimited) as group:
        started = time.monotonic()
        process = subprocess.Popen(
            command,
            cwd=project,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=group.join,
        )
        peak = PeakRss(process.pid, interval=0.05)
        output, _ = process.communicate()
        wall = time.monotonic() - started
        peak.stop()
        cgroup_peak, killed = group.peak_and_kills()
    if process.returncode != 0 and not killed and process.returncode > 0:
        raise SystemExit(f"the sync failed:\n{output[-3000:]}")
    spent = {"seconds": 0.0, "calls": 0, "flush": 0.0, "encode": 0.0}
    spent |= json.loads(timings.read_text()) if timings.exists() else {}
    return {
        "sync_s": _sync_seconds(output) or wall,
        "upserts": _count(output, "Upserts"),
        "peak_rss_mb": round(peak.value / 2**20, 1),
        "cgroup_peak_mb": round(cgroup_peak / 2**20, 1),
        "oom": killed or process.returncode < 0,
        "checkpoint_s": spent["seconds"],
        "flush_s": spent["flush"],
        "encode_s": spent["encode"],
        "checkpoints": spent["calls"],
    }


class Group:
    """A cgroup v1 pair (cpu, memory) with the hosted limits; `join` runs in the child before it execs."""

    def __init__(self, name: str | None):
        self.dirs = [] if name is None else [CPU / name, MEMORY / name]

    def join(self) -> None:
        for directory in self.dirs:
            (directory / "cgroup.procs").write_text(str(os.getpid()))

    def peak_and_kills(self) -> tuple[int, bool]:
        if not self.dirs:
            return 0, False
        memory = self.dirs[1]
        peak = int((memory / "memory.max_usage_in_bytes").read_text())
        control = dict(line.split() for line in (memory / "memory.oom_control").read_text().splitlines())
        return peak, int(control.get("oom_kill", "0")) > 0


def remove_left_groups() -> None:
    """The cgroups of benchmarks that died without removing theirs: a cgroup with no process left goes."""
    for root in (CPU, MEMORY):
        for directory in root.glob("wandb-hosted-*") if root.is_dir() else ():
            owner = directory.name.split("-")[2]
            if owner.isdigit() and Path(f"/proc/{owner}").exists():
                continue
            with contextlib.suppress(OSError):
                if not (directory / "cgroup.procs").read_text().strip():
                    directory.rmdir()


@contextlib.contextmanager
def limited(unlimited: bool) -> Iterator[Group]:
    if unlimited:
        yield Group(None)
        return
    if not (CPU / "cgroup.procs").exists() or not os.access(CPU, os.W_OK):
        raise SystemExit("no writable cgroup v1 here: run as root, or see the module docstring for cgroup v2")
    group = Group(f"wandb-hosted-{os.getpid()}-{time.monotonic_ns()}")
    cpu, memory = group.dirs
    cpu.mkdir()
    memory.mkdir()
    try:
        (cpu / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        (cpu / "cpu.cfs_quota_us").write_text(str(QUOTA_US if CPU_LIMITED else -1))
        (memory / "memory.limit_in_bytes").write_text(str(LIMIT_BYTES))
        yield group
    finally:
        for directory in group.dirs:
            with contextlib.suppress(OSError):
                directory.rmdir()


if __name__ == "__main__":
    main()
