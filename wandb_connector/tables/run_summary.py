"""`run_summary`: one row per run and flattened summary key (`eval/f1`), the final or latest value of each metric,
typed for SQL. A child walk of the runs (the listing brings each run's summary), sharing its walk with
`run_config` (`value_buckets.py`): a re-read run writes only the keys whose bucket of values changed, and deletes the
keys it lost.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..convert import summary_object
from ..settings import Option, switch
from ..value_buckets import VALUE_COLUMNS, ValuesWalker, value_row
from ..walker import Cost, Table

SWITCH = Option(
    "run_summary",
    "Sync run summaries as rows",
    "Whether run_summary holds one row per run and summary metric, typed for SQL. Default true.",
    switch(True),
    placeholder="true",
    doc="`false` to leave `run_summary` empty (default `true`)",
)
TABLE = Table("run_summary", ("project_id", "run_id", "key"), dict(VALUE_COLUMNS), value_row)


class SummaryWalker(ValuesWalker):
    """Each run's summary (its final or latest metrics), `_wandb` internals left out."""

    name: ClassVar[str] = TABLE.name
    tables: ClassVar[tuple[Table, ...]] = (TABLE,)
    switch: ClassVar[Option] = SWITCH
    field_name: ClassVar[str] = "summaryMetrics"

    @classmethod
    def document(cls, raw: Any, what: str) -> dict:
        return summary_object(raw, what)


WALKER = SummaryWalker
estimate = SummaryWalker.estimate
OPTIONS = (SWITCH,)
COST = Cost(
    requests="0: the summary rides in the run listing",
    rows="a new run's every key; for a run read again (open, recently active), only the keys whose bucket of "
    "values changed (a key's bucket holds up to 32 keys of the run, at most 256 buckets a run) and deletes "
    "of removed keys; nothing for an unchanged run",
    reconcile="re-reads every run and writes only what changed; deletes the keys of deleted runs",
)
