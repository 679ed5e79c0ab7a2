{#- The columns the connector declares for `artifact_lineage` (wandb_connector/tables.py; a test keeps the two equal),
    with an alias where the name is a reserved word somewhere. -#}
{% macro get_artifact_lineage_columns() %}

{% set columns = [
    {"name": "project_id", "datatype": dbt.type_string()},
    {"name": "run_id", "datatype": dbt.type_string()},
    {"name": "artifact_id", "datatype": dbt.type_string()},
    {"name": "direction", "datatype": dbt.type_string()},
    {"name": "artifact_project_id", "datatype": dbt.type_string()},
    {"name": "artifact_name", "datatype": dbt.type_string()},
    {"name": "artifact_collection", "datatype": dbt.type_string()},
    {"name": "artifact_version", "datatype": dbt.type_string()},
    {"name": "artifact_type", "datatype": dbt.type_string()},
    {"name": "synced_at", "datatype": dbt.type_timestamp()},
    {"name": "_fivetran_synced", "datatype": dbt.type_timestamp()},
    {"name": "_fivetran_deleted", "datatype": dbt.type_boolean()}
] %}

{{ return(columns) }}

{% endmacro %}
