-- Each numeric config value of each live run beside the run's summary value of `wandb__target_metric` (NULL when
-- the run has none): what a parallel-coordinates or a scatter of "learning rate against eval/f1" reads.
with config as (

    select project_id, run_id, config_key, number_value
    from {{ ref('stg_wandb__run_config') }}
    where value_type = 'number' and number_value is not null

), runs as (

    select project_id, run_id from {{ ref('stg_wandb__run_fields') }}

), target as (

    {{ wandb.summary_values(var('wandb__target_metric')) }}

)

select
    config.project_id,
    config.run_id,
    config.config_key,
    config.number_value as config_value,
    cast({{ wandb.string_literal(var('wandb__target_metric')) }} as {{ dbt.type_string() }}) as target_metric,
    target.metric_value as target_value
from config
join runs
    on runs.project_id = config.project_id
    and runs.run_id = config.run_id
left join target
    on target.project_id = config.project_id
    and target.run_id = config.run_id
