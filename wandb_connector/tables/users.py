"""`users`: the entity's team members, from one listing per sync, emitted only when a member's row changed.

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
from typing import TYPE_CHECKING, Any, ClassVar

from ..client import WandbClient
from ..settings import Option, switch
from ..shapes import dig, expect_shape
from ..state import WalkState
from ..walker import Cost, Fetch, Guess, LiveKey, Table, Walker, Where

if TYPE_CHECKING:
    from ..survey import Survey

INCLUDE_EMAILS = Option(
    "include_emails",
    "Sync email addresses",
    "Whether the users table holds each member's email address (personal data). Default false: the column stays "
    "empty and W&B is not asked for it.",
    switch(False),
    placeholder="false",
    doc="`true` to sync members' email addresses into `users` (default `false`: personal data)",
    cuts=False,
)


def team_members(emails: bool) -> str:
    """`api.team()`'s members, trimmed: never `apiKey` (the listing offers each member's key), and `email` only
    when the configuration asks for personal data."""
    return (
        "query GetTeamMembers($name: String!) {\n  entity(name: $name) {\n    id name isTeam\n"
        f"    members {{ id admin pending {'email ' if emails else ''}username name accountType }}\n  }}\n}}\n"
    )


def user_row(node: dict, where: Where) -> dict[str, Any]:
    account = (node.get("accountType") or "").upper()
    return {
        "username": node["username"],
        "entity": where.entity,
        "user_id": node.get("id"),
        "name": node.get("name") or None,
        "account_type": {"USER": "user", "SERVICE": "service"}.get(account, account.lower() or None),
        "admin": node.get("admin"),
        "pending": node.get("pending"),
        "email": node.get("email") or None,
    }


TABLE = Table(
    "users",
    ("username",),
    {
        "username": "STRING",
        "entity": "STRING",
        "user_id": "STRING",
        "name": "STRING",
        "account_type": "STRING",
        "admin": "BOOLEAN",
        "pending": "BOOLEAN",
        "email": "STRING",
        "synced_at": "UTC_DATETIME",
    },
    user_row,
)


@dataclass
class UsersState(WalkState):
    digests: dict[str, str] = field(default_factory=dict)


class UserWalker(Walker[UsersState]):
    name: ClassVar[str] = "users"
    scope: ClassVar[str] = "entity"
    tables: ClassVar[tuple[Table, ...]] = (TABLE,)
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
                digests[username] = TABLE.digest(node, self.where)
            if self.state.digests.get(username) != digests[username]:
                self.emit(TABLE, node, self.where, username not in self.state.digests)
                self.emitted += 1
        gone = sorted(self.state.digests.keys() - digests.keys())
        for username in gone:
            self.delete(TABLE, {"username": username})
        self.tally(TABLE, -len(gone))
        self.state.digests = digests
        self.checkpoint()

    @classmethod
    def live_keys(cls, client: WandbClient, where: Where, state: UsersState) -> Iterator[LiveKey]:
        for node in members(client, where, emails=False):
            yield LiveKey(TABLE, {"username": node["username"]})

    @classmethod
    def known_keys(cls, where: Where, state: UsersState) -> Iterator[LiveKey]:
        yield from (LiveKey(TABLE, {"username": username}) for username in state.digests)

    @classmethod
    def record(cls, where: Where, state: UsersState, keys: list[LiveKey]) -> None:
        """Members only the sweep listed get an empty digest, so the next walk emits them."""
        state.digests = {key.key["username"]: state.digests.get(key.key["username"], "") for key in keys}


def members(client: WandbClient, where: Where, emails: bool) -> list[dict]:
    """The entity's members that have a username; an entity the key cannot read answers null, which the sync's
    projects listing has already turned into a configuration error."""
    what = f"the members of entity '{where.entity}'"
    entity = dig(client.execute(team_members(emails), {"name": where.entity}, what), ("entity",), what)
    with expect_shape(what):
        return [m for m in entity.get("members") or [] if m.get("username")]


WALKER = UserWalker
OPTIONS = (INCLUDE_EMAILS,)


COST = Cost(
    requests="1 per sync (the member listing)",
    rows="members whose row changed; deletes of members who left",
    reconcile="writes the members whose row changed; 1 request for ids",
)


def estimate(survey: Survey) -> Guess:
    """Each member is a row, written again when it changes: at most every member in a month."""
    count = len(members(survey.client, survey.where, emails=False))
    return Guess(count, count)
