{#- A composite foreign key: every row of `model` whose `columns` are all set has a row of `to` with the same
    values in `to_columns` (by default the same names). -#}
{%- test relationships_combination(model, columns, to, to_columns=none) -%}
{%- set targets = to_columns or columns -%}
select {% for column in columns %}child.{{ column }}{{ ", " if not loop.last }}{% endfor %}
from {{ model }} as child
where {% for column in columns %}child.{{ column }} is not null and {% endfor %}not exists (
    select 1 from {{ to }} as parent
    where {% for column in columns %}parent.{{ targets[loop.index0] }} = child.{{ column }}{{ " and " if not loop.last }}{% endfor %}
)
{%- endtest -%}
