{#- JSON, dispatched per adapter. The connector's JSON columns (a run's summary, a history step's metrics, a sweep's
    config) land as JSON on DuckDB and BigQuery and as VARIANT on Snowflake. Keys are W&B's own and are matched
    exactly, whatever they hold: `train/loss`, `val.acc`, `eval/f1 macro` (a dot never means nesting here; a path is
    a list of keys).

    - `json_extract(json, path, as)`: the value at `path` (a key, or a list of keys), `as` 'json' (the dialect's JSON
      value), 'string' (the text of a scalar; NULL for JSON null) or 'number' (a finite double, else NULL: the
      connector writes NaN and ±Infinity as the strings "NaN", "Infinity", "-Infinity").
    - `json_each(json, alias)` (a FROM-clause join) with `json_each_key(alias)` and `json_each_value(alias, json)`:
      one row per key of an object.
    - `json_object_agg(key, value)` and `json_array_agg(value)`: build JSON, keys and elements sorted. -#}

{%- macro json_extract(json, path, as='json') -%}
  {%- set keys = [path] if path is string else path -%}
  {{ return(adapter.dispatch('json_extract', 'wandb')(json, keys, as)) }}
{%- endmacro -%}

{%- macro json_extract_string(json, path) -%}{{ wandb.json_extract(json, path, 'string') }}{%- endmacro -%}
{%- macro json_extract_number(json, path) -%}{{ wandb.json_extract(json, path, 'number') }}{%- endmacro -%}

