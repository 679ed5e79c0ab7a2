"""`run_system_metrics`: each run's system stream (what wandb samples every 15 s: GPU, CPU, memory, disk, network),
one row per sample; a child walk of the runs. W&B serves the stream only sampled (`events(samples)`, 500 points
evenly over the run), so each sample carries the seconds it stands for and averages and totals are sums. A run's
stream is read again only when its heartbeat moved (a running run, at each sync; a finished run, once) and replaced
sample by sample, deleting samples past the new count.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from ..convert import GPU_KEY, MalformedValue, decode_json, epoch_time, json_object, mean, number
from ..paging import RunPage
from ..settings import Option, switch
from ..shapes import dig, expect_shape
from ..shapes import field as read_field
from ..state import WalkState
from ..walker import Cost, Deletes, Follow, Guess, Table, Walker, Where

if TYPE_CHECKING:
    from ..survey import Survey

# One request reads the streams of as many runs as fill about this many samples, at most `RUNS_PER_REQUEST` runs.
SAMPLES_PER_REQUEST = 10_000
RUNS_PER_REQUEST = 100
# W&B serves the system stream only sampled; `run.history(stream="system")` asks for W&B's default of 500.
SYSTEM_SAMPLES = 500


# wandb samples the system every 15 seconds: how a run's runtime says how many samples it has, to fill requests.
SYSTEM_INTERVAL_S = 15


SWITCH = Option(
    "run_system_metrics",
    "Sync system metrics",
    "Whether run_system_metrics holds each run's GPU, CPU, memory, disk and network samples. Default true.",
    switch(True),
    placeholder="true",
    aliases=("system_metrics",),
    doc="`false` to leave `run_system_metrics` empty (default `true`: up to 500 samples a run); `system_metrics`, its "
    "older name, is accepted too",
)


def system_events(runs: int) -> str:
    """`run.history(stream="system")`'s `events(samples:)` (W&B serves the system stream only sampled) for
    several runs of a project in one document."""
    declared = ", ".join(f"$run{i}: String!" for i in range(runs))
    fields = "\n    ".join(f"run{i}: run(name: $run{i}) {{ events(samples: $samples) }}" for i in range(runs))
    return (
        f"query SystemEvents($entity: String!, $project: String!, $samples: Int, {declared}) {{\n"
        f"  project(name: $project, entityName: $entity) {{\n    {fields}\n  }}\n}}\n"
    )


# The system stream's keys (per GPU `system.gpu.<i>.<metric>`) behind the columns an analyst aggregates.
SYSTEM_KEYS = {
    "cpu_percent": "system.cpu",
    "memory_percent": "system.memory",
    "process_memory_mb": "system.proc.memory.rssMB",
    "disk_percent": "system.disk./.usagePercent",
    "network_sent_bytes": "system.network.sent",
    "network_recv_bytes": "system.network.recv",
}


def system_metrics_row(node: dict, where: Where) -> dict[str, Any]:
    """`node` is one sample of run `node["run"]`'s system stream: `sample` is its place among the run's samples,
    `interval` the seconds it stands for (to the next sample), so time-weighted averages and GPU hours are sums."""
    event, run_id = node["event"], node["run"]
    what = f"a system metrics sample of run {where.project_id}/{run_id}"
    gpus: dict[int, dict[str, Any]] = {}
    for key, value in event.items():
        match = GPU_KEY.match(key)
        if match:
            gpus.setdefault(int(match[1]), {})[match[2]] = value

    def per_gpu(metric: str) -> list[float]:
        return [v for gpu in gpus.values() if (v := number(gpu.get(metric))) is not None]

    utilization, memory, allocated = per_gpu("gpu"), per_gpu("memoryAllocated"), per_gpu("memoryAllocatedBytes")
    power, temperature = per_gpu("powerWatts"), per_gpu("temp")
    return {
        "project_id": where.project_id,
        "run_id": run_id,
        "sample": node["sample"],
        "timestamp": epoch_time(event.get("_timestamp"), f"{what} _timestamp"),
        "runtime_seconds": number(event.get("_runtime")),
        "interval_seconds": node["interval"],
        "gpu_count": len(gpus),
        "gpu_utilization_percent": mean(utilization),
        "gpu_memory_allocated_percent": mean(memory),
        "gpu_memory_allocated_bytes": int(sum(allocated)) if allocated else None,
        "gpu_power_watts": sum(power) if power else None,
        "gpu_temperature_c": max(temperature) if temperature else None,
        **{column: number(event.get(key)) for column, key in SYSTEM_KEYS.items()},
        "metrics": {key: value for key, value in event.items() if key not in ("_runtime", "_timestamp", "_wandb")},
    }


TABLE = Table(
    "run_system_metrics",
    ("project_id", "run_id", "sample"),
    {
        "project_id": "STRING",
        "run_id": "STRING",
        "sample": "LONG",
        "timestamp": "UTC_DATETIME",
        "runtime_seconds": "DOUBLE",
        "interval_seconds": "DOUBLE",
        "gpu_count": "LONG",
        "gpu_utilization_percent": "DOUBLE",
        "gpu_memory_allocated_percent": "DOUBLE",
        "gpu_memory_allocated_bytes": "LONG",
        "gpu_power_watts": "DOUBLE",
        "gpu_temperature_c": "DOUBLE",
        "cpu_percent": "DOUBLE",
        "memory_percent": "DOUBLE",
        "process_memory_mb": "DOUBLE",
        "disk_percent": "DOUBLE",
        "network_sent_bytes": "DOUBLE",
        "network_recv_bytes": "DOUBLE",
        "metrics": "JSON",
        "synced_at": "UTC_DATETIME",
    },
    system_metrics_row,
)


@dataclass
class SystemState(WalkState):
    """Per run synced: how many samples its rows hold and the heartbeat they were read at."""

    runs: dict[str, list] = field(default_factory=dict)


class SystemMetricsWalker(Walker[SystemState]):
    """Each run's sampled system stream, read again only when the run's heartbeat moved (the
    stream grows while a run runs) and replaced whole, sample by sample."""

    name: ClassVar[str] = TABLE.name
    parent: ClassVar[str] = "run_fields"
    swept: ClassVar[bool] = False
    tables: ClassVar[tuple[Table, ...]] = (TABLE,)
    state_type: ClassVar[type[WalkState]] = SystemState
    switch: ClassVar[Option] = SWITCH

    def start(self, now: datetime, full: bool) -> Follow:
        self.walk = self.state.begin(now, full)
        self.ledgers = dict(self.state.runs)
        return self.follow

    def follow(self, page: RunPage) -> Iterator[list[tuple[str, str, list[dict]]]]:
        """Worker: the runs whose stream moved, as many a request as fill about `SAMPLES_PER_REQUEST` samples."""
        todo = [node for node in page.nodes if self._due(node)]
        while todo:
            nodes, budget = [], SAMPLES_PER_REQUEST
            while todo and budget > 0 and len(nodes) < RUNS_PER_REQUEST:
                nodes.append(todo.pop(0))
                budget -= _samples(nodes[-1])
            what = f"the system metrics of {len(nodes)} run(s) of {self.where.project_id}"
            variables = {"entity": self.where.entity, "project": self.where.project, "samples": SYSTEM_SAMPLES}
            variables |= {f"run{i}": node["name"] for i, node in enumerate(nodes)}
            project = dig(self.client.execute(system_events(len(nodes)), variables, what), ("project",), what)
            item = []
            for i, node in enumerate(nodes):
                run = read_field(project, f"run{i}", what)
                if run is not None:
                    with expect_shape(f"the system metrics of run {self.where.project_id}/{node['name']}"):
                        what_event = f"a system metrics sample of run {node['name']}"
                        events = [decode_json(event, what_event) for event in run["events"]]
                    item.append((node["name"], node.get("heartbeatAt") or "", _with_intervals(events)))
            yield item

    def _due(self, node: dict) -> bool:
        raw = self.ledgers.get(node["name"])
        if raw is not None:
            return raw[1] != (node.get("heartbeatAt") or "")
        return bool(json_object(node.get("systemMetrics"), f"run {node['name']} systemMetrics"))

    def apply(self, item: list[tuple[str, str, list[dict]]]) -> None:
        for name, heartbeat, samples in item:
            before = (self.state.runs.get(name) or [0, ""])[0]
            for sample in samples:
                node = {"run": name, **sample}
                self.emit(TABLE, node, self.where, sample["sample"] >= before)
            for index in range(len(samples), before):
                self.delete(TABLE, {"project_id": self.where.project_id, "run_id": name, "sample": index})
            self.tally(TABLE, -max(0, before - len(samples)))
            self.state.runs[name] = [len(samples), heartbeat]
            self.emitted += len(samples)
        self.checkpoint()

    @classmethod
    def prune(cls, where: Where, state: SystemState, live: list[dict] | None, out: Deletes) -> None:
        alive = {key["run_id"] for key in live or ()}
        for name in [n for n in state.runs if n not in alive]:
            samples = state.runs.pop(name)[0]
            for index in range(samples):
                out.delete(TABLE, {"project_id": where.project_id, "run_id": name, "sample": index})
            out.tally(TABLE, -samples)


def _samples(node: dict) -> int:
    """About how many samples W&B will send for a run: its runtime over wandb's sampling interval."""
    try:
        summary = json_object(node.get("summaryMetrics"), "summaryMetrics")
    except MalformedValue:
        summary = {}
    runtime = summary.get("_runtime")
    if isinstance(runtime, bool) or not isinstance(runtime, int | float) or not math.isfinite(runtime):
        return SYSTEM_SAMPLES
    return max(1, min(SYSTEM_SAMPLES, int(runtime // SYSTEM_INTERVAL_S) + 1))


def _with_intervals(events: list[Any]) -> list[dict]:
    """The samples in time order, each with the seconds it stands for: to the next sample, and for the last one
    the mean spacing of the others (none for a lone sample)."""
    samples = sorted((e for e in events if isinstance(e, dict)), key=lambda e: _seconds(e.get("_timestamp")))
    times = [_seconds(e.get("_timestamp")) for e in samples]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    last = sum(gaps) / len(gaps) if gaps else None
    return [
        {"sample": i, "event": event, "interval": gaps[i] if i < len(gaps) else last} for i, event in enumerate(samples)
    ]


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedValue(f"a system metrics sample has no numeric _timestamp: {str(value)[:40]!r}")
    return float(value)


WALKER = SystemMetricsWalker
OPTIONS = (SWITCH,)


COST = Cost(
    requests="0 (a run whose heartbeat did not move is not read)",
    rows="up to 500 samples per run whose heartbeat moved (a running run at each sync: MAR counts each key once "
    "a month, so at most 500 rows per run a month)",
    reconcile="reads nothing; deletes the rows of deleted runs only",
)


SAMPLED_STREAMS = 8


def estimate(survey: Survey) -> Guess:
    """The mean number of samples W&B serves a run (at most 500), from one request for a handful of runs spread
    over the listing, times the runs; a month holds those of the runs active in it."""
    if not survey.runs:
        return Guess(0, 0)
    names = [run.name for run in survey.sample(SAMPLED_STREAMS)]
    where = survey.where
    what = f"the system metrics of a sample of the runs of {where.project_id}"
    variables: dict[str, Any] = {"entity": where.entity, "project": where.project, "samples": SYSTEM_SAMPLES}
    variables |= {f"run{i}": name for i, name in enumerate(names)}
    project = dig(survey.client.execute(system_events(len(names)), variables, what), ("project",), what)
    with expect_shape(what):
        counts = [len(project[f"run{i}"]["events"]) for i in range(len(names)) if project.get(f"run{i}")]
    return survey.per_run(sum(counts) / len(counts) if counts else 0.0, len(names) < len(survey.runs))
