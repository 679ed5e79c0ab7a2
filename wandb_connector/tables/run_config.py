"""`run_config`: one row per run and flattened config key (`params.learning_rate`), typed for SQL, so a question
about hyperparameters needs no JSON path. A child walk of the runs (the listing brings each run's config), sharing
its walk with `run_summary` (`value_buckets.py`): a re-read run writes only the keys whose bucket of values changed,
and deletes the keys it lost.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..convert import unwrap_config
from ..settings import Option, switch
from ..value_buckets import VALUE_COLUMNS, ValuesWalker, value_row
from ..walker import Cost, Table

SWITCH = Option(
    "run_config",
    "Sync run config as rows",
    "Whether run_config holds one row per run and config key, typed for SQL. Default true.",
    switch(True),
    placeholder="true",
    doc="`false` to leave `run_config` empty (default `true`)",
)
TABLE = Table("run_config", ("project_id", "run_id", "key"), dict(VALUE_COLUMNS), value_row)


class ConfigWalker(ValuesWalker):
    """Each run's config, W&B's `{"value", "desc"}` wrapping and `_wandb` internals left out."""

    name: ClassVar[str] = TABLE.name
    tables: ClassVar[tuple[Table, ...]] = (TABLE,)
    switch: ClassVar[Option] = SWITCH
    field_name: ClassVar[str] = "config"

    @classmethod
    def document(cls, raw: Any, what: str) -> dict:
        return unwrap_config(raw, what)


WALKER = ConfigWalker
estimate = ConfigWalker.estimate
OPTIONS = (SWITCH,)
COST = Cost(
    requests="0: the config rides in the run listing",
    rows="a new run's every key; for a run read again (open, recently active), only the keys whose bucket of "
    "values changed (a key's bucket holds up to 32 keys of the run, at most 256 buckets a run) and deletes "
    "of removed keys; nothing for an unchanged run",
    reconcile="re-reads every run and writes only what changed; deletes the keys of deleted runs",
)