{#- A JSONPath of quoted keys, `$."a"."b/c"`, as a SQL string literal of the dialect. -#}
{%- macro _json_path(keys) -%}
  {%- set quoted = [] -%}
  {%- for key in keys -%}
    {%- do quoted.append('"' ~ key | replace('\\', '\\\\') | replace('"', '\\"') ~ '"') -%}
  {%- endfor -%}
  {{ wandb.string_literal("$." ~ quoted | join(".")) }}
{%- endmacro -%}

{#- NULL unless `number` is a finite double: NaN and ±Infinity compare as neither below nor equal to the largest
    double on DuckDB, Snowflake (NaN sorts above everything) and BigQuery (NaN compares false). -#}
{%- macro finite(number) -%}
  case when abs({{ number }}) <= 1.7976931348623157e308 then {{ number }} end
{%- endmacro -%}

{%- macro default__json_extract(json, keys, as) -%}
  {{ exceptions.raise_compiler_error("wandb.json_extract has no implementation for " ~ target.type ~ ": add a " ~ target.type ~ "__json_extract macro (see macros/json.sql)") }}
{%- endmacro -%}

{%- macro duckdb__json_extract(json, keys, as) -%}
  {%- if as == 'json' -%}
    json_extract({{ json }}, {{ wandb._json_path(keys) }})
  {%- elif as == 'string' -%}
    json_extract_string({{ json }}, {{ wandb._json_path(keys) }})
  {%- else -%}
    {#- dbt.safe_cast is a plain cast on DuckDB: a string such as "warmup" would fail the model. -#}
    {{ wandb.finite('try_cast(json_extract_string(' ~ json ~ ', ' ~ wandb._json_path(keys) ~ ') as double)') }}
  {%- endif -%}
{%- endmacro -%}

{%- macro snowflake__json_extract(json, keys, as) -%}
  {#- GET takes the key as it is: no path syntax to escape. A namespace carries the value out of the loop. -#}
  {%- set built = namespace(value=json) -%}
  {%- for key in keys -%}
    {%- set built.value = "get(" ~ built.value ~ ", " ~ wandb.string_literal(key) ~ ")" -%}
  {%- endfor -%}
  {%- set value = built.value -%}
  {%- if as == 'json' -%}
    {{ value }}
  {%- elif as == 'string' -%}
    strip_null_value({{ value }})::varchar
  {%- else -%}
    {{ wandb.finite('try_to_double(strip_null_value(' ~ value ~ ')::varchar)') }}
  {%- endif -%}
{%- endmacro -%}

{%- macro bigquery__json_extract(json, keys, as) -%}
  {%- if as == 'json' -%}
    json_query({{ json }}, {{ wandb._json_path(keys) }})
  {%- elif as == 'string' -%}
    json_value({{ json }}, {{ wandb._json_path(keys) }})
  {%- else -%}
    {{ wandb.finite('safe_cast(json_value(' ~ json ~ ', ' ~ wandb._json_path(keys) ~ ') as float64)') }}
  {%- endif -%}
{%- endmacro -%}


{%- macro json_each(json, alias) -%}
  {{ return(adapter.dispatch('json_each', 'wandb')(json, alias)) }}
{%- endmacro -%}

{%- macro default__json_each(json, alias) -%}
  {{ exceptions.raise_compiler_error('wandb.' ~ 'json_each has no implementation for ' ~ target.type) }}
{%- endmacro -%}

{%- macro duckdb__json_each(json, alias) -%}
  cross join json_each({{ json }}) as {{ alias }}
{%- endmacro -%}

{%- macro snowflake__json_each(json, alias) -%}
  , lateral flatten(input => {{ json }}) as {{ alias }}
{%- endmacro -%}

{%- macro bigquery__json_each(json, alias) -%}
  cross join unnest(json_keys({{ json }}, 1)) as {{ alias }}
{%- endmacro -%}

{%- macro json_each_key(alias) -%}
  {{ return(adapter.dispatch('json_each_key', 'wandb')(alias)) }}
{%- endmacro -%}

{%- macro default__json_each_key(alias) -%}{{ alias }}.key{%- endmacro -%}
{%- macro snowflake__json_each_key(alias) -%}{{ alias }}.key::varchar{%- endmacro -%}
{%- macro bigquery__json_each_key(alias) -%}{{ alias }}{%- endmacro -%}

{%- macro json_each_value(alias, json) -%}
  {{ return(adapter.dispatch('json_each_value', 'wandb')(alias, json)) }}
{%- endmacro -%}

{%- macro default__json_each_value(alias, json) -%}{{ alias }}.value{%- endmacro -%}
{%- macro bigquery__json_each_value(alias, json) -%}{{ json }}[{{ alias }}]{%- endmacro -%}


{#- A JSON object from rows of (text key, JSON value), keys sorted, a NULL value kept as JSON null. -#}
{%- macro json_object_agg(key, value) -%}
  {{ return(adapter.dispatch('json_object_agg', 'wandb')(key, value)) }}
{%- endmacro -%}

{%- macro default__json_object_agg(key, value) -%}
  {{ exceptions.raise_compiler_error('wandb.' ~ 'json_object_agg has no implementation for ' ~ target.type) }}
{%- endmacro -%}

{%- macro duckdb__json_object_agg(key, value) -%}
  cast('{' || {{ dbt.listagg("to_json(" ~ key ~ ") || ':' || coalesce(cast(" ~ value ~ " as " ~ dbt.type_string() ~ "), 'null')", "','", "order by " ~ key) }} || '}' as {{ wandb.type_json() }})
{%- endmacro -%}

{%- macro snowflake__json_object_agg(key, value) -%}
  object_agg({{ key }}, coalesce({{ value }}, parse_json('null')))
{%- endmacro -%}

{%- macro bigquery__json_object_agg(key, value) -%}
  json_object(array_agg({{ key }} order by {{ key }}), array_agg(coalesce({{ value }}, json 'null') order by {{ key }}))
{%- endmacro -%}

{#- A JSON array of the non-null values of a group, sorted. -#}
{%- macro json_array_agg(value) -%}
  {{ return(adapter.dispatch('json_array_agg', 'wandb')(value)) }}
{%- endmacro -%}

{%- macro default__json_array_agg(value) -%}
  {{ exceptions.raise_compiler_error('wandb.' ~ 'json_array_agg has no implementation for ' ~ target.type) }}
{%- endmacro -%}

{%- macro duckdb__json_array_agg(value) -%}
  coalesce(to_json(list({{ value }} order by {{ value }}) filter (where {{ value }} is not null)), {{ wandb.json_literal('[]') }})
{%- endmacro -%}

{%- macro snowflake__json_array_agg(value) -%}
  array_agg({{ value }}) within group (order by {{ value }})
{%- endmacro -%}

{%- macro bigquery__json_array_agg(value) -%}
  to_json(array_agg({{ value }} ignore nulls order by {{ value }}))
{%- endmacro -%}

{#- A JSON value written out, `'[]'` or `'{}'`, as the dialect's JSON. -#}
{%- macro json_literal(text) -%}
  {{ return(adapter.dispatch('json_literal', 'wandb')(text)) }}
{%- endmacro -%}

{%- macro default__json_literal(text) -%}cast({{ wandb.string_literal(text) }} as {{ wandb.type_json() }}){%- endmacro -%}
{%- macro snowflake__json_literal(text) -%}parse_json({{ wandb.string_literal(text) }}){%- endmacro -%}
{%- macro bigquery__json_literal(text) -%}parse_json({{ wandb.string_literal(text) }}){%- endmacro -%}
