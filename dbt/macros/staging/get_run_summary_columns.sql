{#- The columns the connector declares for `run_summary` (wandb_connector/tables.py; a test keeps the two equal),
    with an alias where the name is a reserved word somewhere. -#}
{% macro get_run_summary_columns() %}

{% set columns = [
    {"name": "project_id", "datatype": dbt.type_string()},
    {"name": "run_id", "datatype": dbt.type_string()},
    {"name": "key", "datatype": dbt.type_string(), "alias": "key_name"},
    {"name": "path", "datatype": wandb.type_json()},
    {"name": "value_type", "datatype": dbt.type_string()},
    {"name": "number_value", "datatype": wandb.type_double()},
    {"name": "string_value", "datatype": dbt.type_string()},
    {"name": "boolean_value", "datatype": dbt.type_boolean()},
    {"name": "value_json", "datatype": wandb.type_json()},
    {"name": "synced_at", "datatype": dbt.type_timestamp()},
    {"name": "_fivetran_synced", "datatype": dbt.type_timestamp()},
    {"name": "_fivetran_deleted", "datatype": dbt.type_boolean()}
] %}

{{ return(columns) }}

{% endmacro %}
