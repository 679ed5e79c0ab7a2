"""The W&B client: one `wandb.Api`, the process environment it needs, and pages of GraphQL nodes.

The connector sends the client's own query documents (`queries.py`) through the `Api`'s wandb-core transport
rather than the public paginators, for three reasons: it sees page boundaries (where checkpoints go), it can ask
for fields the public fragments omit (an artifact's creating run, in the same request), and it avoids what the
paginators do per object (a scratch directory per `Run`, paginators cached and shared between callers).
Retries, auth headers and the HTTP transport stay wandb-core's; what a failure becomes is `failures.py`'s, except
that a field or argument the server does not have, among those `optional.py` declares, is left out and the call sent
again.
"""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from . import failures, queries
from .errors import Cancelled, ConfigurationError, SourceError, redact
from .failures import RateLimited, classify
from .optional import OptionalFields, Prepared, Rejected
from .pacing import Pacer
from .settings import Settings, authorize_url

# Offset-paged listings (projects, artifact versions) are read again when they changed while paging, this many times.
LISTING_ATTEMPTS = 3
PROJECTS_PER_PAGE = 500
# A listing may send this many requests per page that brings rows not read before, plus this many pages that bring
# none (W&B's offset pages count rows hidden from the key, so a hidden stretch costs requests and yields nothing).
PAGES_PER_NEEDED = 3
EMPTY_PAGES_ALLOWED = 50


def server_of(base_url: str) -> str:
    """A server's address as one string whatever way it was written (case, default port, trailing slash)."""
    parts = urlsplit(base_url.strip())
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    port = parts.port if parts.port not in (None, {"http": 80, "https": 443}.get(scheme)) else None
    path = parts.path.rstrip("/")
    return f"{scheme}://{host}{f':{port}' if port else ''}{path}"


def prepare_environment(scratch: Path) -> None:
    """Keep wandb's side effects in a scratch directory and off the network; before the first `wandb.Api()`."""
    for name, sub in (("WANDB_DIR", "runs"), ("WANDB_CACHE_DIR", "cache"), ("WANDB_CONFIG_DIR", "config")):
        (scratch / sub).mkdir(parents=True, exist_ok=True)
        os.environ[name] = str(scratch / sub)
    os.environ["WANDB_DATA_DIR"] = str(scratch / "data")
    os.environ["WANDB_ERROR_REPORTING"] = "false"
    os.environ["WANDB_SILENT"] = "true"


