{#- The rows where `model` and `expected` disagree, one line of `problem` each: a key in one and not the other, or
    a column whose values differ (`numbers` within a relative tolerance, `jsons` as parsed JSON, `values` exactly).
    DuckDB only: the integration tests run on DuckDB. -#}
{%- macro compare_to_expected(model, expected, keys, numbers=[], values=[], jsons=[], tolerance=1e-9) -%}
{%- set q = adapter.quote -%}
with actual as (

    select *, 1 as _in_model from {{ model }}

), wanted as (

    select *, 1 as _in_expected from {{ expected }}

), compared as (

    select
        {%- for key in keys %}
        coalesce(cast(actual.{{ q(key) }} as varchar), cast(wanted.{{ q(key) }} as varchar)) as {{ q(key) }},
        {%- endfor %}
        case
            when actual._in_model is null then 'expected, missing from the model'
            when wanted._in_expected is null then 'in the model, not expected'
            {%- for column in numbers %}
            when not (actual.{{ q(column) }} is null and wanted.{{ q(column) }} is null)
                and (actual.{{ q(column) }} is null or wanted.{{ q(column) }} is null
                     or abs(actual.{{ q(column) }} - wanted.{{ q(column) }})
                        > {{ tolerance }} * greatest(1, abs(wanted.{{ q(column) }})))
                then '{{ column }}: ' || coalesce(cast(actual.{{ q(column) }} as varchar), 'NULL')
                    || ', expected ' || coalesce(cast(wanted.{{ q(column) }} as varchar), 'NULL')
            {%- endfor %}
            {%- for column in values %}
            when actual.{{ q(column) }} is distinct from wanted.{{ q(column) }}
                then '{{ column }}: ' || coalesce(cast(actual.{{ q(column) }} as varchar), 'NULL')
                    || ', expected ' || coalesce(cast(wanted.{{ q(column) }} as varchar), 'NULL')
            {%- endfor %}
            {%- for column in jsons %}
            when cast(json(cast(actual.{{ q(column) }} as varchar)) as varchar)
                is distinct from cast(json(cast(wanted.{{ q(column) }} as varchar)) as varchar)
                then '{{ column }}: ' || coalesce(cast(actual.{{ q(column) }} as varchar), 'NULL')
                    || ', expected ' || coalesce(cast(wanted.{{ q(column) }} as varchar), 'NULL')
            {%- endfor %}
        end as problem
    from actual
    full outer join wanted
        on {% for key in keys %}actual.{{ q(key) }} is not distinct from wanted.{{ q(key) }}{{ " and " if not loop.last }}{% endfor %}

)

select * from compared where problem is not null
{%- endmacro -%}
