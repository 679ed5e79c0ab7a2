"""A seeded, mutable W&B world that the double serves and the tests compare the warehouse against.

One entity: its users, projects, runs, sweeps, and artifact collections with their versions, plus the mutations
tests make between or during syncs (add, edit, delete, move, rename, move an alias, hide from the key). Everything
is plain Python (aware UTC datetimes, dicts with real NaN and Infinity) so tests can state expectations without
going through GraphQL; `resolvers.py` turns it into the wire shapes and `filters.py` reads W&B's filters and orders
against it. Generation is deterministic for a seed and cheap enough for 50,000 runs: per-step history is derived on
demand from the run's own seed, never stored.
"""

from __future__ import annotations

import base64
import bisect
import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

EPOCH = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)

OPEN_STATES = ("running", "pending")
STATE_WEIGHTS = {
    "finished": 60,
    "crashed": 8,
    "failed": 8,
    "killed": 6,
    "running": 12,
    "pending": 6,
}
JOB_TYPES = ("train", "eval", "fine-tune", "ingest", "clean", "encode")
TAGS = ("nlp", "baseline", "prod-candidate", "ablation", "pytorch", "transformers", "sagemaker", "bug-fix", "ünïcode")
PROJECT_NAMES = (
    "phishing-detector",
    "llm-finetune",
    "vision-baselines",
    "data-pipeline",
    "speech-asr",
    "recsys-ranking",
)
LINEAGE = (
    ("phishing-texts-raw", "dataset", "ingest"),
    ("phishing-texts-clean", "dataset", "clean"),
    ("phishing-texts-encoded", "dataset", "encode"),
    ("phishing-classifier", "model", "train"),
)


def global_id(kind: str, *parts: object) -> str:
    """W&B ids are base64 of `Kind:...`; runs and projects encode their path, artifacts a number."""
    return base64.b64encode(":".join([kind, *map(str, parts)]).encode()).decode()


@dataclass
class User:
    username: str
    name: str
    email: str
    number: int
    admin: bool = False

    @property
    def id(self) -> str:
        return global_id("User", self.number)


@dataclass
class Project:
    number: int
    name: str
    entity: str
    created_at: datetime
    updated_at: datetime
    description: str | None
    owner: User | None
    deleted: bool = False
    hidden: bool = False

    @property
    def id(self) -> str:
        return global_id("Project", "v1", self.name, self.entity)


