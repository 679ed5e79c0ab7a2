"""The setup form Fivetran renders, and its connection test (the same checks and messages a sync uses)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fivetran_connector_sdk import ConfigurationForm, Test, form_field

from .client import WandbClient, prepare_environment
from .errors import ConnectorError
from .settings import validate_configuration


def build_form() -> ConfigurationForm:
    form = ConfigurationForm()
    form.add_field(
        form_field.TextField(
            "api_key",
            "W&B API key",
            form_field.TextField.password,
            description="A key of a user or service account that can read the entity: https://wandb.ai/authorize",
            required=True,
        )
    )
    form.add_field(
        form_field.TextField(
            "entity",
            "Entity",
            description="The W&B team or user whose projects to sync, as in https://wandb.ai/<entity>",
            required=True,
            placeholder="my-team",
        )
    )
    form.add_field(
        form_field.TextField(
            "base_url",
            "API base URL",
            description="Leave empty for W&B cloud; for dedicated or self-managed W&B, the server's API address",
            placeholder="https://api.wandb.example.com",
        )
    )
    form.add_test(label="Connect to W&B and read the entity", func=connection_test)
    return form


def connection_test(configuration: dict) -> Test:
    """Check the configuration, the key and read access to the entity, with the messages a sync would give."""
    try:
        settings = validate_configuration(configuration)
        with tempfile.TemporaryDirectory(prefix="wandb-connector-", ignore_cleanup_errors=True) as scratch:
            prepare_environment(Path(scratch))
            WandbClient(settings).check_access()
    except ConnectorError as error:
        return Test.failure(str(error))
    return Test.success()
