"""Users: the entity's team members, from one listing per sync, emitted only when a member's row changed.

The member listing has no timestamps and no paging, so the state keeps a short digest of each member's row (a team
is hundreds of members, not millions of rows) and a sync emits the members whose digest moved. The listing offers
each member's API key: the query never asks for it. Emails are personal data and are asked for only with
`include_emails`. The listing is whole, so a member it no longer holds has left the team and is marked deleted at
once; invitations not yet accepted (no username) are not users yet and are left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from . import queries
from .client import WandbClient, dig, expect_shape
from .state import WalkState
from .tables import USERS, Table, Where
from .walker import Fetch, LiveKey, Walker


@dataclass
class UsersState(WalkState):
    digests: dict[str, str] = field(default_factory=dict)


class UserWalker(Walker[UsersState]):
    name: ClassVar[str] = "users"
    scope: ClassVar[str] = "entity"
    tables: ClassVar[tuple[Table, ...]] = (USERS,)
    state_type: ClassVar[type[WalkState]] = UsersState

    def start(self, now: datetime, full: bool) -> Fetch:
        self.walk = self.state.begin(now, full)
        emails = self.client.settings.include_emails

        def fetch(first: dict | None) -> Iterator[list[dict]]:
            yield members(self.client, self.where, emails)

        return fetch

    def apply(self, listed: list[dict]) -> None:
        digests = {}
        for node in listed:
            with expect_shape(f"the members of entity '{self.where.entity}'"):
                username = node["username"]
                digests[username] = USERS.digest(node, self.where)
            if self.walk.full or self.state.digests.get(username) != digests[username]:
                self.emit(USERS, node, self.where, username not in self.state.digests)
                self.emitted += 1
        gone = sorted(self.state.digests.keys() - digests.keys())
        for username in gone:
            self.delete(USERS, {"username": username})
        self.tally(USERS, -len(gone))
        self.state.digests = digests
        self.checkpoint()

    @classmethod
    def live_keys(cls, client: WandbClient, where: Where, state: UsersState) -> Iterator[LiveKey]:
        for node in members(client, where, emails=False):
            yield LiveKey(USERS, {"username": node["username"]})

    @classmethod
    def known_keys(cls, where: Where, state: UsersState) -> Iterator[LiveKey]:
        yield from (LiveKey(USERS, {"username": username}) for username in state.digests)

    @classmethod
    def record(cls, where: Where, state: UsersState, keys: list[LiveKey]) -> None:
        """Members only the sweep listed get an empty digest, so the next walk emits them."""
        state.digests = {key.key["username"]: state.digests.get(key.key["username"], "") for key in keys}


def members(client: WandbClient, where: Where, emails: bool) -> list[dict]:
    """The entity's members that have a username; an entity the key cannot read answers null, which the sync's
    projects listing has already turned into a configuration error."""
    what = f"the members of entity '{where.entity}'"
    entity = dig(client.execute(queries.team_members(emails), {"name": where.entity}, what), ("entity",), what)
    with expect_shape(what):
        return [m for m in entity.get("members") or [] if m.get("username")]
