-- Each sweep's runs ranked by the sweep's own metric (rank 1 = best for its goal; W&B's default goal, minimize,
-- when the sweep names none; ties go to the older run, as W&B's `Sweep.best_run()`), with the values the run had
-- for every parameter the sweep searches. Runs without a finite value of the metric are left out.
with sweeps as (

    select
        project_id,
        sweep_id,
        metric_name,
        metric_goal,
        case when lower(metric_goal) = 'maximize' then -1 else 1 end as direction
    from {{ ref('stg_wandb__sweeps') }}
    where metric_name is not null

), runs as (

    select project_id, run_id, sweep_id, created_at
    from {{ ref('stg_wandb__run_fields') }}
    where sweep_id is not null

), scored as (

    select
        sweeps.project_id,
        sweeps.sweep_id,
        runs.run_id,
        sweeps.metric_name,
        sweeps.metric_goal,
        summary.number_value as metric_value,
        row_number() over (
            partition by sweeps.project_id, sweeps.sweep_id
            order by sweeps.direction * summary.number_value, runs.created_at, runs.run_id
        ) as rank
    from sweeps
    join runs
        on runs.project_id = sweeps.project_id
        and runs.sweep_id = sweeps.sweep_id
    join {{ ref('stg_wandb__run_summary') }} as summary
        on summary.project_id = runs.project_id
        and summary.run_id = runs.run_id
        and summary.summary_key = {{ wandb.flat_key('sweeps.metric_name') }}
    where summary.number_value is not null

), parameters as (

    select * from {{ ref('int_wandb__sweep_parameters') }}

), candidates as (

    select
        scored.project_id,
        scored.sweep_id,
        scored.run_id,
        parameters.parameter,
        config.value_json,
        row_number() over (
            partition by scored.project_id, scored.sweep_id, scored.run_id, parameters.parameter
            order by parameters.priority
        ) as preference
    from scored
    join parameters
        on parameters.project_id = scored.project_id
        and parameters.sweep_id = scored.sweep_id
    join {{ ref('stg_wandb__run_config') }} as config
        on config.project_id = scored.project_id
        and config.run_id = scored.run_id
        and config.config_key = parameters.config_key

), searched as (

    select distinct project_id, sweep_id, parameter
    from parameters

), hyperparameters as (

    select
        scored.project_id,
        scored.sweep_id,
        scored.run_id,
        {{ wandb.json_object_agg('searched.parameter', 'candidates.value_json') }} as hyperparameters
    from scored
    join searched
        on searched.project_id = scored.project_id
        and searched.sweep_id = scored.sweep_id
    left join candidates
        on candidates.project_id = scored.project_id
        and candidates.sweep_id = scored.sweep_id
        and candidates.run_id = scored.run_id
        and candidates.parameter = searched.parameter
        and candidates.preference = 1
    group by scored.project_id, scored.sweep_id, scored.run_id

)

select
    scored.project_id,
    scored.sweep_id,
    scored.run_id,
    scored.metric_name,
    scored.metric_goal,
    scored.metric_value,
    scored.rank,
    coalesce(hyperparameters.hyperparameters, {{ wandb.json_literal('{}') }}) as hyperparameters
from scored
left join hyperparameters
    on hyperparameters.project_id = scored.project_id
    and hyperparameters.sweep_id = scored.sweep_id
    and hyperparameters.run_id = scored.run_id
