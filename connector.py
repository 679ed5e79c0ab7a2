"""Weights & Biases → Fivetran: projects, runs with their full history and system metrics, artifact versions, sweeps and
members of one W&B entity, via its API.

Fivetran calls `schema()` for the tables, then `update()` for each sync with the configuration and the state the
last sync checkpointed. The logic lives in the `wandb_connector` package beside this file; this file is the
contract Fivetran reads. Run locally with `fivetran debug` (or `make demo` for a sync without a W&B account).
"""

from fivetran_connector_sdk import Connector
from fivetran_connector_sdk import Logging as log

from wandb_connector.form import build_form
from wandb_connector.registry import declarations, validate_configuration
from wandb_connector.sync import sync


def schema(configuration: dict) -> list[dict]:
    """Every table with its primary key and column types, from the one table registry."""
    return declarations()


def update(configuration: dict, state: dict) -> None:
    """One sync: validate the configuration before any request, then walk the entity and checkpoint per page."""
    settings = validate_configuration(configuration)
    log.info(f"syncing W&B entity '{settings.entity}' from {settings.base_url or 'W&B cloud'}")
    sync(settings, state)


def configuration_form():
    """The setup form Fivetran shows: one field per configuration key, and a connection test."""
    return build_form()


connector = Connector(update=update, schema=schema, configuration_form=configuration_form)

if __name__ == "__main__":
    connector.debug()