class WandbClient:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._api = None
        self._cancelled = threading.Event()
        self.pacer = Pacer(settings.requests_per_minute)
        self.optional = OptionalFields(settings.base_url or "W&B cloud")

    def cancel(self) -> None:
        """The sync failed: calls not yet sent fail at once, and rate-limit pauses end."""
        self._cancelled.set()

    @property
    def api(self) -> Any:
        if self._api is None:
            self._api = self._connect()
        return self._api

    @property
    def app_url(self) -> str:
        """The UI address for row URLs: https://wandb.ai for W&B cloud, the same host for self-managed."""
        from wandb.util import api_to_app_url

        return api_to_app_url(self.api.settings["base_url"]).rstrip("/")

    @property
    def base_url(self) -> str:
        import wandb

        return self.settings.base_url or os.environ.get("WANDB_BASE_URL") or wandb.Settings().base_url

    def _connect(self) -> Any:
        """Reach the server, then log in (one `Viewer` request): a bad key or a wrong URL fails here, in seconds."""
        import wandb

        probe(self.base_url, failures.PROBE_TIMEOUT_S)
        wandb.setup(settings=wandb.Settings(**failures.WANDB_CORE_RETRIES))
        overrides = {"entity": self.settings.entity, "base_url": self.base_url}
        try:
            with self.pacer.slot(self._cancelled):  # the login's `Viewer` request counts against the limit too
                return wandb.Api(overrides=overrides, api_key=self.settings.api_key, timeout=failures.CALL_TIMEOUT_S)
        except (wandb.errors.Error, *_wandb_failures()) as error:
            raise self._classify(error, "the login", connecting=True) from None

    def check_access(self, listing: bool = False) -> None:
        """Fail as configuration when the key cannot read the entity: W&B lists no projects for an unknown one.
        With `listing`, also read the first project, which is where a team the user is not a member of refuses."""
        entity = self.settings.entity
        if self.execute(queries.ENTITY, {"name": entity}, f"entity '{entity}'").get("entity") is None:
            raise ConfigurationError(
                f"W&B has no entity '{entity}' that this API key can read: check 'entity' (the team or user name "
                "in https://wandb.ai/<entity>) and that the key's user is a member of it"
            )
        if listing:
            next(self.pages(queries.PROJECTS, {"entity": entity}, ("models",), f"the projects of entity '{entity}'", 1))

    def projects(self) -> dict[str, dict]:
        """The entity's projects by name, in W&B's order, from a whole reading of the listing (the sync and the
        connection test alike)."""
        entity = self.settings.entity
        what = f"the projects of entity '{entity}'"
        listed = self.whole(queries.PROJECTS, {"entity": entity}, ("models",), what, PROJECTS_PER_PAGE)
        with expect_shape(what):
            return {node["name"]: node for node in listed}

    def execute(self, document: str, variables: Mapping[str, Any], what: str) -> dict:
        """One GraphQL call; a rate limit that outlasts wandb-core's retries is waited out here, within a budget. An
        optional element the server rejects is dropped and the call sent again without it, so this sends at most
        one more request per element the document marks (`optional.py`); `Lacking` when the call cannot be sent."""
        while True:
            prepared = self.optional.prepare(document, what)
            try:
                data = self._execute_paced(prepared, variables, what)
            except Rejected as rejected:
                for name, words in rejected.names.items():
                    self.optional.drop(name, words)
                continue
            if not isinstance(data, dict):
                raise SourceError(f"W&B answered {what} without a data object: retry later or report it to W&B")
            return data

    def _execute_paced(self, prepared: Prepared, variables: Mapping[str, Any], what: str) -> Any:
        retrying = Retrying(
            retry=retry_if_exception_type(RateLimited),
            wait=wait_exponential(min=failures.RATE_LIMIT_PAUSE_S[0], max=failures.RATE_LIMIT_PAUSE_S[1]),
            stop=stop_after_delay(failures.RATE_LIMIT_BUDGET_S),
            sleep=self._pause,
        )
        if prepared.variables is not None:  # a stripped document may declare fewer variables than the caller gives
            variables = {name: value for name, value in variables.items() if name in prepared.variables}
        try:
            for attempt in retrying:
                with attempt:
                    data = self._execute_once(prepared, variables, what)
        except RateLimited as limited:
            raise limited.final from None
        return data

    def _pause(self, seconds: float) -> None:
        """Still rate-limited after wandb-core's retries: every worker waits, and the pace slows (`pacing.py`)."""
        self.pacer.throttled(seconds)
        _sleep(seconds, self._cancelled)

    def _execute_once(self, prepared: Prepared, variables: Mapping[str, Any], what: str) -> Any:
        if self._cancelled.is_set():
            raise Cancelled(f"not reading {what}: the sync already failed")
        api = self.api
        try:
            with self.pacer.slot(self._cancelled):
                return api._service_api.execute_graphql(prepared.text, dict(variables), timeout=failures.CALL_TIMEOUT_S)
        except _wandb_failures() as error:
            lacked = self.optional.rejected(redact(str(error), self.settings.api_key), prepared)
            if lacked:
                raise Rejected(lacked) from None
            raise self._classify(error, what) from None

    def pages(
        self, document: str, variables: Mapping[str, Any], path: tuple[str, ...], what: str, per_page: int
    ) -> Iterator[list[dict]]:
        """Yield each page's nodes; ends on `hasNextPage: false`, and a cursor that does not move is an error."""
        for _connection, edges in self.connections(document, variables, path, what, per_page):
            yield [field(edge, "node", what) for edge in edges]

    def listing(
        self,
        document: str,
        variables: Mapping[str, Any],
        path: tuple[str, ...],
        what: str,
        per_page: int,
        first: dict | None = None,
    ) -> Iterator[tuple[int, list[dict]]]:
        """Pages of an offset-paged listing, each with the number of the reading it belongs to; a reading that may
        have changed under itself is followed by another.

        Offset pages shift when something is deleted or added while they page: a live item can slip past the page
        boundary unread (and a sweep would mark it deleted). A reading is whole when it was one page (a snapshot),
        when its `totalCount` held on every page and equals the distinct ids read, or when it holds every id of the
        reading before it (items only added meanwhile; a live item shifted out would be missing from it). Edges
        without a node (W&B may hide one) are left out.
        """
        previous: set[str] | None = None
        for reading in range(LISTING_ATTEMPTS):
            totals, listed, pages = set(), set(), 0
            pages_of = self.connections(document, variables, path, what, per_page, first if reading == 0 else None)
            for connection, edges in pages_of:
                pages += 1
                with expect_shape(what):
                    totals.add(connection.get("totalCount"))
                    nodes = [edge["node"] for edge in edges if edge.get("node") is not None]
                    listed.update(node["id"] for node in nodes)
                yield reading, nodes
            counted = len(totals) == 1 and len(listed) == next(iter(totals))
            if pages == 1 or counted or (previous is not None and listed >= previous):
                return
            previous = listed
        raise SourceError(
            f"{what} kept changing while they were listed ({LISTING_ATTEMPTS} readings): nothing after the last "
            "checkpoint is kept and the next sync lists them again"
        )

    def whole(
        self,
        document: str,
        variables: Mapping[str, Any],
        path: tuple[str, ...],
        what: str,
        per_page: int,
        first: dict | None = None,
    ) -> list[dict]:
        """The nodes of a listing's last, whole reading; `first` is its first page when it came with others."""
        nodes: list[dict] = []
        current = 0
        for reading, page in self.listing(document, variables, path, what, per_page, first):
            if reading != current:
                nodes, current = [], reading
            nodes.extend(page)
        return nodes

    def connections(
        self,
        document: str,
        variables: Mapping[str, Any],
        path: tuple[str, ...],
        what: str,
        per_page: int,
        first: dict | None = None,
    ) -> Iterator[tuple[dict, list[dict]]]:
        """Yield each page's connection (for its `totalCount`) with its edges, following the server's cursors.

        A page may hold fewer edges than it counts, or none, while `hasNextPage` says more follow (W&B leaves rows
        hidden from the key out of a page): `endCursor`, which moves past the hidden rows, is followed, not the
        last edge's cursor."""
        cursors, budget = Cursors(what), PageBudget(what)
        cursor = None
        while True:
            if first is None:
                connection = dig(
                    self.execute(document, {**variables, "cursor": cursor, "perPage": per_page}, what), path, what
                )
            else:
                connection, first = first, None
            edges = field(connection, "edges", what) or []
            with expect_shape(what):
                budget.spend(sum(1 for edge in edges if edge.get("node") is not None))
            yield connection, edges
            page_info = field(connection, "pageInfo", what)
            if not field(page_info, "hasNextPage", what):
                return
            cursor = cursors.next(page_info.get("endCursor") or (edges[-1].get("cursor") if edges else None))

    def _classify(self, error: BaseException, what: str, connecting: bool = False) -> Exception:
        settings = self.settings
        return classify(
            error,
            what=what,
            where=settings.base_url or "W&B cloud",
            entity=settings.entity,
            key=settings.api_key,
            connecting=connecting,
            authorize=authorize_url(settings.base_url),
        )


