"""The failure policy, in one table: what each failure of a W&B call becomes, and the message that says the fix.

wandb-core already retries 429 (honouring `Retry-After`), 5xx and dropped connections, with the bounds
`WANDB_CORE_RETRIES` sets below, and does not retry 400/401/403/404, GraphQL errors or malformed JSON. So a failure that
reaches the connector has been retried already; it becomes one of:

- RETRY: still rate-limited after wandb-core's attempts. Waited out here, with a growing pause, up to
  `RATE_LIMIT_BUDGET_S`; this is the only retry of the connector's own, because a rate limit ends by itself.
- CONFIGURATION: the user must change something (key, entity, base_url). Retrying cannot help.
- SOURCE: W&B failed or answered something unusable. A later sync may succeed; nothing committed is lost.

Every message names what failed and what to do, and passes through `redact()` so the key never appears. Messages
may use {what}, {where}, {entity}, {detail}, {budget} and {authorize} (where the user's server issues keys). One
failure never reaches this table: a server that does not have a field or argument `optional.py` declares optional,
which the client leaves out and sends again; any other unknown field is a GraphQL error like the rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from .errors import ConfigurationError, ConnectorError, SourceError, redact

RETRY_MAX = 5
RETRY_WAIT_MIN_S = 2
RETRY_WAIT_MAX_S = 16
ATTEMPT_TIMEOUT_S = 60
CALL_TIMEOUT_S = 600
PROBE_TIMEOUT_S = 10
RATE_LIMIT_BUDGET_S = 900
RATE_LIMIT_PAUSE_S = (15, 120)

# wandb-core's retry policy, applied to the global wandb settings before each `wandb.Api()`: 6 attempts with waits
# of about 2, 4, 8, 16 and 16 s (Retry-After wins when the server sends one), each attempt cut at 60 s.
WANDB_CORE_RETRIES = {
    "x_graphql_retry_max": RETRY_MAX,
    "x_graphql_retry_wait_min_seconds": RETRY_WAIT_MIN_S,
    "x_graphql_retry_wait_max_seconds": RETRY_WAIT_MAX_S,
    "x_graphql_timeout_seconds": ATTEMPT_TIMEOUT_S,
}


class Action(Enum):
    RETRY = "retry"
    CONFIGURATION = "configuration"
    SOURCE = "source"


@dataclass(frozen=True)
class Failure:
    """What is known about one failed call: the HTTP status (when wandb-core kept it) and the message text."""

    status: int | None
    text: str
    connecting: bool


@dataclass(frozen=True)
class Rule:
    name: str
    matches: Callable[[Failure], bool]
    action: Action
    message: str


def _status(*codes: int) -> Callable[[Failure], bool]:
    return lambda f: f.status in codes


def _text(pattern: str) -> Callable[[Failure], bool]:
    compiled = re.compile(pattern, re.IGNORECASE)
    return lambda f: compiled.search(f.text) is not None


def _either(*tests: Callable[[Failure], bool]) -> Callable[[Failure], bool]:
    return lambda f: any(test(f) for test in tests)


def _connecting(test: Callable[[Failure], bool]) -> Callable[[Failure], bool]:
    return lambda f: f.connecting and test(f)


UNREACHABLE = (
    r"connection refused|no such host|dial tcp|network is unreachable|connection reset|did not respond in time"
)
MALFORMED = r"invalid character|unexpected EOF|^EOF|cannot unmarshal|looking for beginning of value"
KEY_FIX = "create a new key at {authorize} and set 'api_key'"
URL_FIX = "check 'base_url': empty for W&B cloud, otherwise your server's API address (not its UI address)"

# The table, first match wins.
RULES: tuple[Rule, ...] = (
    Rule(
        "bad key",
        _either(_status(401), _text(r"invalid credentials|did not recognize|unauthori[sz]ed|API key must")),
        Action.CONFIGURATION,
        "W&B at {where} rejected the API key ({detail}): " + KEY_FIX,
    ),
    Rule(
        "no access",
        _either(_status(403), _text(r"permission denied|not a member|forbidden")),
        Action.CONFIGURATION,
        "W&B refused {what} ({detail}): the key's user has no access to entity '{entity}'; use a key of a member "
        "of the entity or check 'entity'",
    ),
    Rule(
        "no W&B API here",
        _either(_status(404, 405), _connecting(_text(MALFORMED))),
        Action.CONFIGURATION,
        "{where} does not answer like W&B's API ({detail}): " + URL_FIX,
    ),
    Rule(
        "unreachable",
        _connecting(_text(UNREACHABLE)),
        Action.CONFIGURATION,
        "cannot reach W&B at {where} ({detail}): " + URL_FIX + ", and that the server is up and reachable",
    ),
    Rule(
        "rate limited",
        _either(_status(429), _text(r"HTTP 429|rate limit")),
        Action.RETRY,
        "W&B kept rate-limiting {what} for {budget} min ({detail}): the next sync resumes from the last checkpoint; "
        "if it persists, ask W&B about the key's rate limit or sync less often",
    ),
    Rule(
        "server errors",
        _either(_status(500, 502, 503, 504), _text(r"HTTP 5\d\d|giving up after")),
        Action.SOURCE,
        "W&B kept failing {what} through wandb-core's retries ({detail}): retry later; the next sync "
        "resumes from the last checkpoint (W&B status: https://status.wandb.ai)",
    ),
    Rule(
        "stopped answering",
        _text(UNREACHABLE + r"|deadline exceeded|timed out"),
        Action.SOURCE,
        "W&B stopped answering {what} ({detail}): retry later; the next sync resumes from the last checkpoint",
    ),
    Rule(
        "malformed answer",
        _text(MALFORMED),
        Action.SOURCE,
        "W&B's answer to {what} was not valid JSON ({detail}): retry later; report it to W&B if it persists",
    ),
    Rule(
        "GraphQL error",
        lambda f: True,
        Action.SOURCE,
        "W&B answered {what} with an error ({detail}): retry later; report it to W&B if it persists",
    ),
)


class RateLimited(ConnectorError):
    """Still rate-limited after wandb-core's own retries: the caller waits and tries again, within a budget."""

    def __init__(self, message: str, final: ConnectorError):
        super().__init__(message)
        self.final = final


