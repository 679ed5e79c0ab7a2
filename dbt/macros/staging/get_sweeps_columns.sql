{#- The columns the connector declares for `sweeps` (wandb_connector/tables.py; a test keeps the two equal),
    with an alias where the name is a reserved word somewhere. -#}
{% macro get_sweeps_columns() %}

{% set columns = [
    {"name": "project_id", "datatype": dbt.type_string()},
    {"name": "sweep_id", "datatype": dbt.type_string()},
    {"name": "storage_id", "datatype": dbt.type_string()},
    {"name": "entity", "datatype": dbt.type_string()},
    {"name": "project", "datatype": dbt.type_string()},
    {"name": "url", "datatype": dbt.type_string()},
    {"name": "name", "datatype": dbt.type_string()},
    {"name": "display_name", "datatype": dbt.type_string()},
    {"name": "state", "datatype": dbt.type_string()},
    {"name": "method", "datatype": dbt.type_string()},
    {"name": "description", "datatype": dbt.type_string()},
    {"name": "metric_name", "datatype": dbt.type_string()},
    {"name": "metric_goal", "datatype": dbt.type_string()},
    {"name": "config", "datatype": wandb.type_json()},
    {"name": "best_run_id", "datatype": dbt.type_string()},
    {"name": "best_metric_value", "datatype": wandb.type_double()},
    {"name": "best_loss", "datatype": wandb.type_double()},
    {"name": "run_count", "datatype": dbt.type_bigint()},
    {"name": "expected_run_count", "datatype": dbt.type_bigint()},
    {"name": "created_at", "datatype": dbt.type_timestamp()},
    {"name": "updated_at", "datatype": dbt.type_timestamp()},
    {"name": "heartbeat_at", "datatype": dbt.type_timestamp()},
    {"name": "synced_at", "datatype": dbt.type_timestamp()},
    {"name": "_fivetran_synced", "datatype": dbt.type_timestamp()},
    {"name": "_fivetran_deleted", "datatype": dbt.type_boolean()}
] %}

{{ return(columns) }}

{% endmacro %}
