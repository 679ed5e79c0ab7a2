{#- The columns the connector declares for `run_fields` (wandb_connector/tables.py; a test keeps the two equal),
    with an alias where the name is a reserved word somewhere. -#}
{% macro get_run_fields_columns() %}

{% set columns = [
    {"name": "project_id", "datatype": dbt.type_string()},
    {"name": "run_id", "datatype": dbt.type_string()},
    {"name": "storage_id", "datatype": dbt.type_string()},
    {"name": "name", "datatype": dbt.type_string()},
    {"name": "state", "datatype": dbt.type_string()},
    {"name": "entity", "datatype": dbt.type_string()},
    {"name": "project", "datatype": dbt.type_string()},
    {"name": "path", "datatype": dbt.type_string()},
    {"name": "url", "datatype": dbt.type_string()},
    {"name": "user", "datatype": dbt.type_string(), "alias": "username"},
    {"name": "tags", "datatype": wandb.type_json()},
    {"name": "group", "datatype": dbt.type_string(), "alias": "run_group"},
    {"name": "job_type", "datatype": dbt.type_string()},
    {"name": "sweep_name", "datatype": dbt.type_string()},
    {"name": "notes", "datatype": dbt.type_string()},
    {"name": "commit", "datatype": dbt.type_string(), "alias": "commit_id"},
    {"name": "host", "datatype": dbt.type_string()},
    {"name": "read_only", "datatype": dbt.type_boolean()},
    {"name": "created_at", "datatype": dbt.type_timestamp()},
    {"name": "updated_at", "datatype": dbt.type_timestamp()},
    {"name": "heartbeat_at", "datatype": dbt.type_timestamp()},
    {"name": "ended_at", "datatype": dbt.type_timestamp()},
    {"name": "runtime_seconds", "datatype": wandb.type_double()},
    {"name": "gpu_count", "datatype": dbt.type_bigint()},
    {"name": "gpu_hours", "datatype": wandb.type_double()},
    {"name": "gpu_type", "datatype": dbt.type_string()},
    {"name": "cpu_count", "datatype": dbt.type_bigint()},
    {"name": "os", "datatype": dbt.type_string()},
    {"name": "python_version", "datatype": dbt.type_string()},
    {"name": "program", "datatype": dbt.type_string()},
    {"name": "code_path", "datatype": dbt.type_string()},
    {"name": "args", "datatype": wandb.type_json()},
    {"name": "executable", "datatype": dbt.type_string()},
    {"name": "git_remote", "datatype": dbt.type_string()},
    {"name": "git_commit", "datatype": dbt.type_string()},
    {"name": "last_step", "datatype": dbt.type_bigint()},
    {"name": "history_line_count", "datatype": dbt.type_bigint()},
    {"name": "config", "datatype": wandb.type_json()},
    {"name": "summary", "datatype": wandb.type_json()},
    {"name": "system_metrics", "datatype": wandb.type_json()},
    {"name": "synced_at", "datatype": dbt.type_timestamp()},
    {"name": "_fivetran_synced", "datatype": dbt.type_timestamp()},
    {"name": "_fivetran_deleted", "datatype": dbt.type_boolean()}
] %}

{{ return(columns) }}

{% endmacro %}
