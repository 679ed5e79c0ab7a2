-- What each sweep searches: every parameter of its config's `parameters` that is not a constant (`value`), one
-- level of W&B's nested syntax (`params: {parameters: {lr: ...}}` is `params.lr`) included; and, for each, the
-- run_config keys that may hold a run's value, in order: the parameter's own key, then the same key under each
-- of `wandb__config_prefixes` (a team that nests its config under `params` and searches `learning_rate`).
with sweeps as (

    select
        project_id,
        sweep_id,
        {{ wandb.json_extract('config', 'parameters') }} as parameters
    from {{ ref('stg_wandb__sweeps') }}

), top_level as (

    select
        sweeps.project_id,
        sweeps.sweep_id,
        {{ wandb.json_each_key('p') }} as parameter,
        {{ wandb.flat_key(wandb.json_each_key('p')) }} as config_key,
        {{ wandb.json_each_value('p', 'sweeps.parameters') }} as spec
    from sweeps
    {{ wandb.json_each('sweeps.parameters', 'p') }}

), nested as (

    select
        top_level.project_id,
        top_level.sweep_id,
        {{ dbt.concat(['top_level.parameter', "'.'", wandb.json_each_key('n')]) }} as parameter,
        {{ dbt.concat(['top_level.config_key', "'.'", wandb.flat_key(wandb.json_each_key('n'))]) }} as config_key,
        {{ wandb.json_each_value('n', wandb.json_extract('top_level.spec', 'parameters')) }} as spec
    from top_level
    {{ wandb.json_each(wandb.json_extract('top_level.spec', 'parameters'), 'n') }}

), searched as (

    select project_id, sweep_id, parameter, config_key
    from top_level
    where {{ wandb.json_extract('spec', 'parameters') }} is null
      and {{ wandb.json_extract('spec', 'value') }} is null
    union all
    select project_id, sweep_id, parameter, config_key
    from nested
    where {{ wandb.json_extract('spec', 'parameters') }} is null
      and {{ wandb.json_extract('spec', 'value') }} is null

)

select project_id, sweep_id, parameter, config_key, 0 as priority
from searched
{%- for prefix in var('wandb__config_prefixes', []) %}
union all
select
    project_id,
    sweep_id,
    parameter,
    {{ dbt.concat([wandb.flat_key_literal(prefix), "'.'", 'config_key']) }} as config_key,
    {{ loop.index }} as priority
from searched
{%- endfor %}
