{#- The end of "the last 7 days": `wandb__as_of` (UTC) when a test or a team pins it, else now, as a timestamp in
    UTC without a zone, like every timestamp the staging models give. -#}
{%- macro as_of() -%}
  {%- set pinned = var('wandb__as_of', none) -%}
  {%- if pinned -%}
    cast('{{ pinned }}' as {{ dbt.type_timestamp() }})
  {%- else -%}
    cast({{ dbt.current_timestamp_in_utc_backcompat() }} as {{ dbt.type_timestamp() }})
  {%- endif -%}
{%- endmacro -%}

{#- The start of the window (`as_of` - 7 days, `as_of`]: a time is in it when > this and <= `as_of`. -#}
{%- macro window_start() -%}
  {{ dbt.dateadd('day', -7, wandb.as_of()) }}
{%- endmacro -%}

{%- macro in_window(column) -%}
  ({{ column }} > {{ wandb.window_start() }} and {{ column }} <= {{ wandb.as_of() }})
{%- endmacro -%}

{#- Hours from one timestamp to another (negative when `end` is earlier). -#}
{%- macro hours_between(start, end) -%}
  ({{ dbt.datediff(start, end, 'second') }} / 3600.0)
{%- endmacro -%}

{#- The Monday 00:00 of the week a timestamp falls in (ISO weeks; BigQuery's WEEK starts on Sunday). -#}
{%- macro week_start(column) -%}
  {{ return(adapter.dispatch('week_start', 'wandb')(column)) }}
{%- endmacro -%}

{%- macro default__week_start(column) -%}
  cast({{ dbt.date_trunc('week', column) }} as {{ dbt.type_timestamp() }})
{%- endmacro -%}

{%- macro bigquery__week_start(column) -%}
  timestamp_trunc({{ column }}, isoweek)
{%- endmacro -%}

{%- macro snowflake__week_start(column) -%}
  {#- Snowflake's WEEK follows the session's WEEK_START (0, ISO, by default): name Monday outright. -#}
  dateadd('day', -(dayofweekiso({{ column }}) - 1), date_trunc('day', {{ column }}))
{%- endmacro -%}