@dataclass
class Run:
    """One run; `config` holds the user's values (the server wraps each as {"value", "desc"})."""

    number: int
    project: str
    name: str
    display_name: str
    state: str
    created_at: datetime
    heartbeat_at: datetime
    updated_at: datetime
    user: User | None
    config: dict
    summary: dict
    system_metrics: dict
    tags: list[str] | None
    group: str | None
    job_type: str | None
    notes: str | None
    commit: str | None
    host: str | None
    sweep_name: str | None
    seed: int
    segments: list[HistorySegment] = field(default_factory=list)
    system_samples: int = 0
    # Seconds between system samples: wandb samples every 15 s, and a seeded run's samples span its runtime (so
    # GPU hours from the stream and from runtime x GPU count agree).
    system_interval: float = 15.0
    gpu_count: int = 0
    # What W&B parsed from the run's wandb-metadata.json, in the server's shape (`RunInfo`; its `gpuCount` is
    # `gpu_count`, and `gpu` is served only with GPUs); None for a run whose client sent none (W&B then has only the
    # system metrics' `system.gpu.<i>.*` keys to tell its GPUs).
    run_info: dict | None = None
    # The last step W&B's parquet export holds (None: not exported yet); later steps are served as live data.
    exported_through: int | None = None
    deleted: bool = False
    hidden: bool = False

    def __setattr__(self, name: str, value: object) -> None:
        """A run's GPUs are one fact: setting `gpu_count` (tests do) re-derives the system metrics' per-GPU keys."""
        object.__setattr__(self, name, value)
        if name == "gpu_count" and "system_metrics" in self.__dict__:
            metrics = self.system_metrics
            base = self.__dict__.setdefault("_gpu_util", metrics.get("system.gpu.0.gpu", 50.0))
            kept = {k: v for k, v in metrics.items() if not k.startswith("system.gpu.")}
            gpus = {f"system.gpu.{i}.gpu": round(max(0.0, base - 3 * i), 2) for i in range(value)}
            object.__setattr__(self, "system_metrics", kept | gpus)

    def id(self, entity: str) -> str:
        return global_id("Run", "v1", self.name, self.project, entity)

    @property
    def history_line_count(self) -> int:
        return sum(len(steps) for _, steps in self._live_segments())

    @property
    def last_step(self) -> int:
        """W&B's `historyKeys.lastStep`: -1 for a run that logged nothing."""
        return max((steps[-1] for _, steps in self._live_segments() if steps), default=-1)

    def history(self, min_step: int | None = None, max_step: int | None = None) -> list[dict]:
        """The run's full history in step order, or the steps in [min_step, max_step): built on demand, so a
        100,000-step run costs only the steps asked for."""
        rows = []
        for segment, steps in self._live_segments():
            low = 0 if min_step is None else bisect.bisect_left(steps, min_step)
            high = len(steps) if max_step is None else bisect.bisect_left(steps, max_step)
            rows += [segment.row(steps.start + i * steps.step, i) for i in range(low, high)]
        return rows

    def history_keys(self) -> list[str]:
        """Every key the history holds (the first, an evaluation and the last step of each segment show them
        all: the generator logs the same keys at every evaluation)."""
        keys: set[str] = set()
        for segment, steps in self._live_segments():
            for i in {0, len(steps) - 1, min(segment.every, len(steps) - 1), len(steps) // 2 + 1}:
                if 0 <= i < len(steps):
                    keys |= set(segment.row(steps[i], i))
        return sorted(keys)

    def _live_segments(self) -> list[tuple[HistorySegment, range]]:
        """Each segment with the steps still its own: a later segment (a resume that rewound) replaces every step
        of the earlier ones from its first step on."""
        live = []
        for index, segment in enumerate(self.segments):
            limit = min((later.first for later in self.segments[index + 1 :]), default=None)
            steps = range(segment.first, segment.first + segment.count * segment.stride, segment.stride)
            if limit is not None:
                steps = steps[: bisect.bisect_left(steps, limit)]
            live.append((segment, steps))
        return live

    def log_steps(self, count: int, at: datetime) -> None:
        """The run logs `count` more steps (a running run, between syncs)."""
        if not self.segments:
            self.segments.append(HistorySegment(0, 0, self.seed, at.timestamp(), total=count))
        self.segments[-1].count += count

    def events(self, samples: int | None = None) -> list[dict]:
        """The system stream, sampled like W&B's `events(samples)`: at most `samples` points, evenly spread."""
        count = self.system_samples
        picked = range(count) if not samples or count <= samples else _spread(count, samples)
        return [self._event(i) for i in picked]

    def _event(self, i: int) -> dict:
        rng = random.Random(self.seed * 7919 + i)
        at = (i + 1) * self.system_interval
        busy = 0.5 + 0.4 * math.sin(i / 7) * math.sin(self.seed % 13 + i / 31)
        event: dict = {
            "_runtime": at,
            "_timestamp": self.created_at.timestamp() + at,
            "_wandb": True,
            "system.cpu": round(20 + 60 * busy + rng.random() * 10, 2),
            "system.memory": round(30 + 40 * busy, 2),
            "system.proc.memory.rssMB": round(2048 + 4096 * busy, 1),
            "system.disk./.usagePercent": round(41.5 + i * 0.01, 2),
            "system.network.sent": 1_000_000 * (i + 1) + rng.randrange(1000),
            "system.network.recv": 3_000_000 * (i + 1) + rng.randrange(1000),
        }
        for gpu in range(self.gpu_count):
            util = max(0.0, min(100.0, 100 * busy + rng.uniform(-8, 8) - 5 * gpu))
            event |= {
                f"system.gpu.{gpu}.gpu": round(util, 2),
                f"system.gpu.{gpu}.memory": round(util * 0.6, 2),
                f"system.gpu.{gpu}.memoryAllocated": round(40 + 50 * busy, 2),
                f"system.gpu.{gpu}.memoryAllocatedBytes": int((40 + 50 * busy) / 100 * 80 * 2**30),
                f"system.gpu.{gpu}.temp": round(45 + 30 * busy, 1),
                f"system.gpu.{gpu}.powerWatts": round(90 + 250 * busy, 2),
                f"system.gpu.{gpu}.powerPercent": round((90 + 250 * busy) / 4, 2),
            }
        return event


@dataclass
class HistorySegment:
    """Steps one process logged: `count` steps from `first`, `stride` apart, the first at `started` (epoch
    seconds). The curves are those of a run planned for `total` steps: a loss that falls (with the odd NaN or
    Infinity when it diverges), an evaluation every `every` steps (sparse keys, a media reference, a nested dict),
    a learning rate logged only from half-way (a key added mid-run) and a string. `seed` makes a resume that
    rewrites steps log other values than the steps it replaces."""

    first: int
    count: int
    seed: int
    started: float
    stride: int = 1
    total: int = 0

    @property
    def every(self) -> int:
        total = max(self.total, self.count)
        return 100 if total >= 1000 else max(2, total // 5)

    def row(self, step: int, index: int) -> dict:
        total = max(self.total, self.count, 1)
        rng = random.Random(self.seed * 1_000_003 + step)
        at = index * 3.5
        loss = 2.0 * math.exp(-4 * step / (total * self.stride)) + rng.random() * 0.05
        if (self.seed + step) % 211 == 17:
            loss = math.nan
        elif (self.seed + step) % 389 == 23:
            loss = math.inf
        row: dict = {
            "_step": step,
            "_runtime": round(at, 3),
            "_timestamp": round(self.started + at, 3),
            "train/loss": loss,
            "phase": "warmup" if step < self.first + total * self.stride // 10 else "train",
        }
        if step >= total * self.stride // 2:
            row["train/lr"] = 1e-3 * (1 - step / (2 * total * self.stride))
        if (step // self.stride) % self.every == 0:
            row |= {
                "eval/f1": min(0.99, 0.5 + step / (2 * total * self.stride) + rng.random() * 0.01),
                "val.acc": round(0.6 + 0.3 * step / (total * self.stride), 4),
                "eval": {"confusion": {"tp": rng.randrange(500), "fp": rng.randrange(50)}},
                "examples": {
                    "_type": "images/separated",
                    "count": 2,
                    "height": 64,
                    "width": 64,
                    "format": "png",
                    "filenames": [f"media/images/examples_{step}_{self.seed % 997:03d}.png"],
                },
            }
        return row


SYSTEM_INTERVAL_S = 15.0


def _spread(count: int, samples: int) -> list[int]:
    """`samples` indexes evenly spread over `count`, the first and the last always among them."""
    if samples <= 1:
        return [0]
    return sorted({round(i * (count - 1) / (samples - 1)) for i in range(samples)})


@dataclass
class Collection:
    number: int
    project: str
    name: str
    type: str
    description: str | None
    created_at: datetime
    updated_at: datetime
    tags: list[str] = field(default_factory=list)
    deleted: bool = False
    hidden: bool = False

    @property
    def id(self) -> str:
        return global_id("ArtifactCollection", self.number)


@dataclass
class ArtifactVersion:
    number: int
    collection: Collection
    version_index: int
    description: str | None
    metadata: dict
    size: int
    file_count: int
    created_at: datetime
    updated_at: datetime
    aliases: list[str]
    created_by: tuple[str, str] | None
    used_by: list[tuple[str, str]] = field(default_factory=list)
    state: str = "COMMITTED"
    tags: list[str] = field(default_factory=list)
    deleted: bool = False
    hidden: bool = False

    @property
    def id(self) -> str:
        return global_id("Artifact", self.number)

    @property
    def digest(self) -> str:
        return f"{self.number * 2654435761 % 2**64:016x}{self.version_index:016x}"

    @property
    def commit_hash(self) -> str:
        return f"{self.number:012x}"


@dataclass
class Sweep:
    """A hyperparameter sweep; its runs are the project's runs whose `sweep_name` is its `name`."""

    number: int
    project: str
    name: str
    display_name: str | None
    method: str
    state: str
    config: dict
    created_at: datetime
    updated_at: datetime
    heartbeat_at: datetime | None
    expected_runs: int | None
    description: str | None = None
    deleted: bool = False
    hidden: bool = False

    @property
    def id(self) -> str:
        return global_id("Sweep", self.number)

    @property
    def metric(self) -> dict:
        return self.config.get("metric") or {}


# The kinds of edit to a finished run whose effect on `updatedAt` the double can switch (`World.updated_moves_on`).
EDIT_KINDS = frozenset({"tags", "notes", "config", "summary"})


@dataclass
class World:
    """The whole of one entity as W&B holds it, plus the knobs the double reads (server features)."""

    entity: str
    viewer: User
    users: list[User]
    projects: list[Project] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    collections: list[Collection] = field(default_factory=list)
    artifacts: list[ArtifactVersion] = field(default_factory=list)
    sweeps: list[Sweep] = field(default_factory=list)
    features: dict[str, bool] = field(default_factory=dict)
    clock: datetime = EPOCH
    restricted_entities: set[str] = field(default_factory=lambda: {"rival-lab"})
    # What W&B's server does is unknown here, so the double does either: whether moving an alias bumps the
    # collection's `updatedAt` (and the versions' own), and whether a run's use of an artifact bumps the run's or
    # the version's `updatedAt`. The connector must be right under every combination.
    alias_move_bumps_collection: bool = True
    alias_move_bumps_versions: bool = True
    use_bumps_run: bool = True
    use_bumps_version: bool = False
    # Whether `run.summary.update()` on a run that ended moves its heartbeat (W&B moves its `updatedAt`; whether
    # the heartbeat moves too is unknown).
    summary_update_bumps_heartbeat: bool = False
    # What the server does with a run filter on `updatedAt` (unknown for W&B): "honoured", "ignored" (the clause
    # matches every run) or "refused" (a GraphQL error); and the kinds of edit to a run that move its `updatedAt`
    # (W&B's web app suggests all do; not confirmed): any of `EDIT_KINDS`. Any other change always moves it.
    updated_filter: str = "honoured"
    updated_moves_on: frozenset[str] = frozenset({"tags", "notes", "config", "summary"})
    _next_number: int = 1000
    _run_index: dict[tuple[str, str], Run] = field(default_factory=dict, repr=False, compare=False)

    def next_number(self) -> int:
        self._next_number += 1
        return self._next_number

    def tick(self) -> datetime:
        """The time of a mutation: now, to the second like W&B's timestamps, and never before the last one."""
        self.clock = max(self.clock, datetime.now(UTC).replace(microsecond=0))
        return self.clock

    def project(self, name: str) -> Project | None:
        return next((p for p in self.projects if p.name == name and not p.deleted), None)

    def live_projects(self) -> list[Project]:
        return [p for p in self.projects if not p.deleted]

    def live_runs(self, project: str) -> list[Run]:
        return [r for r in self.runs if r.project == project and not r.deleted]

    def run(self, project: str, name: str) -> Run | None:
        """A run W&B still has: neither it nor its project deleted."""
        if self.project(project) is None:
            return None
        found = self._run_index.get((project, name))
        if found is None or found.deleted or (found.project, found.name) != (project, name):
            # Tests add, move, delete and restore runs in place: a miss rebuilds the index, so a lookup stays one
            # step (history and system metrics ask for every run by name; a scan made 100,000 runs quadratic).
            self._run_index = {}
            for run in reversed(self.runs):
                if not run.deleted:
                    self._run_index[(run.project, run.name)] = run
            found = self._run_index.get((project, name))
        return found

    def live_collections(self, project: str) -> list[Collection]:
        return [c for c in self.collections if c.project == project and not c.deleted]

    def live_artifacts(self, collection: Collection) -> list[ArtifactVersion]:
        return [a for a in self.artifacts if a.collection is collection and not a.deleted]

    def live_sweeps(self, project: str) -> list[Sweep]:
        return [w for w in self.sweeps if w.project == project and not w.deleted]

    def sweep_runs(self, sweep: Sweep) -> list[Run]:
        return [r for r in self.live_runs(sweep.project) if r.sweep_name == sweep.name]

    def best_run(self, sweep: Sweep) -> Run | None:
        """The sweep's run with the best finite value of its metric (highest when maximised, else lowest)."""
        name, goal = sweep.metric.get("name"), sweep.metric.get("goal", "minimize")
        scored = [r for r in self.sweep_runs(sweep) if _finite((r.summary or {}).get(name))]
        if not scored:
            return None
        if goal == "maximize":  # ties go to the oldest run, both ways
            return max(scored, key=lambda r: (r.summary[name], -r.number))
        return min(scored, key=lambda r: (r.summary[name], r.number))

    def add_sweep(self, project: str, **overrides: object) -> Sweep:
        now = self.tick()
        sweep = _make_sweep(random.Random(self.next_number()), project, now, self.next_number())
        for key, value in overrides.items():
            setattr(sweep, key, value)
        self.sweeps.append(sweep)
        return sweep

    def edit_sweep(self, sweep: Sweep, **changes: object) -> Sweep:
        for key, value in changes.items():
            setattr(sweep, key, value)
        sweep.updated_at = self.tick()
        return sweep

    def delete_sweep(self, sweep: Sweep) -> None:
        sweep.deleted = True
        self.tick()

    def artifact(self, artifact_id: str) -> ArtifactVersion | None:
        return next((a for a in self.artifacts if a.id == artifact_id and not a.deleted), None)

    # Mutations the incremental tests make between (or during) syncs.

    def add_run(self, project: str, rng: random.Random | None = None, **overrides: object) -> Run:
        run = _make_run(self, rng or random.Random(self.next_number()), project, self.tick(), self.next_number())
        for key, value in overrides.items():
            setattr(run, key, value)
        self.runs.append(run)
        return run

    def edit_run(self, run: Run, **changes: object) -> Run:
        for key, value in changes.items():
            setattr(run, key, value)
        still = EDIT_KINDS - self.updated_moves_on
        if not changes or any(key not in still for key in changes):
            run.updated_at = self.tick()
        else:
            self.tick()
        return run

    def update_summary(self, run: Run, changes: dict, removed: tuple[str, ...] = ()) -> Run:
        """What `run.summary.update()` does after the fact: the client rewrites the summary it holds."""
        summary = {k: v for k, v in (run.summary or {}).items() if k not in removed} | changes
        if self.summary_update_bumps_heartbeat:
            run.heartbeat_at = self.tick()
        return self.edit_run(run, summary=summary)

    def finish_run(self, run: Run, state: str = "finished") -> Run:
        now = self.tick()
        run.heartbeat_at = now
        return self.edit_run(run, state=state)

    def log_history(self, run: Run, steps: int) -> Run:
        """A running run logs `steps` more steps (and its system stream goes on): its heartbeat moves."""
        now = self.tick()
        run.log_steps(steps, now)
        run.system_samples += max(1, steps // 2)
        run.heartbeat_at = now
        return self.edit_run(run)

    def resume_run(self, run: Run, from_step: int, steps: int) -> Run:
        """`wandb.init(resume=...)` rewinding to `from_step`: the run is running again and logs `steps` steps from
        there, other values than the ones they replace; the steps after them are gone."""
        now = self.tick()
        first = run.segments[0] if run.segments else None
        total = first.total if first else steps
        stride = first.stride if first else 1
        seed = run.seed + 7717 * (len(run.segments) + 1)
        run.segments.append(HistorySegment(from_step, steps, seed, now.timestamp(), stride=stride, total=total))
        run.heartbeat_at = now
        return self.edit_run(run, state="running")

    def export_history(self, run: Run, through: int | None = -2) -> None:
        """W&B's parquet export catches up with the run (`through` its last step, by default) or lags it."""
        run.exported_through = run.last_step if through == -2 else through

    def delete_run(self, run: Run) -> None:
        run.deleted = True
        self.tick()

    def restore_run(self, run: Run) -> None:
        run.deleted = False
        run.updated_at = self.tick()

    def move_run(self, run: Run, project: str) -> None:
        self._repoint(lambda ref: (project, ref[1]) if ref == (run.project, run.name) else ref)
        run.project = project
        run.updated_at = self.tick()

    def _repoint(self, new: Callable[[tuple[str, str]], tuple[str, str]]) -> None:
        """Lineage follows a run that moved: the versions' references to it name where it lives now."""
        for version in self.artifacts:
            version.used_by = [new(ref) for ref in version.used_by]
            version.created_by = new(version.created_by) if version.created_by else None

    def add_artifact_version(self, collection: Collection, created_by: tuple[str, str] | None) -> ArtifactVersion:
        return add_version(self, collection, created_by, self.tick())

    def delete_artifact(self, artifact: ArtifactVersion) -> None:
        artifact.deleted = True
        artifact.collection.updated_at = self.tick()

    def move_alias(self, alias: str, to: ArtifactVersion) -> None:
        now = self.tick()
        moved = [to]
        for version in self.live_artifacts(to.collection):
            if alias in version.aliases:
                version.aliases.remove(alias)
                moved.append(version)
        to.aliases.append(alias)
        for version in moved if self.alias_move_bumps_versions else ():
            version.updated_at = now
        if self.alias_move_bumps_collection:
            to.collection.updated_at = now

    def use_artifact(self, run: Run, version: ArtifactVersion) -> None:
        """`run.use_artifact(version)`: an input edge, from a run of any project of the entity."""
        now = self.tick()
        if (run.project, run.name) not in version.used_by:
            version.used_by.append((run.project, run.name))
        if self.use_bumps_run:
            run.updated_at = now
        if self.use_bumps_version:
            version.updated_at = now

    def hide(self, *items: Project | Run | Collection | ArtifactVersion, hidden: bool = True) -> None:
        """The key loses (or, with `hidden=False`, regains) sight of these: they still exist in W&B and still take
        their place in offset pages, but no listing shows them and no lookup finds them."""
        for item in items:
            item.hidden = hidden

    def add_project(self, name: str) -> Project:
        now = self.tick()
        project = Project(self.next_number(), name, self.entity, now, now, None, self.viewer)
        self.projects.append(project)
        return project

    def delete_project(self, project: Project) -> None:
        project.deleted = True
        self.tick()

    def rename_project(self, project: Project, name: str) -> None:
        """W&B keeps the project (and its runs and artifacts) under a new name."""
        old, project.name = project.name, name
        project.updated_at = self.tick()
        self._repoint(lambda ref: (name, ref[1]) if ref[0] == old else ref)
        for item in (*self.runs, *self.collections):
            if item.project == old:
                item.project = name


def build_world(
    seed: int = 7,
    entity: str = "acme-ml",
    projects: int = 4,
    runs_per_project: int = 50,
    artifact_versions: int = 40,
    history_steps: int = 20,
) -> World:
    """Build a deterministic world; `artifact_versions` is spread over a dataset→model lineage chain per project."""
    rng = random.Random(seed)
    users = [
        User("alice", "Alice Moreau", "alice@example.com", 1, admin=True),
        User("bob", "Bob Okafor", "bob@example.com", 2),
        User("carol", "Carol Ng", "carol@example.com", 3),
        User("flyte-bot", "Flyte Service Account", "flyte-bot@example.com", 4),
    ]
    world = World(entity=entity, viewer=users[0], users=users, features=dict.fromkeys(SERVER_FEATURES, True))
    for index in range(projects):
        _add_project(world, rng, index, runs_per_project, history_steps)
    by_project: dict[str, list[Run]] = {}
    for run in world.runs:
        by_project.setdefault(run.project, []).append(run)
    project_names = [p.name for p in world.projects]
    for index in range(artifact_versions if project_names else 0):
        project = project_names[index % len(project_names)]
        _add_lineage_version(world, rng, project, by_project.get(project, []))
    _add_consumers(world, random.Random(seed * 104729 + 3), by_project)
    _add_sweeps(world, random.Random(seed * 7919 + 1), by_project)
    for run in world.runs:  # W&B exports a run's history once it ends; a run still going is all live data
        if run.state not in OPEN_STATES and run.segments:
            world.export_history(run)
    world.clock = max([world.clock, *(r.updated_at for r in world.runs), *(a.updated_at for a in world.artifacts)])
    return world


SERVER_FEATURES = (
    "ARTIFACT_DIGEST_ALGORITHM",
    "ARTIFACT_COLLECTIONS_FILTERING_SORTING",
    "TOTAL_COUNT_IN_FILE_CONNECTION",
    "SWEEPS_QUERY_FILTERING",
)

DATASETS = {
    "demo": {"projects": 4, "runs_per_project": 50, "artifact_versions": 40, "history_steps": 60},
    "small": {"projects": 5, "runs_per_project": 200, "artifact_versions": 100, "history_steps": 10},
    "medium": {"projects": 20, "runs_per_project": 500, "artifact_versions": 1000, "history_steps": 10},
    "large": {"projects": 50, "runs_per_project": 1000, "artifact_versions": 2000, "history_steps": 10},
    "tiny": {"projects": 2, "runs_per_project": 6, "artifact_versions": 8, "history_steps": 5},
}


def named_world(name: str, seed: int = 7) -> World:
    return build_world(seed=seed, **DATASETS[name])


def _project_name(index: int) -> str:
    base = PROJECT_NAMES[index % len(PROJECT_NAMES)]
    return base if index < len(PROJECT_NAMES) else f"{base}-{index // len(PROJECT_NAMES) + 1}"


def _add_project(world: World, rng: random.Random, index: int, runs: int, history_steps: int) -> None:
    created = EPOCH + timedelta(days=index, minutes=rng.randrange(600))
    description = None if index % 3 == 2 else f"Experiments for {_project_name(index).replace('-', ' ')}"
    owner = world.users[index % len(world.users)] if index % 5 != 4 else None
    project = Project(world.next_number(), _project_name(index), world.entity, created, created, description, owner)
    world.projects.append(project)
    start = created + timedelta(hours=1)
    for number in range(runs):
        run_rng = random.Random(rng.random())
        created_at = start + timedelta(minutes=number * 17 + rng.randrange(10), seconds=rng.randrange(60))
        run = _make_run(world, run_rng, project.name, created_at, world.next_number(), history_steps)
        world.runs.append(run)


def _make_run(
    world: World, rng: random.Random, project: str, created_at: datetime, number: int, history_steps: int = 10
) -> Run:
    state = rng.choices(list(STATE_WEIGHTS), weights=list(STATE_WEIGHTS.values()))[0]
    job_type = rng.choice(JOB_TYPES)
    flyte = rng.random() < 0.15
    name = f"f{number:06x}a{rng.randrange(16**8):08x}-n{rng.randrange(4)}-{rng.randrange(3)}" if flyte else _run_id(rng)
    runtime = float(rng.randrange(30, 36000))
    heartbeat = created_at + timedelta(seconds=runtime)
    lr = rng.choice([1e-5, 3e-5, 1e-4, 3e-4, 1e-3])
    config = {
        "params": {
            "learning_rate": lr,
            "batch_size": rng.choice([16, 32, 64, 128]),
            "max_length": 256,
            "splits": {"train": 0.8, "val": 0.1, "test": 0.1},
            "seed": rng.randrange(1000),
            "hf_config_name": None,
        },
        "meta": {"task": "binary phishing detection", "labels": ["ham", "phishing"], "license": "MIT"},
    }
    steps = 0 if state == "pending" else history_steps
    summary = _summary(rng, steps, runtime, created_at)
    if state == "pending":  # queued, never started: no runtime, so no GPU hours (and no system samples)
        summary = {k: v for k, v in summary.items() if k not in ("_runtime", "_timestamp")}
    run = Run(
        number=number,
        project=project,
        name=name,
        display_name=f"exp-{number % 1000:03d}-{job_type}-{created_at:%Y-%m-%dT%H-%M-%SZ}",
        state=state,
        created_at=created_at,
        heartbeat_at=heartbeat,
        updated_at=heartbeat,
        user=None if rng.random() < 0.05 else rng.choice(world.users),
        config=config,
        summary=summary,
        system_metrics={"system.gpu.0.gpu": round(rng.uniform(0, 100), 2), "system.cpu": round(rng.uniform(0, 100), 2)},
        tags=_tags(rng),
        group=f"exp-{number % 7:03d}" if rng.random() < 0.6 else None,
        job_type=job_type,
        notes=_notes(rng, name, flyte),
        commit=f"{rng.randrange(16**40):040x}" if rng.random() < 0.7 else None,
        host=f"gpu-node-{rng.randrange(8)}",
        sweep_name=f"sw{rng.randrange(36**8):08x}"[:10] if rng.random() < 0.2 else None,
        seed=rng.randrange(2**31),
    )
    if steps:
        run.segments.append(HistorySegment(0, steps, run.seed, created_at.timestamp(), total=steps))
        run.system_samples = max(1, steps // 2)
        run.system_interval = max(SYSTEM_INTERVAL_S, runtime / run.system_samples)
    run.gpu_count = rng.choice((0, 1, 1, 2, 4, 8))
    _add_environment(run, rng, lr)
    return run


GPU_TYPES = ("NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3", "Tesla T4", "NVIDIA L4")
PROGRAMS = {"train": "train.py", "fine-tune": "finetune.py", "eval": "evaluate.py"}


def _add_environment(run: Run, rng: random.Random, lr: float) -> None:
    """What a real run carries beyond the basics: its hardware (`runInfo`, and system metrics per GPU), and the
    config and summary shapes teams use (`params`/`meta` nesting, dotted, slashed, spaced and unicode keys, a key
    both dotted and nested, huge values, NaN, media objects). Drawn after everything else, so the rest of a seeded
    run does not change with it."""
    if rng.random() >= 0.05:
        program = PROGRAMS.get(run.job_type or "", f"pipelines/{run.job_type}.py")
        run.run_info = {
            "program": program,
            "args": ["--lr", str(lr), "--run-name", run.display_name],
            "os": rng.choice(("Linux-5.15.0-1045-aws-x86_64-with-glibc2.31", "macOS-14.4-arm64-arm-64bit")),
            "python": rng.choice(("3.11.7", "3.10.13", "CPython 3.12.2")),
            "colab": None,
            "executable": "/opt/conda/bin/python",
            "codeSaved": rng.random() < 0.5,
            "cpuCount": rng.choice((4, 8, 16, 32, 96)),
            "gpu": rng.choice(GPU_TYPES),
            "codePath": program,
            "git": {"remote": "https://github.com/acme-ml/phishing-detector.git", "commit": run.commit}
            if run.commit
            else None,
        }
    config = run.config
    config["params"]["use_amp"] = rng.random() < 0.5
    config["meta"]["note"] = rng.choice(("NaN", "ok", "données ✓"))
    config["data/train_path"] = "s3://acme-ml/phishing/train.parquet"
    config["warmup steps"] = rng.choice((0, 100, 500))
    config["学习率"] = lr
    roll = rng.random()
    if roll < 0.2:
        config["optimizer.lr"] = lr
        config["optimizer"] = {"lr": lr * 10, "betas": [0.9, 0.999], "eps": 1e-8}
    elif roll < 0.25:
        config["params"]["dropout"] = math.nan
    elif roll < 0.28:
        config["prompt_template"] = "Classify this email — 📧 phishing or ham?\n" * 600
    elif roll < 0.3:
        config["C:\\data"] = {"cache.dir": "C:\\cache", "max": math.inf}
    summary = run.summary
    if summary:
        summary["eval/accuracy"] = round(rng.uniform(0.6, 0.99), 6)
        summary["métrique/f1 macro"] = round(rng.uniform(0.5, 0.99), 6)
        if rng.random() < 0.3:
            summary["eval/score_hist"] = {"_type": "histogram", "values": [3, 9, 27], "bins": [0.0, 0.5, 0.9, 1.0]}
        if rng.random() < 0.1:
            summary["eval/flags"] = {"converged": rng.random() < 0.5, "notes": None, "epochs": []}


def _run_id(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))


def _tags(rng: random.Random) -> list[str] | None:
    roll = rng.random()
    if roll < 0.05:
        return None
    if roll < 0.25:
        return []
    return sorted(rng.sample(TAGS, rng.randrange(1, 4)))


def _notes(rng: random.Random, name: str, flyte: bool) -> str | None:
    if flyte:
        return f"Flyte execution: https://flyte.example.com/console/projects/ml/domains/production/executions/{name}"
    return rng.choice([None, "", "baseline rerun after tokenizer fix", "交叉验证 fold 3 — très bien"])


def _summary(rng: random.Random, steps: int, runtime: float, created_at: datetime) -> dict:
    if rng.random() < 0.05:
        return {}
    loss = rng.choice([round(rng.uniform(0.01, 1.0), 6), math.nan, math.inf]) if rng.random() < 0.1 else None
    summary = {
        "_step": max(steps - 1, 0),
        "_runtime": runtime,
        "_timestamp": created_at.timestamp() + runtime,
        "train/loss": loss if loss is not None else round(rng.uniform(0.01, 1.0), 6),
        "eval/f1": round(rng.uniform(0.5, 0.99), 6),
        "eval": {"confusion": {"tp": rng.randrange(500), "fp": rng.randrange(50), "fn": rng.randrange(50)}},
        "best/val_loss": -math.inf if rng.random() < 0.02 else round(rng.uniform(0.01, 1.0), 6),
    }
    return summary


def _add_lineage_version(world: World, rng: random.Random, project: str, project_runs: list[Run]) -> None:
    stage = rng.randrange(len(LINEAGE))
    name, kind, job_type = LINEAGE[stage]
    collection = next((c for c in world.live_collections(project) if c.name == name), None)
    if collection is None:
        created = world.project(project).created_at + timedelta(hours=2, minutes=stage)
        collection = Collection(world.next_number(), project, name, kind, f"{kind} stage {stage}", created, created)
        world.collections.append(collection)
    runs = [r for r in project_runs if r.job_type == job_type] or project_runs
    producer = rng.choice(runs) if runs else None
    created_at = (producer.created_at if producer else collection.created_at) + timedelta(minutes=rng.randrange(1, 90))
    version = add_version(world, collection, (project, producer.name) if producer else None, created_at)
    if stage > 0:
        upstream = [
            a for a in world.artifacts if a.collection.name == LINEAGE[stage - 1][0] and a.collection.project == project
        ]
        if upstream and producer:
            rng.choice(upstream).used_by.append((project, producer.name))
    if rng.random() < 0.3 and runs:
        version.used_by.append((project, rng.choice(runs).name))


def _add_consumers(world: World, rng: random.Random, by_project: dict[str, list[Run]]) -> None:
    """The branches of the chain: each encoded dataset version trains several runs, each model is evaluated by
    runs of its own (an eval run evaluates one model), and one project's runs use another project's datasets."""
    names = list(by_project)
    for project, runs in by_project.items():
        trainers = [r for r in runs if r.job_type in ("train", "fine-tune")]
        evaluators = [r for r in runs if r.job_type == "eval"]
        rng.shuffle(evaluators)
        for version in (a for a in world.artifacts if a.collection.project == project):
            if version.collection.name == LINEAGE[2][0] and trainers:
                for run in rng.sample(trainers, min(len(trainers), 2)):
                    if (project, run.name) not in version.used_by:
                        version.used_by.append((project, run.name))
            elif version.collection.type == "model":
                for _ in range(min(len(evaluators), rng.randrange(1, 4))):
                    version.used_by.append((project, evaluators.pop().name))
    for here, there in itertools.pairwise(names):
        raw = [a for a in world.artifacts if a.collection.project == here and a.collection.name == LINEAGE[0][0]]
        users = [r for r in by_project[there] if r.job_type in ("ingest", "clean")] or by_project[there]
        if raw and users:
            raw[-1].used_by.append((there, rng.choice(users).name))


def add_version(
    world: World, collection: Collection, created_by: tuple[str, str] | None, created_at: datetime
) -> ArtifactVersion:
    siblings = [a for a in world.artifacts if a.collection is collection]
    if siblings:
        created_at = max(created_at, siblings[-1].created_at + timedelta(minutes=1))
    for sibling in siblings:
        if "latest" in sibling.aliases:
            sibling.aliases.remove("latest")
            sibling.updated_at = max(sibling.updated_at, created_at)
    index = len(siblings)
    aliases = ["latest"] + (["production"] if collection.type == "model" and index == 1 else [])
    version = ArtifactVersion(
        number=world.next_number(),
        collection=collection,
        version_index=index,
        description=None if index % 2 else f"{collection.name} build {index}",
        metadata={"rows": 1000 * (index + 1), "source": "hf://David-Egea/phishing-texts", "f1": 0.9 + index / 1000},
        size=4096 * (index + 1) + collection.number,
        file_count=1 + index % 3,
        created_at=created_at,
        updated_at=created_at,
        aliases=aliases,
        created_by=created_by,
    )
    collection.updated_at = max(collection.updated_at, created_at)
    world.artifacts.append(version)
    return version


SWEEP_METRICS = ({"name": "eval/f1", "goal": "maximize"}, {"name": "train/loss", "goal": "minimize"})


def _make_sweep(rng: random.Random, project: str, created_at: datetime, number: int) -> Sweep:
    method = rng.choice(["bayes", "random", "grid"])
    state = rng.choice(["FINISHED", "FINISHED", "RUNNING", "CANCELED"])
    config = {
        "method": method,
        "metric": dict(rng.choice(SWEEP_METRICS)),
        "parameters": {
            "learning_rate": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-3},
            "batch_size": {"values": [16, 32, 64]},
            "params.dropout": {"value": 0.1},
        },
        "program": "train.py",
    }
    heartbeat = created_at + timedelta(minutes=rng.randrange(5, 600))
    return Sweep(
        number=number,
        project=project,
        name="".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8)),
        display_name=f"sweep-{number % 1000:03d}-{method}" if rng.random() < 0.8 else None,
        method=method,
        state=state,
        config=config,
        created_at=created_at,
        updated_at=heartbeat,
        heartbeat_at=heartbeat if state == "RUNNING" or rng.random() < 0.5 else None,
        expected_runs=rng.choice([None, 20, 50]) if method != "grid" else 12,
    )


def _add_sweeps(world: World, rng: random.Random, by_project: dict[str, list[Run]]) -> None:
    """Two sweeps a project, holding the runs the generator put in a sweep."""
    for project in world.projects:
        runs = by_project.get(project.name, [])
        sweeps = []
        for _ in range(2 if runs else 0):
            created = min(r.created_at for r in runs) - timedelta(minutes=rng.randrange(1, 120))
            sweeps.append(_make_sweep(rng, project.name, created, world.next_number()))
        world.sweeps.extend(sweeps)
        swept = [r for r in runs if r.sweep_name]
        for index, run in enumerate(swept):
            run.sweep_name = sweeps[index % len(sweeps)].name if sweeps else None


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
