{#- `select * from` a connector table, or, when the warehouse has no such table (a connection that never wrote it,
    a table a team excluded), an empty relation, with a warning, so the package still builds (Fivetran's pattern;
    `fivetran__remove_empty_table_warnings: true` silences it). -#}
{%- macro wandb_source(table) -%}
  {%- set src = source('wandb', table) -%}
  {%- set relation = adapter.get_relation(database=src.database, schema=src.schema, identifier=src.identifier) if execute else src -%}
  {%- if relation is not none %}
select * from {{ relation }}
  {%- else -%}
    {%- if execute and not var('fivetran__remove_empty_table_warnings', false) -%}
      {{ exceptions.warn("wandb: no table " ~ src ~ ": stg_wandb__" ~ table ~ " is built empty") }}
    {%- endif %}
select cast(null as {{ dbt.type_string() }}) as _dbt_source_relation
limit 0
  {%- endif -%}
{%- endmacro -%}
