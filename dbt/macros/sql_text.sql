{#- Text in SQL: a string literal, and W&B's flattened key of a top-level name (the connector's `run_config` and
    `run_summary` keys: nested keys joined by `.`, a `.` or a `\` inside a key escaped with a backslash). -#}

{%- macro string_literal(value) -%}
  {{ return(adapter.dispatch('string_literal', 'wandb')(value)) }}
{%- endmacro -%}

{%- macro default__string_literal(value) -%}
  '{{ value | replace("'", "''") }}'
{%- endmacro -%}

{#- Snowflake and BigQuery read a backslash in a literal as an escape. -#}
{%- macro snowflake__string_literal(value) -%}
  '{{ value | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro -%}

{%- macro bigquery__string_literal(value) -%}
  '{{ value | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro -%}

{#- The flattened key of the top-level name `value` (a Python string), as a SQL literal. -#}
{%- macro flat_key_literal(value) -%}
  {{ wandb.string_literal(value | replace("\\", "\\\\") | replace(".", "\\.")) }}
{%- endmacro -%}

{#- The flattened key of the top-level name in the text column or expression `column`. -#}
{%- macro flat_key(column) -%}
  {%- set backslash = wandb.string_literal("\\") -%}
  {%- set escaped_backslash = wandb.string_literal("\\\\") -%}
  {%- set escaped_dot = wandb.string_literal("\\.") -%}
  replace(replace({{ column }}, {{ backslash }}, {{ escaped_backslash }}), '.', {{ escaped_dot }})
{%- endmacro -%}

{#- The summary value of a top-level metric name as a finite number: one row per run that logged it. -#}
{%- macro summary_values(metric) -%}
  select project_id, run_id, number_value as metric_value
  from {{ ref('stg_wandb__run_summary') }}
  where summary_key = {{ wandb.flat_key_literal(metric) }}
    and number_value is not null
{%- endmacro -%}

{#- The keyword of a recursive CTE's union: UNION drops a chain's repeats (and ends a cycle) where it is allowed;
    Snowflake and BigQuery allow only UNION ALL. -#}
{%- macro recursive_union() -%}
  {{ return(adapter.dispatch('recursive_union', 'wandb')()) }}
{%- endmacro -%}

{%- macro default__recursive_union() -%}union{%- endmacro -%}
{%- macro snowflake__recursive_union() -%}union all{%- endmacro -%}
{%- macro bigquery__recursive_union() -%}union all{%- endmacro -%}
