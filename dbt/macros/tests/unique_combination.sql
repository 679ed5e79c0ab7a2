{#- A composite key: no two rows share the values of `columns` (a NULL counts as a value). -#}
{%- test unique_combination(model, columns) -%}
select {{ columns | join(', ') }}, count(*) as rows_with_this_key
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{%- endtest -%}
