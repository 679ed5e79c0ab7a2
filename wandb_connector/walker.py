"""What every per-project walk shares: where it reads, the cursor it owns, and how it emits and commits.

A walk is set up in the main thread (`start`, which returns what a worker fetches), then fed the fetched pages in
order (`apply`) and closed (`finish`); only the main thread touches the state and calls the SDK. After each page the
state covers every row emitted, so the walk offers a checkpoint there and the sync decides whether to commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Generic, TypeVar

from .client import WandbClient
from .tables import Table, Where

# How far before the last walk began a timestamp still counts as "changed since": clock skew between W&B and
# here, and W&B's API showing a change minutes after it happened.
CHANGE_SKEW = timedelta(minutes=15)

Emit = Callable[[Table, dict, Where, bool], None]
Checkpoint = Callable[[], None]
CursorT = TypeVar("CursorT")


@dataclass
class Walker(Generic[CursorT]):
    client: WandbClient
    where: Where
    cursor: CursorT
    emit: Emit
    checkpoint: Checkpoint
    emitted: int = 0
