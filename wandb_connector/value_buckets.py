"""The walk `run_config` and `run_summary` share: one row per run and flattened key of a run's document (its config,
its summary), a child walk of the runs, so it costs no request (the run listing already brings both documents).

A run the run walk reads again (open, recently active, or every run in a reconcile) is flattened and compared with
what was synced of it. Fivetran bills every row written in a month, so a re-read run writes only what changed,
which needs a record of each run without a record of every value: the walk keeps, per run, its keys (as index
ranges into one list of the project's keys, which runs of a project mostly share) and a short digest per bucket of
its keys (a key's bucket is a hash of the key; a run has about one bucket per `LEAVES_PER_BUCKET` keys, at most
`MAX_BUCKETS`). A changed value rewrites only its bucket's rows, a removed key (`run.summary.update` rewrites a
summary) is deleted by name, and an unchanged run writes nothing. That is a few dozen bytes of state per run, and
at most `MAX_BUCKETS` digests for a run of 10,000 keys.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from .convert import MalformedValue, NonFinite, finite_json, flatten
from .paging import RunPage
from .shapes import dig, expect_shape
from .state import WalkState, pack, unpack
from .walker import Deletes, Follow, Guess, Walker, Where

if TYPE_CHECKING:
    from .survey import Survey

LEAVES_PER_BUCKET = 32


MAX_BUCKETS = 256


DIGEST = 8  # hex digits per bucket


# A worker hands over this many leaves at a time, so a page of huge configs never sits in memory whole; a run's
# rows are offered for a checkpoint every `ROWS_PER_OFFER`, so a config of 80,000 keys is not buffered whole.
LEAVES_PER_ITEM = 20_000


ROWS_PER_OFFER = 10_000


VALUE_COLUMNS = {
    "project_id": "STRING",
    "run_id": "STRING",
    "key": "STRING",
    "path": "JSON",
    "value_type": "STRING",
    "number_value": "DOUBLE",
    "string_value": "STRING",
    "boolean_value": "BOOLEAN",
    "value_json": "JSON",
    "synced_at": "UTC_DATETIME",
}


def value_row(node: dict, where: Where) -> dict[str, Any]:
    """One flattened config or summary key of run `node["run"]`: the value typed for SQL (a number, a text, a
    boolean) beside its raw JSON; `value_type` says which, and a number that is NaN or ±Infinity (no DOUBLE column
    carries those) is a `number` whose text says which."""
    value = node["value"]
    kind, text, flag, amount = "string", None, None, None
    if value is None:
        kind = "null"
    elif isinstance(value, bool):
        kind, flag = "boolean", value
    elif isinstance(value, int | float):
        kind, amount = "number", float(value)
    elif isinstance(value, NonFinite):
        kind, text = "number", str(value)
    elif isinstance(value, str):
        text = value
    elif isinstance(value, list):
        kind = "list"
    elif isinstance(value, dict):
        kind = "object"
    else:
        raise MalformedValue(f"run {where.project_id}/{node['run']} {node['key']} is not a JSON value")
    return {
        "project_id": where.project_id,
        "run_id": node["run"],
        "key": node["key"],
        "path": node["path"],
        "value_type": kind,
        "number_value": amount,
        "string_value": text,
        "boolean_value": flag,
        "value_json": finite_json(value),
    }


@dataclass
class ValuesState(WalkState):
    """`keys`: every flattened key of the project's synced runs, packed (`pack`: keys share long prefixes, so a
    config of 80,000 keys packs to under 300 KB); `runs`: per run synced, its bucket digests (one string) followed
    by its keys as [start, count] ranges of indices into `keys`."""

    keys: str = ""
    runs: dict[str, list] = field(default_factory=dict)


@dataclass
class Leaves:
    """One run's flattened document: its leaves (key, path, value), each leaf's bucket, and the buckets' digests."""

    run: str
    leaves: list[tuple[str, list[str], Any]]
    buckets: list[int]
    digests: str


