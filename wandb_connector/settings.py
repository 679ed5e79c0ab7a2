"""Configuration as data: each option is declared once (its key, how its text is read and checked, its default, its
field in Fivetran's setup form, its help and its line in the README), and `read` turns a configuration into typed
settings from the options alone. Fivetran hands every value over as a string, so this is where they become typed.

The options of the connection (the key, the entity, the server, the project filters, the pace) are declared here;
each table declares its own switches beside the table (`tables/`), and the registry hands all of them to `read`,
the form and the README. Every problem is collected and reported at once, each naming the key and the fix, so a
user fixes a configuration in one round trip. A secret option (the API key) is hidden by construction: no repr,
message or form echoes it.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from wandb.sdk.lib.wbauth.validation import check_api_key

from .errors import ConfigurationError

DEFAULT_RECONCILE_HOURS = 24.0
MAX_RECONCILE_HOURS = 24 * 366 * 10
# W&B's lower plans allow about 50 requests a minute per key (its higher plans about 200).
DEFAULT_REQUESTS_PER_MINUTE = 50
MAX_REQUESTS_PER_MINUTE = 100_000
ENTITY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
# What a W&B key looks like beside a name: after an optional `prefix-` (self-managed servers), 40 or more hex digits,
# or letters, digits and underscores with digits and letters mixed (a random string); or a JWT. A long team name has
# dashes or no digits, and stays a name.
KEY_SHAPE = re.compile(
    r"^(?:\w+-)?(?:[0-9a-fA-F]{40,}|(?=\w*\d)(?=\w*[A-Za-z])\w{40,})$|^eyJ[\w-]+\.[\w-]+\.[\w-]+$", re.ASCII
)


@dataclass
class Reading:
    """One configuration being read: the problems found so far and the values read so far (an option's check may
    use another's value: a key's fix names the configured server's key page)."""

    problems: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    key: str = ""

    def problem(self, message: str) -> None:
        self.problems.append(message)


Parse = Callable[[str, Reading], Any]


@dataclass(frozen=True)
class Option:
    """One configuration key: how its text (stripped; empty when not given) becomes a value, its form field (label,
    help, placeholder), whether it is required or secret, older names still accepted, what the README says of it,
    and whether it can leave rows out."""

    key: str
    label: str
    help: str
    parse: Parse
    required: bool = False
    secret: bool = False
    placeholder: str | None = None
    aliases: tuple[str, ...] = ()
    doc: str = ""
    cuts: bool = True  # whether it can leave rows out (a table's switch, a filter), as `make estimate` lists them

    @property
    def names(self) -> tuple[str, ...]:
        return (self.key, *self.aliases)


class Settings:
    """The typed settings of one configuration: one attribute per option, named as its key. Read-only; a secret
    option's value is never in its repr."""

    def __init__(self, options: Iterable[Option], values: Mapping[str, Any]):
        object.__setattr__(self, "_values", dict(values))
        object.__setattr__(self, "_secret", frozenset(o.key for o in options if o.secret))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"no setting {name!r}") from None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("settings are read-only")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Settings) and self._values == other._values

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._values)))

    def __repr__(self) -> str:
        shown_values = (f"{k}={'<redacted>' if k in self._secret else repr(v)}" for k, v in self._values.items())
        return f"Settings({', '.join(shown_values)})"

    def wants(self, project: str) -> bool:
        """Whether a project is synced: it matches `projects` (all when empty) and no `exclude_projects` pattern."""
        included = not self.projects or any(fnmatch.fnmatchcase(project, p) for p in self.projects)
        return included and not any(fnmatch.fnmatchcase(project, p) for p in self.exclude_projects)

    def unmatched_globs(self, listed: set[str]) -> list[str]:
        """The `projects` globs that match no listed project (worth a warning); a project named exactly that is
        not listed fails as configuration, since a sync of it could never succeed."""
        for name in self.projects:
            if not _is_glob(name) and name not in listed:
                raise ConfigurationError(
                    f"there is no project {shown(name)} in entity '{self.entity}' that this key can read: "
                    "check the names in 'projects' (comma-separated names or globs)"
                )
        return [p for p in self.projects if _is_glob(p) and not any(fnmatch.fnmatchcase(n, p) for n in listed)]

    def check_selection(self, listed: list[str], selected: list[str]) -> None:
        """Filters that leave no project to sync are a mistake (a typo, another entity's names), never a request
        to sync nothing: the sync fails before it writes, naming the patterns and the projects there are."""
        filters = [("projects", self.projects), ("exclude_projects", self.exclude_projects)]
        if selected or not any(value for _, value in filters):
            return
        patterns = [f"'{key}' {', '.join(shown(v) for v in value)}" for key, value in filters if value]
        there = ", ".join(listed[:20]) + (f" and {len(listed) - 20} more" if len(listed) > 20 else "")
        raise ConfigurationError(
            f"the project filters ({', '.join(patterns)}) leave no project of entity '{self.entity}' to sync; "
            + (f"its projects are: {there}" if listed else "this key can read no project of it")
            + ": fix the names or globs (comma-separated; an empty 'projects' syncs every project)"
        )


