"""The sync state: small, typed and versioned, loaded and dumped only here.

Fivetran stores it as one JSON object and hands it back at the next sync; it never grows with the number of rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

from .convert import iso, parse_time

STATE_VERSION = 1


class StateError(ValueError):
    """The saved state cannot be read by this version of the connector."""


@dataclass
class TableProgress:
    """Rows this connector has put in the table, and the newest `created_at` among them."""

    count: int = 0
    max_created_at: str | None = None

    def saw(self, created_at: datetime | None) -> None:
        self.count += 1
        if created_at and (self.max_created_at is None or created_at > parse_time(self.max_created_at, "state")):
            self.max_created_at = iso(created_at)


@dataclass
class SyncState:
    version: int = STATE_VERSION
    tables: dict[str, TableProgress] = field(default_factory=dict)

    def table(self, name: str) -> TableProgress:
        return self.tables.setdefault(name, TableProgress())

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict | None) -> SyncState:
        if not raw:
            return cls()
        version = raw.get("version")
        if version != STATE_VERSION:
            raise StateError(
                f"saved state has version {version!r}, this connector reads version {STATE_VERSION}: "
                "re-sync the connection (Fivetran: Re-sync all historical data) to start from a fresh state"
            )
        try:
            tables = {name: TableProgress(**progress) for name, progress in raw.get("tables", {}).items()}
        except TypeError as error:
            raise StateError(f"saved state is not in the expected shape ({error}): re-sync the connection") from error
        return cls(version=version, tables=tables)
