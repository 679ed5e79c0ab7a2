"""The W&B client: one `wandb.Api`, the process environment it needs, and GraphQL calls through it (pages of them
are `paging.py`'s).

The connector sends the client's own query documents (each table's module holds its own) through the `Api`'s
wandb-core transport rather than the public paginators, for three reasons: it sees page boundaries (where
checkpoints go), it can ask for fields the public fragments omit (an artifact's creating run, in the same
request), and it avoids what the paginators do per object (a scratch directory per `Run`, paginators cached and
shared between callers). Retries, auth headers and the HTTP transport stay wandb-core's; what a failure becomes is
`failures.py`'s, except that a field or argument the server does not have, among those `optional.py` declares, is
left out and the call sent again.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from . import failures
from .errors import Cancelled, SourceError, redact
from .failures import RateLimited, classify
from .optional import OptionalFields, Prepared, Rejected
from .pacing import Pacer
from .probe import probe
from .settings import Settings, authorize_url


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
        # What the sync found out about this server's behaviour, by name (the walks that ask name them): shared by
        # the walks of the sync, set in the main thread before the walks that read them begin.
        self.traits: dict[str, Any] = {}

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