def bucket_count(leaves: int) -> int:
    """A power of two, so a run that gains or loses a few keys keeps its buckets (and its unchanged rows)."""
    count = 1
    while count * LEAVES_PER_BUCKET < leaves and count < MAX_BUCKETS:
        count *= 2
    return count


def digest(run: str, leaves: list[tuple[str, list[str], Any]], count: int | None = None) -> Leaves:
    """The leaves with their buckets and each bucket's digest, independent of the order W&B sends keys in."""
    count = count or bucket_count(len(leaves))
    buckets = [zlib.crc32(key.encode()) & (count - 1) for key, _, _ in leaves]
    parts: list[list[bytes]] = [[] for _ in range(count)]
    for (key, _, value), bucket in zip(leaves, buckets, strict=True):
        kind = b"\1" if isinstance(value, NonFinite) else b"\0"
        parts[bucket].append(key.encode() + kind + json.dumps(value, sort_keys=True).encode())
    digests = "".join(hashlib.blake2b(b"\0".join(sorted(p)), digest_size=DIGEST // 2).hexdigest() for p in parts)
    return Leaves(run, leaves, buckets, digests)


def _finer(count: int, leaves: int) -> bool:
    """A run keeps the buckets it was synced with while they are at least as many as it needs (a state from when
    buckets held fewer keys), so a change of `LEAVES_PER_BUCKET` rewrites no row."""
    return count > 0 and (count & (count - 1)) == 0 and bucket_count(leaves) <= count <= MAX_BUCKETS


def ranges(indices: list[int]) -> list[int]:
    out: list[int] = []
    for index in sorted(indices):
        if out and out[-2] + out[-1] == index:
            out[-1] += 1
        else:
            out += [index, 1]
    return out


def indices(entry: list) -> Iterator[int]:
    for i in range(1, len(entry), 2):
        yield from range(entry[i], entry[i] + entry[i + 1])


class ValuesWalker(Walker[ValuesState]):
    """The walk both tables share; each names its table and how it reads its document from a run."""

    parent: ClassVar[str] = "run_fields"
    swept: ClassVar[bool] = False
    state_type: ClassVar[type[WalkState]] = ValuesState
    field_name: ClassVar[str]

    @classmethod
    def document(cls, raw: Any, what: str) -> dict:
        raise NotImplementedError

    @classmethod
    def estimate(cls, survey: Survey) -> Guess:
        """The mean number of keys (flattened as the table flattens them) of runs spread over the listing, times the
        runs; a month holds the keys of the runs active in it. One request per project for both value tables."""
        sample = survey.sample(SAMPLED_RUNS)
        documents = survey.memo("documents", lambda: sampled_documents(survey, [run.name for run in sample]))
        what = f"a sample of the runs of {survey.where.project_id}"
        with expect_shape(what):
            counts = [sum(1 for _ in flatten(cls.document(node.get(cls.field_name), what))) for node in documents]
        return survey.per_run(sum(counts) / len(counts) if counts else 0.0, len(sample) < len(survey.runs))

    def start(self, now: datetime, full: bool) -> Follow:
        self.walk = self.state.begin(now, full)
        self.keys = unpack(self.state.keys)
        self.index = {key: i for i, key in enumerate(self.keys)}
        return self.follow

    def follow(self, page: RunPage) -> Iterator[list[Leaves]]:
        """Worker: each run of the page flattened and digested, handed over `LEAVES_PER_ITEM` leaves at a time."""
        item: list[Leaves] = []
        size = 0
        for node in page.nodes:
            what = f"run {self.where.project_id}/{node['name']} {self.field_name}"
            with expect_shape(what):
                item.append(digest(node["name"], list(flatten(self.document(node.get(self.field_name), what)))))
            size += len(item[-1].leaves)
            if size >= LEAVES_PER_ITEM:
                yield item
                item, size = [], 0
        if item:
            yield item

    def apply(self, item: list[Leaves]) -> None:
        (table,), known = self.tables, len(self.keys)
        for run in item:
            entry = self.state.runs.get(run.run)
            before = {self.keys[i] for i in indices(entry)} if entry else set()
            old = entry[0] if entry else ""
            if old and len(old) != len(run.digests) and _finer(len(old) // DIGEST, len(run.leaves)):
                run = digest(run.run, run.leaves, len(old) // DIGEST)
            same = len(old) == len(run.digests)
            changed = {
                b
                for b in range(len(run.digests) // DIGEST)
                if not same or old[b * DIGEST : (b + 1) * DIGEST] != run.digests[b * DIGEST : (b + 1) * DIGEST]
            }
            after = []
            for (key, path, value), bucket in zip(run.leaves, run.buckets, strict=True):
                after.append(key)
                if bucket in changed:
                    node = {"run": run.run, "key": key, "path": path, "value": value}
                    self.emit(table, node, self.where, False)
                    self.emitted += 1
                    if self.emitted % ROWS_PER_OFFER == 0:
                        # the run's count and ledger move after its last row, so a crash re-writes it, counted once
                        self.checkpoint()
            gone = before - set(after)
            for key in sorted(gone):
                self.delete(table, {"project_id": self.where.project_id, "run_id": run.run, "key": key})
            self.tally(table, len(set(after) - before) - len(gone))
            if after:
                self.state.runs[run.run] = [run.digests, *ranges([self._index(key) for key in after])]
            else:
                self.state.runs.pop(run.run, None)
            if len(self.keys) > known:  # before any checkpoint, so no ledger names a key the state lacks
                self.state.keys, known = pack(self.keys), len(self.keys)
        self.checkpoint()

    def _index(self, key: str) -> int:
        found = self.index.get(key)
        if found is None:
            found = self.index[key] = len(self.keys)
            self.keys.append(key)
        return found

    def finish(self) -> None:
        """After a full walk, the keys no synced run holds any more leave the list (the ranges are renumbered)."""
        if self.walk.full:
            used = sorted({i for entry in self.state.runs.values() for i in indices(entry)})
            if len(used) < len(self.keys):
                renumber = {old: new for new, old in enumerate(used)}
                self.keys = [self.keys[i] for i in used]
                self.state.keys = pack(self.keys)
                self.state.runs = {
                    name: [entry[0], *ranges([renumber[i] for i in indices(entry)])]
                    for name, entry in self.state.runs.items()
                }
        super().finish()

    @classmethod
    def prune(cls, where: Where, state: ValuesState, live: list[dict] | None, out: Deletes) -> None:
        (table,), alive, catalogue = cls.tables, {key["run_id"] for key in live or ()}, unpack(state.keys)
        for name in [n for n in state.runs if n not in alive]:
            keys = [catalogue[i] for i in indices(state.runs.pop(name))]
            for key in keys:
                out.delete(table, {"project_id": where.project_id, "run_id": name, "key": key})
            out.tally(table, -len(keys))


SAMPLED_RUNS = 50


def sampled_documents(survey: Survey, names: list[str]) -> list[dict]:
    """The documents of the value tables (every `ValuesWalker`'s field) of the runs named, in one request."""
    if not names:
        return []
    fields = " ".join(sorted({walker.field_name for walker in ValuesWalker.__subclasses__()}))
    document = f"""
query EstimateDocuments($project: String!, $entity: String!, $filters: JSONString, $perPage: Int) {{
  project(name: $project, entityName: $entity) {{
    runs(filters: $filters, first: $perPage) {{ edges {{ node {{ name {fields} }} }} }}
  }}
}}
"""
    where = survey.where
    what = f"a sample of the runs of {where.project_id}"
    variables = {
        "entity": where.entity,
        "project": where.project,
        "filters": json.dumps({"name": {"$in": names}}),
        "perPage": len(names),
    }
    edges = dig(survey.client.execute(document, variables, what), ("project", "runs"), what)
    with expect_shape(what):
        return [edge["node"] for edge in edges["edges"] if edge.get("node")]