def classify(
    error: BaseException,
    *,
    what: str,
    where: str,
    entity: str,
    key: str | None,
    connecting: bool = False,
    authorize: str = "https://wandb.ai/authorize",
) -> ConnectorError:
    """The connector error for a failure of wandb (its exception types, with or without an HTTP status)."""
    status = _http_status(error)
    detail = _detail(redact(str(error), key), status)
    failure = Failure(status, detail, connecting)
    rule = next(r for r in RULES if r.matches(failure))
    message = rule.message.format(
        what=what, where=where, entity=entity, detail=detail, budget=RATE_LIMIT_BUDGET_S // 60, authorize=authorize
    )
    if rule.action is Action.CONFIGURATION:
        return ConfigurationError(message)
    if rule.action is Action.RETRY:
        return RateLimited(message, SourceError(message))
    return SourceError(message)


def _http_status(error: BaseException | None) -> int | None:
    """The HTTP status wandb-core kept, also when wandb wrapped its error (a failed login is an AuthenticationError
    caused by one)."""
    while error is not None:
        status = getattr(getattr(error, "response", None), "http_status", None)
        if status:
            return status
        error = error.__cause__ or error.__context__
    return None


def _detail(text: str, status: int | None) -> str:
    """One line: the server's or wandb-core's own words, shortened, with the HTTP status when it is known."""
    line = " ".join(text.split())
    line = line[:300] + ("…" if len(line) > 300 else "")
    return f"HTTP {status}: {line}" if status and f"HTTP {status}" not in line else line
