{#- The columns the connector declares for `users` (wandb_connector/tables.py; a test keeps the two equal),
    with an alias where the name is a reserved word somewhere. -#}
{% macro get_users_columns() %}

{% set columns = [
    {"name": "username", "datatype": dbt.type_string()},
    {"name": "entity", "datatype": dbt.type_string()},
    {"name": "user_id", "datatype": dbt.type_string()},
    {"name": "name", "datatype": dbt.type_string()},
    {"name": "account_type", "datatype": dbt.type_string()},
    {"name": "admin", "datatype": dbt.type_boolean()},
    {"name": "pending", "datatype": dbt.type_boolean()},
    {"name": "email", "datatype": dbt.type_string()},
    {"name": "synced_at", "datatype": dbt.type_timestamp()},
    {"name": "_fivetran_synced", "datatype": dbt.type_timestamp()},
    {"name": "_fivetran_deleted", "datatype": dbt.type_boolean()}
] %}

{{ return(columns) }}

{% endmacro %}
