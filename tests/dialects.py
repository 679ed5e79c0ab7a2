"""Compile the package's dispatched macros as dbt would for an adapter that does not run here (Snowflake, BigQuery),
and parse the SQL with sqlglot in that dialect. Run by `.venv-dbt`'s Python (tests/test_dbt_package.py):

    .venv-dbt/bin/python tests/dialects.py <work folder> snowflake bigquery
    → {"snowflake": {"sql": "...", "error": null, "models": {"wandb__runs": null, ...}}, "bigquery": {...}}

dbt picks `<adapter>__<macro>` by the adapter it is connected with; here that is DuckDB, so the package's dispatch
is pointed at the adapter named instead (nested dispatches included), with `default__` after it as dbt does.
The snippet below exercises every dispatched macro; the marts are compiled too (all but the weekly one, whose week
count is queried while it compiles), though their calls of dbt's own cross-database macros (`dateadd`, `listagg`)
still render as DuckDB's: those versions live in adapters that are not installed here.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import sqlglot
from dbt.cli.main import dbtRunner
from dbt.context import providers
from dbt_common.exceptions import CompilationError

PACKAGE = Path(__file__).resolve().parent.parent / "dbt"

# Every dispatched macro of the package, with the keys a W&B team logs: slashes, dots, spaces, quotes, backslashes.
SNIPPET = """
with recursive chain as (select 1 as a {{ wandb.recursive_union() }} select a + 1 from chain where a < 3)
select
    {{ wandb.json_extract('metrics', 'train/loss') }} as loss_json,
    {{ wandb.json_extract_string('metrics', 'eval/f1 macro') }} as f1_text,
    {{ wandb.json_extract_number('metrics', 'val.acc') }} as accuracy,
    {{ wandb.json_extract_number('metrics', ["it's", 'a "quoted\\\\key"']) }} as nested,
    {{ wandb.json_extract('config', ['parameters', 'params']) }} as spec,
    {{ wandb.json_each_key('p') }} as parameter,
    {{ wandb.json_each_value('p', 'config') }} as parameter_spec,
    {{ wandb.flat_key(wandb.json_each_key('p')) }} as config_key,
    {{ wandb.flat_key_literal('optimizer.lr') }} as literal_key,
    {{ wandb.string_literal("it's a \\\\ path") }} as text,
    {{ wandb.week_start('created_at') }} as week_start,
    cast(null as {{ wandb.type_json() }}) as typed_json,
    cast(null as {{ wandb.type_double() }}) as typed_double,
    {{ wandb.json_literal('[]') }} as empty_list
from history
{{ wandb.json_each('config', 'p') }}
union all
select
    null, null, null, null, null, null, null, null, null, null, null, null, null,
    {{ wandb.json_object_agg('parameter', 'value_json') }}
from parameters
union all
select
    null, null, null, null, null, null, null, null, null, null, null, null, null,
    {{ wandb.json_array_agg('artifact_id') }}
from ancestry
"""


def point_dispatch_at(dialect: str) -> None:
    """The package's `adapter.dispatch(..., 'wandb')` looks for `<dialect>__` then `default__`; dbt's own macros
    (the adapter's cache, its materializations) still dispatch to DuckDB, which is what runs."""
    dispatch = providers.BaseDatabaseWrapper.dispatch

    def pointed(self, macro_name, macro_namespace=None, packages=None):
        if macro_namespace == "wandb":
            for prefix in (dialect, "default"):
                try:
                    macro = self._namespace.get_from_package("wandb", f"{prefix}__{macro_name}")
                except CompilationError:
                    macro = None
                if macro is not None:
                    return macro
        return dispatch(self, macro_name, macro_namespace, packages)

    providers.BaseDatabaseWrapper.dispatch = pointed


MARTS = (
    "wandb__runs wandb__project_metrics wandb__failure_rate wandb__sweep_leaderboard wandb__metric_curves "
    "wandb__hyperparameter_effects wandb__artifact_ancestry wandb__best_model_datasets"
)


def compile_for(dialect: str, work: Path, select: str | None = None) -> dict[str, str]:
    """The snippet (or, with `select`, those models) compiled for `dialect`: {node name: SQL}."""
    point_dispatch_at(dialect)
    os.environ.setdefault("WANDB_WAREHOUSE", ":memory:")
    os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    arguments = ["compile", *(["--select", select] if select else ["--inline", SNIPPET])]
    arguments += ["--project-dir", str(PACKAGE), "--profiles-dir", str(PACKAGE)]
    # One target folder for every dialect: the second compile reuses the first one's parse (partial parsing).
    arguments += ["--quiet", "--target-path", str(work), "--log-path", str(work)]
    result = dbtRunner().invoke(arguments)
    if not result.success:
        raise SystemExit(f"dbt compile failed: {result.exception}")
    nodes = [r.node for r in result.result.results if r.node.resource_type == "model" or not select]
    return {node.name: node.compiled_code for node in nodes}


def parse_error(sql: str, dialect: str) -> str | None:
    try:
        sqlglot.parse_one(sql, read=dialect)
    except sqlglot.errors.ParseError as problem:
        return str(problem)
    return None


def main() -> None:
    work, dialects = Path(sys.argv[1]), sys.argv[2:]
    found = {}
    for dialect in dialects:
        (snippet,) = compile_for(dialect, work).values()
        models = compile_for(dialect, work, MARTS)
        found[dialect] = {
            "sql": snippet,
            "error": parse_error(snippet, dialect),
            "models": {name: parse_error(sql, dialect) for name, sql in models.items()},
        }
    print(json.dumps(found))


if __name__ == "__main__":
    main()
