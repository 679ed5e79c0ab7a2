{#- Every column a staging model expects, whether or not the raw table has it (Fivetran's fill_staging_columns
    pattern): a column the table has is selected as it is (quoted as the warehouse spells it), a column it lacks
    is a typed NULL. A table no upsert has reached yet has no `_fivetran_*` columns; an older connector lacks the
    newer columns; a missing table has none at all. `alias` renames a column whose name is reserved somewhere. -#}
{%- macro fill_staging_columns(source_columns, staging_columns) -%}
  {%- set present = {} -%}
  {%- for column in source_columns -%}
    {%- do present.update({column.name | lower: column}) -%}
  {%- endfor -%}
  {%- for column in staging_columns %}
    {%- set name = column.alias if column.alias else column.name %}
    {%- if column.name | lower in present %}
    {{ present[column.name | lower].quoted }} as {{ name }}
    {%- else %}
    cast(null as {{ column.datatype }}) as {{ name }}
    {%- endif %}{{ "," if not loop.last }}
  {%- endfor %}
{%- endmacro -%}