def read(configuration: Any, options: Iterable[Option]) -> Settings:
    """The settings of `configuration` by `options`, or one configuration error naming every problem and its fix,
    before any request."""
    options = tuple(options)
    if not isinstance(configuration, dict):
        raise ConfigurationError("configuration must be a JSON object of string values")
    not_text = [key for key, value in configuration.items() if not isinstance(value, str)]
    reading = Reading([f"'{key}' must be a string (Fivetran passes every value as text)" for key in not_text])
    for option in options:
        reading.key, text = _text(configuration, option, reading)
        reading.values[option.key] = option.parse(text, reading)
    known = sorted(name for option in options for name in option.names)
    unknown = sorted(set(configuration) - set(known))
    if unknown:
        reading.problem(f"unknown keys {unknown}: remove them or check their spelling (known: {known})")
    if reading.problems:
        message = "invalid configuration: " + "; ".join(reading.problems)
        for secret in (reading.values[o.key] for o in options if o.secret and reading.values[o.key]):
            # the key as a whole token only: a one-letter typo must not garble the message
            message = re.sub(rf"(?<![\w-]){re.escape(secret)}(?![\w-])", "<the API key>", message)
        raise ConfigurationError(message)
    return Settings(options, reading.values)


def _text(configuration: dict, option: Option, reading: Reading) -> tuple[str, str]:
    """The name the option's text was given under (its key, or an older name) and the text; two names holding
    different values are a problem."""
    given = {name: configuration[name].strip() for name in option.names if isinstance(configuration.get(name), str)}
    given = {name: text for name, text in given.items() if text}
    if len(set(given.values())) > 1:
        reading.problem(f"{' and '.join(repr(n) for n in given)} hold different values: keep one of them")
    return next(iter(given.items()), (option.key, ""))


def looks_like_key(value: str) -> bool:
    """Whether `value` is shaped like a W&B API key, in any format the wandb client accepts: such a value pasted
    into another field is never echoed back."""
    return check_api_key(value) is None and KEY_SHAPE.match(value) is not None


def shown(value: str) -> str:
    """A value to echo in a message, unless it is shaped like an API key pasted into the wrong field."""
    return "<an API key>" if looks_like_key(value) else repr(value)


def authorize_url(base_url: str | None) -> str:
    """Where a user creates a W&B API key: W&B cloud's page, or the same page on their own server's UI (which a
    dedicated or self-managed server serves at its API host without the `api.` prefix)."""
    parts = urlsplit(base_url or "")
    host = (parts.hostname or "").lower()
    if not host or host == "api.wandb.ai":
        return "https://wandb.ai/authorize"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # an invalid port, which its own message names
        port = ""
    return f"{parts.scheme}://{host.removeprefix('api.')}{port}/authorize"


def _is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


# How an option's text becomes its value: each returns the value, or its default with a problem named.


def switch(default: bool) -> Parse:
    def parse(text: str, reading: Reading) -> bool:
        lowered = text.lower()
        if lowered in ("false", "no", "off", "0"):
            return False
        if lowered in ("true", "yes", "on", "1"):
            return True
        if lowered:
            reading.problem(f"'{reading.key}' {lowered!r} is not true or false")
        return default

    return parse


def patterns(text: str, reading: Reading) -> tuple[str, ...]:
    """Comma-separated names or globs (`nlp-*`); blanks are ignored."""
    return tuple(p.strip() for p in text.split(",") if p.strip())


def whole_number(default: int, low: int, high: int, meaning: str) -> Parse:
    """A whole number from `low` to `high`; `_` and `,` between digits are allowed (`100_000`, `100,000`)."""

    def parse(text: str, reading: Reading) -> int:
        digits = text.replace("_", "").replace(",", "")
        if not digits:
            return default
        if not digits.isdigit() or not low <= int(digits) <= high:
            reading.problem(f"'{reading.key}' {text!r} is not a whole number from {low} to {high}: {meaning}")
            return default
        return int(digits)

    return parse


def hours(text: str, reading: Reading) -> float:
    if not text:
        return DEFAULT_RECONCILE_HOURS
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= MAX_RECONCILE_HOURS:
        reading.problem(
            f"'{reading.key}' {text!r} is not a number of hours from 0 to {MAX_RECONCILE_HOURS}: use e.g. 24 for "
            "daily, 0 to reconcile on every sync"
        )
        return DEFAULT_RECONCILE_HOURS
    return value


def base_url(text: str, reading: Reading) -> str | None:
    value = text.rstrip("/")
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or " " in value:
        reading.problem(
            f"'base_url' {shown(value)} is not an http(s) URL: leave it empty for W&B cloud, or use your "
            "dedicated or self-managed API address, like https://api.wandb.example.com"
        )
        return value
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        reading.problem(f"'base_url' has an invalid port ({parts.netloc.rpartition(':')[2]!r}): use 1-65535")
    if parts.username is not None or parts.query or parts.fragment:
        reading.problem(
            "'base_url' must be just the server's address: no user:password@, no ?query and no #fragment "
            "(the API key authenticates)"
        )
    if parts.path.endswith("/graphql"):
        reading.problem("'base_url' must be the server's root, without '/graphql': the client adds it")
    return value


