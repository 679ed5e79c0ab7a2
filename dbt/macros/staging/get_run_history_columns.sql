{#- The columns the connector declares for `run_history` (wandb_connector/tables.py; a test keeps the two equal),
    with an alias where the name is a reserved word somewhere. -#}
{% macro get_run_history_columns() %}

{% set columns = [
    {"name": "project_id", "datatype": dbt.type_string()},
    {"name": "run_id", "datatype": dbt.type_string()},
    {"name": "step", "datatype": dbt.type_bigint()},
    {"name": "timestamp", "datatype": dbt.type_timestamp(), "alias": "logged_at"},
    {"name": "runtime_seconds", "datatype": wandb.type_double()},
    {"name": "metrics", "datatype": wandb.type_json()},
    {"name": "synced_at", "datatype": dbt.type_timestamp()},
    {"name": "_fivetran_synced", "datatype": dbt.type_timestamp()},
    {"name": "_fivetran_deleted", "datatype": dbt.type_boolean()}
] %}

{{ return(columns) }}

{% endmacro %}
