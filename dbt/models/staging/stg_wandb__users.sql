-- One row per live member of the entity.
with base as (

    select * from {{ ref('stg_wandb__users_tmp') }}

), filled as (

    select
        {{
            wandb.fill_staging_columns(
                source_columns=adapter.get_columns_in_relation(ref('stg_wandb__users_tmp')),
                staging_columns=get_users_columns()
            )
        }}
    from base

), fields as (

    select
        cast(username as {{ dbt.type_string() }}) as username,
        cast(entity as {{ dbt.type_string() }}) as entity,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(name as {{ dbt.type_string() }}) as full_name,
        cast(account_type as {{ dbt.type_string() }}) as account_type,
        cast(admin as {{ dbt.type_boolean() }}) as is_admin,
        cast(pending as {{ dbt.type_boolean() }}) as is_pending,
        cast(email as {{ dbt.type_string() }}) as email,
        cast(synced_at as {{ dbt.type_timestamp() }}) as synced_at,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as _fivetran_synced
    from filled
    where not coalesce(_fivetran_deleted, false)

)

select * from fields
