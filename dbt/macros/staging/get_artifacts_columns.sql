{#- The columns the connector declares for `artifacts` (wandb_connector/tables.py; a test keeps the two equal),
    with an alias where the name is a reserved word somewhere. -#}
{% macro get_artifacts_columns() %}

{% set columns = [
    {"name": "artifact_id", "datatype": dbt.type_string()},
    {"name": "entity", "datatype": dbt.type_string()},
    {"name": "project_id", "datatype": dbt.type_string()},
    {"name": "source_project", "datatype": dbt.type_string()},
    {"name": "collection", "datatype": dbt.type_string()},
    {"name": "name", "datatype": dbt.type_string()},
    {"name": "type", "datatype": dbt.type_string()},
    {"name": "version", "datatype": dbt.type_string()},
    {"name": "version_index", "datatype": dbt.type_bigint()},
    {"name": "aliases", "datatype": wandb.type_json()},
    {"name": "tags", "datatype": wandb.type_json()},
    {"name": "state", "datatype": dbt.type_string()},
    {"name": "size", "datatype": dbt.type_bigint()},
    {"name": "file_count", "datatype": dbt.type_bigint()},
    {"name": "digest", "datatype": dbt.type_string()},
    {"name": "commit_hash", "datatype": dbt.type_string()},
    {"name": "description", "datatype": dbt.type_string()},
    {"name": "metadata", "datatype": wandb.type_json()},
    {"name": "created_at", "datatype": dbt.type_timestamp()},
    {"name": "updated_at", "datatype": dbt.type_timestamp()},
    {"name": "run_id", "datatype": dbt.type_string()},
    {"name": "run_project_id", "datatype": dbt.type_string()},
    {"name": "synced_at", "datatype": dbt.type_timestamp()},
    {"name": "_fivetran_synced", "datatype": dbt.type_timestamp()},
    {"name": "_fivetran_deleted", "datatype": dbt.type_boolean()}
] %}

{{ return(columns) }}

{% endmacro %}
