{#- The types the staging models cast to, beside dbt's own `dbt.type_*`. -#}

{%- macro type_json() -%}
  {{ return(adapter.dispatch('type_json', 'wandb')()) }}
{%- endmacro -%}

{#- How Fivetran lands a JSON column: VARIANT on Snowflake, JSON on BigQuery and DuckDB, text elsewhere. -#}
{%- macro default__type_json() -%}{{ return(dbt.type_string()) }}{%- endmacro -%}
{%- macro duckdb__type_json() -%}{{ return('json') }}{%- endmacro -%}
{%- macro snowflake__type_json() -%}{{ return('variant') }}{%- endmacro -%}
{%- macro bigquery__type_json() -%}{{ return('json') }}{%- endmacro -%}

{%- macro type_double() -%}
  {{ return(adapter.dispatch('type_double', 'wandb')()) }}
{%- endmacro -%}

{#- `dbt.type_float()` is FLOAT, which DuckDB (and Spark) read as single precision: metrics need a double. -#}
{%- macro default__type_double() -%}{{ return(dbt.type_float()) }}{%- endmacro -%}
{%- macro duckdb__type_double() -%}{{ return('double') }}{%- endmacro -%}
{%- macro spark__type_double() -%}{{ return('double') }}{%- endmacro -%}
{%- macro snowflake__type_double() -%}{{ return('float') }}{%- endmacro -%}
{%- macro bigquery__type_double() -%}{{ return('float64') }}{%- endmacro -%}