class Cursors:
    """The server's cursors through one listing: each must be new, or the listing would never end."""

    def __init__(self, what: str):
        self.what = what
        self.seen: set[str] = set()

    def next(self, cursor: str | None) -> str:
        if not cursor or cursor in self.seen:
            raise SourceError(
                f"W&B said {self.what} has more pages but gave no new cursor ({cursor!r}): "
                "the listing cannot be completed; retry later or report it to W&B"
            )
        self.seen.add(cursor)
        return cursor


class PageBudget:
    """The bound on one listing. A page that brings a row not read before is progress; W&B's offset pages count
    rows hidden from the key, so pages without progress happen, but at most `EMPTY_PAGES_ALLOWED` in a row, and in
    all at most `PAGES_PER_NEEDED` requests per page of progress plus that allowance. Past it the listing fails,
    naming what W&B kept sending, instead of running on."""

    def __init__(self, what: str):
        self.what = what
        self.requests = self.progress = self.rows = self.empty_run = 0

    def spend(self, fresh: int) -> None:
        """Count one page that brought `fresh` rows not read before in this listing."""
        self.requests += 1
        self.rows += fresh
        self.progress += bool(fresh)
        self.empty_run = 0 if fresh else self.empty_run + 1
        allowed = PAGES_PER_NEEDED * (1 + self.progress) + EMPTY_PAGES_ALLOWED
        if self.empty_run > EMPTY_PAGES_ALLOWED or self.requests > allowed:
            raise SourceError(
                f"W&B kept sending pages of {self.what} that held nothing new ({self.requests} requests for "
                f"{self.rows} rows, the last {self.empty_run} with no row not already read; at most "
                f"{EMPTY_PAGES_ALLOWED} such pages in a row and {allowed} requests in all expected): the sync "
                "stops here and the next one resumes from the last checkpoint; report it to W&B if it persists"
            )


