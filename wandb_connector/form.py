"""The setup form Fivetran renders, and its connection test (the same checks and messages a sync uses)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fivetran_connector_sdk import ConfigurationForm, Test, form_field

from .client import WandbClient, prepare_environment
from .errors import ConnectorError
from .settings import (
    DEFAULT_HISTORY_MAX_STEPS,
    DEFAULT_RECONCILE_HOURS,
    DEFAULT_REQUESTS_PER_MINUTE,
    validate_configuration,
)

FIELDS = (
    (
        "api_key",
        "W&B API key",
        True,
        "A W&B API key of a user or service account that can read the entity. "
        "Create one at https://wandb.ai/authorize (on your own W&B server: its /authorize page).",
        None,
    ),
    (
        "entity",
        "Entity",
        True,
        "The W&B team or user whose projects to sync: the name in https://wandb.ai/<entity>.",
        "my-team",
    ),
    (
        "base_url",
        "API base URL",
        False,
        "Leave empty for W&B cloud. For dedicated or self-managed W&B, the server's API address (not the UI address).",
        "https://api.wandb.example.com",
    ),
    (
        "projects",
        "Projects",
        False,
        "Comma-separated project names or globs to sync, like nlp-*, vision. Empty "
        "syncs every project, including ones created later. A project left out later keeps its rows as they were.",
        "nlp-*, vision-baselines",
    ),
    (
        "exclude_projects",
        "Excluded projects",
        False,
        "Comma-separated project names or globs to leave out. An excluded project's rows already synced stay "
        "as they were (not deleted, no longer updated).",
        "scratch-*",
    ),
    (
        "reconcile_interval_hours",
        "Reconcile every (hours)",
        False,
        "How often a sync re-reads everything and marks "
        f"what W&B deleted. Default {DEFAULT_RECONCILE_HOURS:g}; 0 reconciles on every sync.",
        "24",
    ),
    (
        "requests_per_minute",
        "Requests per minute",
        False,
        "The most requests a sync sends to W&B in any minute: the key's rate limit. "
        f"Default {DEFAULT_REQUESTS_PER_MINUTE} (W&B's lower plans); raise it on a plan that allows more.",
        str(DEFAULT_REQUESTS_PER_MINUTE),
    ),
    (
        "include_emails",
        "Sync email addresses",
        False,
        "Whether the users table holds each member's email address (personal data). Default false: the "
        "column stays empty and W&B is not asked for it.",
        "false",
    ),
    (
        "history",
        "Sync run history",
        False,
        "Whether run_history holds every step each run logged (one row per run and step: usually most of the "
        "rows, and of the bill; `make estimate` says how many). Default false.",
        "false",
    ),
    (
        "history_keys",
        "History metrics",
        False,
        "Comma-separated metric names or globs to keep in run_history, like train/*, eval/f1. Empty keeps "
        "every metric; steps that log none of them are left out.",
        "train/*, eval/*",
    ),
    (
        "history_max_steps",
        "History steps per run",
        False,
        "The most history steps synced per run; a run with more is cut there, with a warning naming it. "
        f"Default {DEFAULT_HISTORY_MAX_STEPS}.",
        str(DEFAULT_HISTORY_MAX_STEPS),
    ),
    (
        "system_metrics",
        "Sync system metrics",
        False,
        "Whether run_system_metrics holds each run's GPU, CPU, memory, disk and network samples. Default true.",
        "true",
    ),
    (
        "lineage",
        "Sync artifact lineage",
        False,
        "Whether artifact_lineage holds every run's input and output artifact versions. Default true.",
        "true",
    ),
    (
        "run_config",
        "Sync run config as rows",
        False,
        "Whether run_config holds one row per run and config key, typed for SQL. Default true.",
        "true",
    ),
    (
        "run_summary",
        "Sync run summaries as rows",
        False,
        "Whether run_summary holds one row per run and summary metric, typed for SQL. Default true.",
        "true",
    ),
)


def build_form() -> ConfigurationForm:
    form = ConfigurationForm()
    for name, label, required, description, placeholder in FIELDS:
        kind = form_field.TextField.password if name == "api_key" else form_field.TextField.plain_text
        form.add_field(
            form_field.TextField(name, label, kind, description=description, required=required, placeholder=placeholder)
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
            client.check_access(listing=True)
            if settings.projects or settings.exclude_projects:
                listed = list(client.projects())
                settings.unmatched_globs(set(listed))
                settings.check_selection(listed, [name for name in listed if settings.wants(name)])
    except ConnectorError as error:
        return Test.failure(str(error))
    return Test.success()
