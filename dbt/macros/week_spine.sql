{#- The Mondays from the week of the earliest `column` in `relation` to the week of `as_of`, one row each
    (`week_start`), counted when the model runs (dbt's date_spine does the same); one week when there is nothing. -#}
{%- macro week_spine(relation, column) -%}
  {%- set weeks = 1 -%}
  {%- if execute -%}
    {%- set first = "(select min(" ~ column ~ ") from " ~ relation ~ ")" -%}
    {%- set days = run_query("select " ~ dbt.datediff(first, wandb.as_of(), 'day')).columns[0].values()[0] -%}
    {%- if days is not none and days > 0 -%}
      {%- set weeks = (days / 7) | int + 2 -%}
    {%- endif -%}
  {%- endif -%}
  select {{ dbt.dateadd('week', '1 - generated_number', wandb.week_start(wandb.as_of())) }} as week_start
  from ({{ dbt.generate_series(weeks) }}) as numbers
{%- endmacro -%}
