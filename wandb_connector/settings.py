"""Configuration: Fivetran hands every value over as a string, so this is where they become typed settings.

Every problem is collected and reported at once, each naming the key and the fix, so a user fixes a configuration
in one round trip. The API key is never echoed back.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from wandb.sdk.lib.wbauth.validation import check_api_key

from .errors import ConfigurationError

API_KEY_ALIASES = ("api_key", "WandB_API_KEY")
KNOWN_KEYS = {
    *API_KEY_ALIASES,
    "entity",
    "base_url",
    "projects",
    "exclude_projects",
    "reconcile_interval_hours",
    "requests_per_minute",
    "include_emails",
    "history",
    "history_keys",
    "history_max_steps",
    "system_metrics",
    "lineage",
    "run_config",
    "run_summary",
}
DEFAULT_RECONCILE_HOURS = 24.0
# W&B's lower plans allow about 50 requests a minute per key (its higher plans about 200).
DEFAULT_REQUESTS_PER_MINUTE = 50
MAX_REQUESTS_PER_MINUTE = 100_000
MAX_RECONCILE_HOURS = 24 * 366 * 10
# `run_history` is off until asked for (`history`): it is the one table without a bound per run, often most of the
# rows a sync writes, so a team turns it on having seen `make estimate`. A run's history beyond this many steps is
# left out (with a warning naming the run): a sync streams history in pages, so memory does not depend on it, but
# every step is a row the user pays for.
DEFAULT_HISTORY_MAX_STEPS = 100_000
MAX_HISTORY_MAX_STEPS = 100_000_000
ENTITY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
# What a W&B key looks like beside a name: after an optional `prefix-` (self-managed servers), 40 or more hex digits,
# or letters, digits and underscores with digits and letters mixed (a random string); or a JWT. A long team name has
# dashes or no digits, and stays a name.
KEY_SHAPE = re.compile(
    r"^(?:\w+-)?(?:[0-9a-fA-F]{40,}|(?=\w*\d)(?=\w*[A-Za-z])\w{40,})$|^eyJ[\w-]+\.[\w-]+\.[\w-]+$", re.ASCII
)


@dataclass(frozen=True)
class Settings:
    api_key: str
    entity: str
    base_url: str | None
    projects: tuple[str, ...] = ()
    exclude_projects: tuple[str, ...] = ()
    reconcile_interval_hours: float = DEFAULT_RECONCILE_HOURS
    requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE
    include_emails: bool = False
    history: bool = False
    history_keys: tuple[str, ...] = ()
    history_max_steps: int = DEFAULT_HISTORY_MAX_STEPS
    system_metrics: bool = True
    lineage: bool = True
    run_config: bool = True
    run_summary: bool = True

    def __repr__(self) -> str:
        return (
            f"Settings(entity={self.entity!r}, base_url={self.base_url!r}, projects={self.projects!r}, "
            f"exclude_projects={self.exclude_projects!r}, reconcile_interval_hours={self.reconcile_interval_hours!r}, "
            f"requests_per_minute={self.requests_per_minute!r}, include_emails={self.include_emails!r}, "
            f"history={self.history!r}, history_keys={self.history_keys!r}, "
            f"history_max_steps={self.history_max_steps!r}, system_metrics={self.system_metrics!r}, "
            f"lineage={self.lineage!r}, run_config={self.run_config!r}, run_summary={self.run_summary!r}, "
            "api_key=<redacted>)"
        )

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
        if selected or not (self.projects or self.exclude_projects):
            return
        patterns = [f"'{key}' {', '.join(shown(v) for v in value)}" for key, value in self._filters() if value]
        there = ", ".join(listed[:20]) + (f" and {len(listed) - 20} more" if len(listed) > 20 else "")
        raise ConfigurationError(
            f"the project filters ({', '.join(patterns)}) leave no project of entity '{self.entity}' to sync; "
            + (f"its projects are: {there}" if listed else "this key can read no project of it")
            + ": fix the names or globs (comma-separated; an empty 'projects' syncs every project)"
        )

    def _filters(self) -> list[tuple[str, tuple[str, ...]]]:
        return [("projects", self.projects), ("exclude_projects", self.exclude_projects)]

    def wants_metric(self, key: str) -> bool:
        """Whether a history key is synced: it matches `history_keys` (every key when empty)."""
        return not self.history_keys or any(fnmatch.fnmatchcase(key, p) for p in self.history_keys)

    def wants(self, project: str) -> bool:
        """Whether a project is synced: it matches `projects` (all when empty) and no `exclude_projects` pattern."""
        included = not self.projects or any(fnmatch.fnmatchcase(project, p) for p in self.projects)
        return included and not any(fnmatch.fnmatchcase(project, p) for p in self.exclude_projects)


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


def validate_configuration(configuration: dict) -> Settings:
    """Fail before any request when the configuration cannot work, naming every problem and its fix."""
    if not isinstance(configuration, dict):
        raise ConfigurationError("configuration must be a JSON object of string values")
    problems = [
        f"'{k}' must be a string (Fivetran passes every value as text)"
        for k, v in configuration.items()
        if not isinstance(v, str)
    ]
    base_url = _base_url(configuration, problems)
    api_key = _api_key(configuration, problems, authorize_url(base_url))
    entity = _entity(configuration, problems)
    projects = _patterns(configuration, "projects")
    exclude_projects = _patterns(configuration, "exclude_projects")
    reconcile = _hours(configuration, "reconcile_interval_hours", problems)
    pace = _requests_per_minute(configuration, problems)
    emails = _switch(configuration, "include_emails", problems)
    history = _switch(configuration, "history", problems)
    history_keys = _patterns(configuration, "history_keys")
    max_steps = _history_max_steps(configuration, problems)
    system_metrics = _switch(configuration, "system_metrics", problems, default=True)
    lineage = _switch(configuration, "lineage", problems, default=True)
    run_config = _switch(configuration, "run_config", problems, default=True)
    run_summary = _switch(configuration, "run_summary", problems, default=True)
    unknown = sorted(set(configuration) - KNOWN_KEYS)
    if unknown:
        problems.append(f"unknown keys {unknown}: remove them or check their spelling (known: {sorted(KNOWN_KEYS)})")
    if problems:
        message = "invalid configuration: " + "; ".join(problems)
        if api_key:  # the key as a whole token only: a one-letter typo must not garble the message
            message = re.sub(rf"(?<![\w-]){re.escape(api_key)}(?![\w-])", "<the API key>", message)
        raise ConfigurationError(message)
    return Settings(
        api_key,
        entity,
        base_url,
        projects,
        exclude_projects,
        reconcile,
        pace,
        emails,
        history,
        history_keys,
        max_steps,
        system_metrics,
        lineage,
        run_config,
        run_summary,
    )


def _text(configuration: dict, key: str) -> str:
    value = configuration.get(key)
    return value.strip() if isinstance(value, str) else ""


def _api_key(configuration: dict, problems: list[str], authorize: str) -> str:
    keys = {alias: _text(configuration, alias) for alias in API_KEY_ALIASES if _text(configuration, alias)}
    if not keys:
        problems.append(f"'api_key' is missing: paste a W&B API key from {authorize}")
        return ""
    if len(set(keys.values())) > 1:
        problems.append("'api_key' and 'WandB_API_KEY' hold different keys: keep one of them")
    alias, key = next(iter(keys.items()))
    problem = check_api_key(key)  # the client's own check, so every key format wandb accepts passes
    if problem:
        problems.append(f"'{alias}' is not a W&B API key ({problem}): copy it again from {authorize}")
    return key


def _entity(configuration: dict, problems: list[str]) -> str:
    entity = _text(configuration, "entity")
    if not entity:
        problems.append("'entity' is missing: set it to the W&B team or user name that owns the projects")
    elif looks_like_key(entity):
        problems.append(
            "'entity' holds what looks like an API key: put the key in 'api_key' and the team or user name in 'entity'"
        )
    elif not ENTITY_PATTERN.match(entity):
        problems.append(
            f"'entity' {shown(entity)} is not a W&B entity name: use the team or user name as it appears in "
            "https://wandb.ai/<entity>, without slashes or spaces"
        )
    return entity


def _base_url(configuration: dict, problems: list[str]) -> str | None:
    base_url = _text(configuration, "base_url").rstrip("/")
    if not base_url:
        return None
    parts = urlsplit(base_url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or " " in base_url:
        problems.append(
            f"'base_url' {shown(base_url)} is not an http(s) URL: leave it empty for W&B cloud, or use your "
            "dedicated or self-managed API address, like https://api.wandb.example.com"
        )
        return base_url
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        problems.append(f"'base_url' has an invalid port ({parts.netloc.rpartition(':')[2]!r}): use 1-65535")
    if parts.username is not None or parts.query or parts.fragment:
        problems.append(
            "'base_url' must be just the server's address: no user:password@, no ?query and no #fragment "
            "(the API key authenticates)"
        )
    if parts.path.endswith("/graphql"):
        problems.append("'base_url' must be the server's root, without '/graphql': the client adds it")
    return base_url


def _patterns(configuration: dict, key: str) -> tuple[str, ...]:
    """Comma-separated project names or globs (`nlp-*`); blanks are ignored."""
    return tuple(p.strip() for p in _text(configuration, key).split(",") if p.strip())


def _hours(configuration: dict, key: str, problems: list[str]) -> float:
    text = _text(configuration, key)
    if not text:
        return DEFAULT_RECONCILE_HOURS
    try:
        hours = float(text)
    except ValueError:
        hours = -1.0
    if not 0 <= hours <= MAX_RECONCILE_HOURS:
        problems.append(
            f"'{key}' {text!r} is not a number of hours from 0 to {MAX_RECONCILE_HOURS}: use e.g. 24 for daily, "
            "0 to reconcile on every sync"
        )
    return hours


def _requests_per_minute(configuration: dict, problems: list[str]) -> int:
    text = _text(configuration, "requests_per_minute")
    if not text:
        return DEFAULT_REQUESTS_PER_MINUTE
    if not text.isdigit() or not 1 <= int(text) <= MAX_REQUESTS_PER_MINUTE:
        problems.append(
            f"'requests_per_minute' {text!r} is not a whole number from 1 to {MAX_REQUESTS_PER_MINUTE}: use the "
            f"key's W&B rate limit (default {DEFAULT_REQUESTS_PER_MINUTE}, what W&B's lower plans allow)"
        )
        return DEFAULT_REQUESTS_PER_MINUTE
    return int(text)


def _history_max_steps(configuration: dict, problems: list[str]) -> int:
    text = _text(configuration, "history_max_steps").replace("_", "").replace(",", "")
    if not text:
        return DEFAULT_HISTORY_MAX_STEPS
    if not text.isdigit() or not 1 <= int(text) <= MAX_HISTORY_MAX_STEPS:
        problems.append(
            f"'history_max_steps' {_text(configuration, 'history_max_steps')!r} is not a whole number from 1 to "
            f"{MAX_HISTORY_MAX_STEPS}: the most history steps synced per run (default {DEFAULT_HISTORY_MAX_STEPS})"
        )
        return DEFAULT_HISTORY_MAX_STEPS
    return int(text)


def _switch(configuration: dict, key: str, problems: list[str], default: bool = False) -> bool:
    text = _text(configuration, key).lower()
    if text == "":
        return default
    if text in ("false", "no", "off", "0"):
        return False
    if text in ("true", "yes", "on", "1"):
        return True
    problems.append(f"'{key}' {text!r} is not true or false")
    return default
