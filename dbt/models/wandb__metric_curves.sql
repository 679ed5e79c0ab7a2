-- The `wandb__curve_metrics` each run logged, one row per run, step and metric: `value` is the logged number
-- (NULL where it was NaN, ±Infinity or not a number), for every step whose history holds the metric.
{%- set metrics = var('wandb__curve_metrics', []) %}
with history as (

    select project_id, run_id, step, metrics
    from {{ ref('stg_wandb__run_history') }}

)
{%- for metric in metrics %}
select
    project_id,
    run_id,
    step,
    cast({{ wandb.string_literal(metric) }} as {{ dbt.type_string() }}) as metric,
    {{ wandb.json_extract_number('metrics', metric) }} as value
from history
where {{ wandb.json_extract('metrics', metric) }} is not null
{% if not loop.last %}union all{% endif %}
{%- else %}
select
    project_id,
    run_id,
    step,
    cast(null as {{ dbt.type_string() }}) as metric,
    cast(null as {{ wandb.type_double() }}) as value
from history
where 1 = 0
{%- endfor %}