def probe(base_url: str, timeout: float) -> None:
    """Fail in seconds when `base_url` cannot be W&B's API: wandb-core would retry a dead, silent or mis-schemed
    address for minutes and then call it an outage. A TCP connect, then one plain GET of the root (any HTTP answer
    will do: it proves the scheme, the certificate and that something answers).

    Skipped behind a proxy, which decides what is reachable.
    """
    parts = urlsplit(base_url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    if urllib.request.getproxies().get(parts.scheme) and not urllib.request.proxy_bypass(host):
        return
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as error:
        reason = f"no answer within {timeout:g} s" if isinstance(error, TimeoutError) else error.strerror
        raise ConfigurationError(
            f"cannot reach W&B at {base_url} ({reason or type(error).__name__}): {failures.URL_FIX}, "
            "and that the server is up and reachable from here"
        ) from None
    problem = _http_problem(base_url, timeout)
    if problem:
        raise ConfigurationError(f"{base_url} {problem}: {failures.URL_FIX}")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer: following it could judge a login page or a UI host instead of the API."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _http_problem(base_url: str, timeout: float) -> str | None:
    """What stops `base_url` from answering HTTP(S) at all, within `timeout` in total; any HTTP status (a 401, a
    404, a redirect) is an answer, and the login judges it."""
    outcome: list[str | None] = []
    asking = threading.Thread(target=lambda: outcome.append(_ask(base_url, timeout)), daemon=True)
    asking.start()
    asking.join(timeout)
    return outcome[0] if outcome else _silent(timeout)


def _silent(timeout: float) -> str:
    return f"accepts connections but sent no HTTP answer within {timeout:g} s"


def _ask(base_url: str, timeout: float) -> str | None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())
    try:
        opener.open(urllib.request.Request(base_url + "/", method="GET"), timeout=timeout).close()
    except urllib.error.HTTPError as error:
        body = error.read(2000).decode(errors="replace")
        error.close()
        return "is an https server: use https:// in 'base_url'" if error.code == 400 and "HTTPS port" in body else None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        cause = error.reason if isinstance(error, urllib.error.URLError) else error
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (
                f"presents a certificate this machine does not trust ({cause.verify_message}): use the server's "
                "trusted address, or install its CA (SSL_CERT_FILE)"
            )
        if isinstance(cause, TimeoutError):
            return _silent(timeout)
        return f"does not answer HTTP ({type(cause).__name__}: {cause}): check http:// vs https:// and the port"
    return None


def _wandb_failures() -> tuple[type[BaseException], ...]:
    """What wandb raises for a failed call: its own errors, wandb-core's, and a pydantic error for a bad shape."""
    import pydantic
    import wandb
    from wandb.sdk.lib.service.service_connection import WandbApiFailedError

    return (WandbApiFailedError, wandb.errors.Error, pydantic.ValidationError, TimeoutError)


def _sleep(seconds: float, cancelled: threading.Event) -> None:
    """The pause between rate-limited attempts, cut short when the sync fails; a seam so tests need not wait."""
    if cancelled.wait(seconds):
        raise Cancelled("a rate-limit pause ended because the sync already failed")


@contextmanager
def expect_shape(what: str) -> Iterator[None]:
    """Turn a missing key or a wrong type in W&B's answer into a source error that names what was being read."""
    try:
        yield
    except (KeyError, TypeError, AttributeError, IndexError) as error:
        raise SourceError(
            f"W&B's answer to {what} does not have the documented shape ({type(error).__name__}: {error}): "
            "retry later; report it to W&B if it persists"
        ) from None


def dig(data: Any, path: tuple[str, ...], what: str) -> dict:
    """Follow `path` into a response; a null parent means the thing is gone, a missing key a mangled answer."""
    for key in path:
        data = field(data, key, what)
        if data is None:
            raise Gone(f"W&B found no {key} for {what}: it may have been deleted or renamed during the sync", key)
    return data


class Gone(SourceError):
    """What was being read no longer exists (deleted or renamed since it was listed); `key` says which part."""

    def __init__(self, message: str, key: str):
        super().__init__(message)
        self.key = key


def field(data: Any, key: str, what: str) -> Any:
    """`data[key]`, or a source error saying W&B's answer lacks it."""
    if not isinstance(data, dict) or key not in data:
        raise SourceError(
            f"W&B's answer to {what} lacks '{key}': the response does not have the documented shape; "
            "retry later or report it to W&B"
        )
    return data[key]
