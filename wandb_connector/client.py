"""The W&B client: one `wandb.Api`, the process environment it needs, and pages of GraphQL nodes.

The connector sends the client's own query documents (`queries.py`) through the `Api`'s wandb-core transport
rather than the public paginators, for three reasons: it sees page boundaries (a checkpoint per page), it can ask
for fields the public fragments omit (an artifact's creating run, in the same request), and it avoids what the
paginators do per object (a scratch directory per `Run`, paginators cached and shared between callers).
Retries, auth headers and the HTTP transport stay wandb-core's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from . import queries
from .errors import ConfigurationError, SourceError, redact
from .settings import Settings


def prepare_environment(scratch: Path) -> None:
    """Keep wandb's side effects in a scratch directory and off the network; must run before `import wandb`."""
    for name, sub in (("WANDB_DIR", "runs"), ("WANDB_CACHE_DIR", "cache"), ("WANDB_CONFIG_DIR", "config")):
        (scratch / sub).mkdir(parents=True, exist_ok=True)
        os.environ[name] = str(scratch / sub)
    os.environ["WANDB_DATA_DIR"] = str(scratch / "data")
    os.environ["WANDB_ERROR_REPORTING"] = "false"
    os.environ["WANDB_SILENT"] = "true"
    os.environ.setdefault("WANDB_DISABLE_CODE", "true")


class WandbClient:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._api = None

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

    def _connect(self) -> Any:
        import wandb

        overrides = {"entity": self.settings.entity}
        if self.settings.base_url:
            overrides["base_url"] = self.settings.base_url
        try:
            return wandb.Api(overrides=overrides, api_key=self.settings.api_key)
        except wandb.errors.AuthenticationError as error:
            raise ConfigurationError(
                f"W&B did not accept the API key at {self._where()}: {self._clean(error)}. "
                "Check 'api_key' (https://wandb.ai/authorize) and, for a dedicated or self-managed server, 'base_url'"
            ) from None
        except wandb.errors.UsageError as error:
            raise ConfigurationError(f"cannot use the W&B configuration: {self._clean(error)}") from None

    def check_access(self) -> None:
        """Fail as configuration when the key cannot read the entity: W&B lists no projects for an unknown one."""
        entity = self.settings.entity
        if self.execute(queries.ENTITY, {"name": entity}, f"entity '{entity}'").get("entity") is None:
            raise ConfigurationError(
                f"W&B has no entity '{entity}' that this API key can read: check 'entity' (the team or user name "
                "in https://wandb.ai/<entity>) and that the key's user is a member of it"
            )

    def execute(self, document: str, variables: Mapping[str, Any], what: str) -> dict:
        from wandb.sdk.lib.service.service_connection import WandbApiFailedError

        try:
            data = self.api._service_api.execute_graphql(document, dict(variables))
        except WandbApiFailedError as error:
            raise self._failure(error, what) from None
        if not isinstance(data, dict):
            raise SourceError(f"W&B answered {what} without a data object: retry later or report it to W&B")
        return data

    def pages(
        self, document: str, variables: Mapping[str, Any], path: tuple[str, ...], what: str, per_page: int
    ) -> Iterator[list[dict]]:
        """Yield each page's nodes; ends on `hasNextPage: false`, and a cursor that does not move is an error."""
        cursor, seen = None, set()
        while True:
            data = self.execute(document, {**variables, "cursor": cursor, "perPage": per_page}, what)
            connection = dig(data, path, what)
            edges = _field(connection, "edges", what) or []
            yield [_field(edge, "node", what) for edge in edges]
            if not _field(_field(connection, "pageInfo", what), "hasNextPage", what):
                return
            cursor = (edges[-1].get("cursor") if edges else None) or connection["pageInfo"].get("endCursor")
            if not cursor or cursor in seen:
                raise SourceError(
                    f"W&B said {what} has more pages but gave no new cursor ({cursor!r}): "
                    "the listing cannot be completed; retry later or report it to W&B"
                )
            seen.add(cursor)

    def _failure(self, error: Exception, what: str) -> Exception:
        status = getattr(getattr(error, "response", None), "http_status", None) or None
        message = self._clean(error)
        if status in (401, 403):
            return ConfigurationError(
                f"W&B refused {what} (HTTP {status}: {message}): check that 'api_key' belongs to a member of "
                f"entity '{self.settings.entity}' with read access"
            )
        if status == 404:
            return ConfigurationError(
                f"W&B has no GraphQL endpoint at {self._where()} (HTTP 404 on {what}): check 'base_url'"
            )
        detail = f"HTTP {status}: {message}" if status else message
        return SourceError(f"W&B failed {what} ({detail}): retry later; if it persists, report it to W&B")

    def _where(self) -> str:
        return self.settings.base_url or "W&B cloud"

    def _clean(self, error: Exception) -> str:
        return redact(str(error).strip(), self.settings.api_key)


def dig(data: Any, path: tuple[str, ...], what: str) -> dict:
    """Follow `path` into a response; a null parent means the thing is gone, a missing key a mangled answer."""
    for key in path:
        data = _field(data, key, what)
        if data is None:
            raise SourceError(f"W&B found no {key} for {what}: it may have been deleted or renamed during the sync")
    return data


def _field(data: Any, key: str, what: str) -> Any:
    if not isinstance(data, dict) or key not in data:
        raise SourceError(
            f"W&B's answer to {what} lacks '{key}': the response does not have the documented shape; "
            "retry later or report it to W&B"
        )
    return data[key]