def api_key(text: str, reading: Reading) -> str:
    """The client's own check of the key's shape, so every format wandb accepts passes; the fix points at the key
    page of the server configured (read before this option)."""
    authorize = authorize_url(reading.values.get("base_url"))
    if not text:
        reading.problem(f"'api_key' is missing: paste a W&B API key from {authorize}")
        return ""
    problem = check_api_key(text)
    if problem:
        reading.problem(f"'{reading.key}' is not a W&B API key ({problem}): copy it again from {authorize}")
    return text


def entity(text: str, reading: Reading) -> str:
    if not text:
        reading.problem("'entity' is missing: set it to the W&B team or user name that owns the projects")
    elif looks_like_key(text):
        reading.problem(
            "'entity' holds what looks like an API key: put the key in 'api_key' and the team or user name in 'entity'"
        )
    elif not ENTITY_PATTERN.match(text):
        reading.problem(
            f"'entity' {shown(text)} is not a W&B entity name: use the team or user name as it appears in "
            "https://wandb.ai/<entity>, without slashes or spaces"
        )
    return text


# The options of the connection itself, in the order the form shows them (the tables' switches follow theirs).
# `base_url` is read first: the key's problems name its server's key page.
BASE_URL = Option(
    "base_url",
    "API base URL",
    "Leave empty for W&B cloud. For dedicated or self-managed W&B, the server's API address (not the UI address).",
    base_url,
    placeholder="https://api.wandb.example.com",
    doc="empty for W&B cloud; for dedicated or self-managed W&B, the server's API address, e.g. "
    "`https://api.wandb.example.com`",
)
API_KEY = Option(
    "api_key",
    "W&B API key",
    "A W&B API key of a user or service account that can read the entity. Create one at https://wandb.ai/authorize "
    "(on your own W&B server: its /authorize page).",
    api_key,
    required=True,
    secret=True,
    aliases=("WandB_API_KEY",),
    doc="a W&B API key of a user or service account that can read the entity (W&B cloud: https://wandb.ai/authorize; "
    "your own server: its `/authorize` page). `WandB_API_KEY`, the name Fivetran's own W&B example uses, is accepted "
    "too",
)
ENTITY = Option(
    "entity",
    "Entity",
    "The W&B team or user whose projects to sync: the name in https://wandb.ai/<entity>.",
    entity,
    required=True,
    placeholder="my-team",
    doc="the team or user whose projects to sync, as in `https://wandb.ai/<entity>`",
)
PROJECTS = Option(
    "projects",
    "Projects",
    "Comma-separated project names or globs to sync, like nlp-*, vision. Empty syncs every project, including ones "
    "created later. A project left out later keeps its rows as they were.",
    patterns,
    placeholder="nlp-*, vision-baselines",
    doc="comma-separated project names or globs to sync (`nlp-*, vision-baselines`); empty syncs every project, "
    "including ones created later",
)
EXCLUDE_PROJECTS = Option(
    "exclude_projects",
    "Excluded projects",
    "Comma-separated project names or globs to leave out. An excluded project's rows already synced stay as they "
    "were (not deleted, no longer updated).",
    patterns,
    placeholder="scratch-*",
    doc="comma-separated names or globs to leave out; wins over `projects`",
)
RECONCILE_INTERVAL_HOURS = Option(
    "reconcile_interval_hours",
    "Reconcile every (hours)",
    "How often a sync re-reads everything and marks what W&B deleted. "
    f"Default {DEFAULT_RECONCILE_HOURS:g}; 0 reconciles on every sync.",
    hours,
    placeholder="24",
    doc="how often a sync reconciles: re-reads everything, catching edits no timestamp shows, and deletes what W&B "
    f"no longer has. Default `{DEFAULT_RECONCILE_HOURS:g}`; `0` on every sync",
)
REQUESTS_PER_MINUTE = Option(
    "requests_per_minute",
    "Requests per minute",
    "The most requests a sync sends to W&B in any minute: the key's rate limit. "
    f"Default {DEFAULT_REQUESTS_PER_MINUTE} (W&B's lower plans); raise it on a plan that allows more.",
    whole_number(
        DEFAULT_REQUESTS_PER_MINUTE,
        1,
        MAX_REQUESTS_PER_MINUTE,
        f"use the key's W&B rate limit (default {DEFAULT_REQUESTS_PER_MINUTE}, what W&B's lower plans allow)",
    ),
    placeholder=str(DEFAULT_REQUESTS_PER_MINUTE),
    doc="the key's W&B rate limit: a sync sends at most this many requests in any minute. Default "
    f"`{DEFAULT_REQUESTS_PER_MINUTE}`, what W&B's lower plans allow (its higher plans allow about 200)",
)
CONNECTION = (BASE_URL, API_KEY, ENTITY, PROJECTS, EXCLUDE_PROJECTS, RECONCILE_INTERVAL_HOURS, REQUESTS_PER_MINUTE)
