"""`make dbt`: `dbt build` of the W&B package (dbt/) on a connector warehouse, with dbt from its own venv.

The package reads the connector's tables from the schema the connector wrote, found in the warehouse (not assumed),
and writes its models beside them in the same DuckDB file: staging in `analytics_wandb_source`, marts in
`analytics_wandb`. Stdlib and duckdb only, so `.venv` (the demo, the tests) and `.venv-dbt` can both import it; dbt
itself always runs from `.venv-dbt` (DBT_VENV), apart from the connector's venv (their pathspec pins conflict).

    python -m scripts.marts [--warehouse files/warehouse.db] [--vars '{"wandb__as_of": "2026-01-09 12:00:00"}']
                            [--as-of now|data|'YYYY-MM-DD HH:MM:SS']
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "dbt"
INTEGRATION_TESTS = PACKAGE / "integration_tests"
DBT_VENV = ROOT / os.environ.get("DBT_VENV", ".venv-dbt")
DBT = DBT_VENV / "bin" / "dbt"
DEFAULT_WAREHOUSE = ROOT / "files" / "warehouse.db"
# The connector's tables the package cannot do without: a schema holding both is the connector's.
CONNECTOR_TABLES = ("projects", "run_fields")


@dataclass
class Build:
    """What one `dbt build` did: its exit code and output, and run_results.json's verdict per node."""

    returncode: int
    output: str
    elapsed: float
    results: list[dict] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0

    def count(self, status: str, kind: str | None = None) -> int:
        return sum(1 for r in self.results if r["status"] == status and kind in (None, r["unique_id"].split(".")[0]))

    def summary(self) -> str:
        models, tests = self.count("success", "model"), self.count("pass", "test")
        problems = {s: self.count(s) for s in ("error", "fail", "warn", "skipped")}
        noted = ", ".join(f"{n} {s}" for s, n in problems.items() if n)
        return (
            f"dbt build: {models} models, {tests} tests passed{', ' + noted if noted else ''} in {self.elapsed:.1f} s"
        )


def available() -> bool:
    return DBT.exists()


def find_schema(warehouse: Path) -> str:
    """The schema the connector wrote: the one holding its tables (`tester` for `fivetran debug`)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        found = con.execute(
            "select table_schema from information_schema.tables where table_name in (?, ?) "
            "group by table_schema having count(distinct table_name) = 2 order by 1",
            list(CONNECTOR_TABLES),
        ).fetchall()
    schemas = [schema for (schema,) in found]
    if len(schemas) != 1:
        what = f"several ({', '.join(schemas)})" if schemas else "none"
        raise SystemExit(
            f"{warehouse}: {what} of its schemas hold the connector's tables; name one with "
            'DBT_VARS=\'{"wandb_schema": "..."}\''
        )
    return schemas[0]


def data_as_of(warehouse: Path, schema: str) -> str:
    """The warehouse's own now: the last heartbeat of any live run (for a team that runs daily, minutes from now;
    for the demo dataset, frozen in January 2026, the only now whose last 7 days hold its runs)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        (last,) = con.execute(
            f'select max(heartbeat_at) from "{schema}".run_fields where not coalesce(_fivetran_deleted, false)'
        ).fetchone()
    if last is None:
        raise SystemExit(f"{warehouse}: no run has a heartbeat, so the data has no now: pass --as-of")
    return last.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def build(
    warehouse: Path,
    variables: dict | None = None,
    as_of: str = "now",
    project: Path = PACKAGE,
    work: Path | None = None,
    select: str | None = None,
) -> Build:
    """`dbt build` of `project` (the package, or its integration tests) on `warehouse`. dbt's target/ and logs/ go
    to `work` (default: the project's own folders), so builds of different warehouses can run at once.
    `as_of` is "now" (the package's default), "data" (the warehouse's last heartbeat) or a UTC timestamp."""
    warehouse = warehouse.resolve()
    variables = dict(variables or {})
    variables.setdefault("wandb_schema", find_schema(warehouse))
    if as_of != "now" and "wandb__as_of" not in variables:
        variables["wandb__as_of"] = data_as_of(warehouse, variables["wandb_schema"]) if as_of == "data" else as_of
    work = (work or (project if project == PACKAGE else project / "target")).resolve()
    if project != PACKAGE:
        project = _working_copy(project, work)
    env = _environment(warehouse, project)
    started = time.monotonic()
    command = ["build", "--vars", json.dumps(variables)] + (["--select", select] if select else [])
    result = _dbt(command, project, work, env)
    elapsed = time.monotonic() - started
    results_file = work / "target" / "run_results.json"
    results = json.loads(results_file.read_text())["results"] if results_file.exists() else []
    return Build(result.returncode, result.stdout, elapsed, results)


def _working_copy(project: Path, work: Path) -> Path:
    """The integration tests' project copied into `work`, with its profile (the CI sample) and its one package, this
    checkout's dbt/, installed, so builds of several warehouses at once each keep their packages and outputs."""
    copy = work / project.name
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "package-lock.yml"))
    shutil.copy(copy / "ci" / "sample.profiles.yml", copy / "profiles.yml")
    # What `dbt deps` does for a local package, without a second dbt process (4 s): link it into dbt_packages.
    (copy / "dbt_packages").mkdir()
    (copy / "dbt_packages" / "wandb").symlink_to(PACKAGE, target_is_directory=True)
    return copy


def _environment(warehouse: Path, project: Path) -> dict[str, str]:
    return os.environ | {
        "WANDB_WAREHOUSE": str(warehouse),
        "DBT_PROFILES_DIR": str(project),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }


def _dbt(arguments: list[str], project: Path, work: Path, env: dict) -> subprocess.CompletedProcess:
    if not available():
        raise SystemExit(f"no dbt at {DBT}: `make {DBT_VENV.name}/.installed` builds its venv")
    command = [str(DBT), *arguments, "--project-dir", str(project), "--log-path", str(work / "logs")]
    if arguments[0] != "deps":
        command += ["--target-path", str(work / "target")]
    return subprocess.run(command, cwd=project, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", type=Path, default=DEFAULT_WAREHOUSE)
    parser.add_argument("--vars", default="{}", help="dbt vars as JSON, e.g. the metric names your runs log")
    parser.add_argument("--as-of", default="now", help="now, data (the warehouse's last heartbeat) or a UTC time")
    arguments = parser.parse_args()
    if not arguments.warehouse.exists():
        raise SystemExit(f"no warehouse at {arguments.warehouse}: `make demo` syncs one")
    result = build(arguments.warehouse, json.loads(arguments.vars), arguments.as_of)
    print(result.output)
    print(result.summary())
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
