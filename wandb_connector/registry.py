"""The walks a sync runs, in order within their scope: the one list `sync.py`, `reconcile.py` and the tests read.

A new table brings its query (`queries.py`), its declaration (`tables.py`) and its walk (a module with a `Walker`),
and is added here.
"""

from __future__ import annotations

from .artifacts import ArtifactWalker
from .history import HistoryWalker, SystemMetricsWalker
from .lineage import LineageWalker
from .run_values import ConfigWalker, SummaryWalker
from .runs import RunWalker
from .sweeps import SweepWalker
from .users import UserWalker
from .walker import Walker

WALKERS: tuple[type[Walker], ...] = (
    UserWalker,
    RunWalker,
    ConfigWalker,
    SummaryWalker,
    HistoryWalker,
    SystemMetricsWalker,
    ArtifactWalker,
    LineageWalker,
    SweepWalker,
)
