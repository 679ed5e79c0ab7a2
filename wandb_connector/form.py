"""The setup form Fivetran renders, derived from the options (`registry.OPTIONS`), and its connection test (the
same checks and messages a sync uses)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fivetran_connector_sdk import ConfigurationForm, Test, form_field

from .client import WandbClient, prepare_environment
from .errors import ConnectorError
from .registry import OPTIONS, validate_configuration
from .settings import Option
from .tables.projects import check_access, list_projects


def fields() -> list[Option]:
    """The form's fields: the required options first (the key, the entity), then the others as declared."""
    return sorted(OPTIONS, key=lambda option: not option.required)


def build_form() -> ConfigurationForm:
    form = ConfigurationForm()
    for option in fields():
        kind = form_field.TextField.password if option.secret else form_field.TextField.plain_text
        form.add_field(
            form_field.TextField(
                option.key,
                option.label,
                kind,
                description=option.help,
                required=option.required,
                placeholder=option.placeholder,
            )
        )
    form.add_test(label="Connect to W&B and read the entity", func=connection_test)
    return form


def connection_test(configuration: dict) -> Test:
    """Check the configuration, the server, the key and read access to the entity, with a sync's messages."""
    try:
        settings = validate_configuration(configuration)
        with tempfile.TemporaryDirectory(prefix="wandb-connector-", ignore_cleanup_errors=True) as scratch:
            prepare_environment(Path(scratch))
            client = WandbClient(settings)
            check_access(client, settings.entity, listing=True)
            if settings.projects or settings.exclude_projects:
                listed = list(list_projects(client, settings.entity))
                settings.unmatched_globs(set(listed))
                settings.check_selection(listed, [name for name in listed if settings.wants(name)])
    except ConnectorError as error:
        return Test.failure(str(error))
    return Test.success()
