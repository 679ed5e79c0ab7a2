"""`make demo`: a real `fivetran debug` sync, then the row count of every table in files/warehouse.db.

With no W&B account (no configuration.json, or one still holding the example's placeholder key) it starts the W&B
double with the demo dataset on a free loopback port and syncs that. With a real key in configuration.json it
syncs real W&B with the same connector and the same command, incrementally from files/state.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from devkit.expected import expected_rows
from devkit.fivetran_cli import ROOT, DebugRun, connector_error, connector_project, fivetran
from devkit.wandb_double import DEFAULT_API_KEY, named_world
from scripts import marts, report
from wandb_connector.registry import TABLES as DECLARED

TABLES = [table.name for table in DECLARED]
# Where `make demo` with a real key syncs: the package folder `make package` assembles and `make debug` runs.
BUILD = ROOT / "build" / "connector"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.demo", description=__doc__)
    parser.add_argument("--configuration", type=Path, default=ROOT / "configuration.json", help="make's CONFIG=")
    parser.add_argument("--build", type=Path, default=BUILD, help="where the connector is assembled for real W&B")
    args = parser.parse_args(argv)
    user_configuration = args.configuration.resolve()
    if _has_real_key(user_configuration):
        project = connector_project(args.build.resolve())
        print(f"syncing real W&B with {_shown(user_configuration)}, as `make debug` does (in {_shown(project)})")
        return _sync(user_configuration, project, expected=None) or _answers(project / "files", as_of="now")
    print("no W&B key in configuration.json: syncing the W&B double's demo dataset instead")
    with demo_double() as configuration:
        for stale in ("warehouse.db", "state.json"):
            (ROOT / "files" / stale).unlink(missing_ok=True)
        synced = _sync(configuration, ROOT, expected=_expected_counts())
    # the demo dataset's runs ended months ago: its "last 7 days" end where its data does
    return synced or _answers(ROOT / "files", as_of="data")


def _answers(files: Path, as_of: str) -> int:
    """The dbt package's marts on the warehouse just synced, a few answers from them, and files/report.html."""
    warehouse = files / "warehouse.db"
    if not marts.available():
        print(f"\nno dbt venv ({_shown(marts.DBT_VENV)}): `make dbt` builds it, the package's marts and their answers")
        return 0
    built = marts.build(warehouse, as_of=as_of)
    print(f"\n{built.summary()}")
    if not built.succeeded:
        print(built.output[-3000:])
        return 1
    print("\n" + "\n".join(report.answers(warehouse)))
    page = files / "report.html"
    size = report.render(warehouse, page)
    print(f"\nthe charts: {_shown(page)} ({size / 1024:,.0f} KB, one page, no network): open it in a browser")
    return 0


@contextlib.contextmanager
def demo_double() -> Iterator[dict]:
    """The W&B double serving the demo dataset, as a process on a free loopback port, for the time of the block;
    yields the configuration that syncs it."""
    with tempfile.TemporaryDirectory(prefix="wandb-demo-") as scratch:
        ready = Path(scratch) / "ready"
        double = subprocess.Popen(
            [sys.executable, "-m", "devkit.wandb_double", "--dataset", "demo", "--ready-file", str(ready)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        try:
            base_url = _wait_for(ready, double)
            demo = {"api_key": DEFAULT_API_KEY, "entity": named_world("demo").entity, "base_url": base_url}
            yield demo | {"history": "true"}  # every table, run_history (off by default) included
        finally:
            double.terminate()
            double.wait(timeout=10)


def _has_real_key(path: Path) -> bool:
    """configuration.json is the user's unless it is missing or still holds the example's `<...>` key; a file that is
    not valid JSON or not all strings is the user's too, and `fivetran debug` says what is wrong with it."""
    if not path.exists():
        return False
    try:
        values = json.loads(path.read_text())
    except ValueError:
        return True
    key = (values.get("api_key") or values.get("WandB_API_KEY") or "") if isinstance(values, dict) else "?"
    return not (isinstance(key, str) and (not key or key.startswith("<")))


def _wait_for(ready: Path, process: subprocess.Popen, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready.exists() and ready.read_text():
            return ready.read_text()
        if process.poll() is not None:
            raise SystemExit("the W&B double exited before it was ready")
        time.sleep(0.05)
    raise SystemExit("the W&B double did not start within 30 s")


def _expected_counts() -> dict[str, int]:
    """Every table's rows in the demo dataset, from the tests' ground truth."""
    return {table: len(rows) for table, rows in expected_rows(named_world("demo"), "", {"history": "true"}).items()}


def _sync(configuration: dict | Path, project: Path, expected: dict[str, int] | None) -> int:
    with tempfile.TemporaryDirectory(prefix="fivetran-home-") as home:
        started = time.monotonic()
        result = fivetran("debug", configuration, Path(home), project, on_line=show_line)
        elapsed = time.monotonic() - started
    if not show_result("fivetran debug", result, elapsed, project / "files" / "demo.log"):
        return 1
    return _report(project / "files" / "warehouse.db", expected)


def show_line(line: str) -> None:
    """One line of the CLI's output as it comes, when it is worth reading: the connector's own lines, warnings and
    errors, the sync's outcome and counts; never a traceback's."""
    if _worth_showing(line):
        print(line, flush=True)


def show_result(command: str, result: DebugRun, elapsed: float, log: Path) -> bool:
    """Keep the CLI's whole output in `log` and say whether the sync succeeded; on failure, the message the sync
    ended with comes last, whole, since it names the problem and its fix."""
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(result.output)
    if result.succeeded:
        print(f"\n{command} took {elapsed:.1f} s; full output in {_shown(log)}")
        return True
    print(f"\n{command} failed (exit {result.returncode}); full output in {_shown(log)}")
    error = connector_error(result.output)
    if error:
        print(f"\nError: {error}")
    return False


def _worth_showing(line: str) -> bool:
    if line.lstrip().startswith(('File "', "^", "Traceback", "raise ", "result = ", "settings = ")):
        return False
    marks = ("SYNC ", "⚡ connector", "WARNING", "SEVERE", "ERROR", "Upserts", "Updates", "Deletes", "Truncates")
    return any(mark in line for mark in marks) or "Checkpoints" in line


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _report(warehouse: Path, expected: dict[str, int] | None) -> int:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        counts = {
            t: con.execute(f"select count(*) from tester.{t} where not _fivetran_deleted").fetchone()[0] for t in TABLES
        }
    print(f"\nrows in {_shown(warehouse)} (schema tester):")
    mismatch = False
    for table, count in counts.items():
        note = ""
        if expected is not None:
            note = f"  (demo dataset: {expected[table]})"
            mismatch |= count != expected[table]
        print(f"  {table:<18} {count:>6}{note}")
    if counts.get("run_history") and counts.get("run_system_metrics"):
        _show_curves(warehouse)
    if counts.get("run_config") and counts.get("run_summary"):
        _show_values(warehouse)
    if counts.get("artifact_lineage"):
        with duckdb.connect(str(warehouse), read_only=True) as con:
            sources = sorted(name for (name,) in con.execute(BEST_MODEL_SOURCES, ["phishing-texts-raw"]).fetchall())
        print(f"\nthe raw dataset versions behind the model its eval runs scored best (artifact_lineage): {sources}")
    print(
        f'\nlook around: {Path(sys.executable).parent / "python"} -c "import duckdb; '
        f"print(duckdb.connect('{_shown(warehouse)}').sql('select * from tester.run_fields limit 5'))\""
    )
    return 1 if mismatch else 0


# Which raw dataset versions produced the model its eval runs scored best: the model's eval/f1 from the eval runs
# that used it, then up the chain (the run that logged a version, every version that run used) in one query.
BEST_MODEL_SOURCES = """
with recursive
  scored as (
    select l.artifact_id, max(cast(json_extract(r.summary, '$."eval/f1"') as double)) as f1
    from tester.artifact_lineage l
    join tester.run_fields r using (project_id, run_id)
    join tester.artifacts a using (artifact_id)
    where l.direction = 'input' and r.job_type = 'eval' and a.type = 'model'
      and not l._fivetran_deleted and not r._fivetran_deleted and not a._fivetran_deleted
    group by l.artifact_id
  ),
  chain(artifact_id) as (
    select artifact_id from (select artifact_id from scored order by f1 desc limit 1)
    union
    select used.artifact_id
    from chain
    join tester.artifact_lineage made on made.artifact_id = chain.artifact_id and made.direction = 'output'
    join tester.artifact_lineage used
      on used.project_id = made.project_id and used.run_id = made.run_id and used.direction = 'input'
    where not made._fivetran_deleted and not used._fivetran_deleted
  )
select a.name from chain join tester.artifacts a using (artifact_id) where a.collection = ?
"""


# GPU hours per project from run_fields and from the system samples, and the runs only the samples count.
GPU_HOURS_PER_PROJECT = """
with sampled as (
  select project_id, run_id, sum(gpu_count * interval_seconds) / 3600 as hours,
         sum(gpu_utilization_percent * interval_seconds) filter (where gpu_count > 0) as util_seconds,
         sum(interval_seconds) filter (where gpu_count > 0) as gpu_seconds
  from tester.run_system_metrics where not _fivetran_deleted group by 1, 2
)
select r.project_id, round(sum(r.runtime_seconds * r.gpu_count) / 3600, 1), round(sum(s.hours), 1),
       round(sum(s.util_seconds) / sum(s.gpu_seconds), 1),
       count(*) filter (where r.runtime_seconds is null and s.hours > 0),
       round(coalesce(sum(s.hours) filter (where r.runtime_seconds is null), 0), 1)
from tester.run_fields r left join sampled s using (project_id, run_id)
where not r._fivetran_deleted group by 1 order by 1
"""

# GPU hours per person: runtime times GPU count, both columns of run_fields (no JSON path, no per-run request).
GPU_HOURS_PER_USER = """
select coalesce("user", '(no user)') as user, round(sum(runtime_seconds * gpu_count) / 3600, 2) as gpu_hours,
       count(*) filter (where state in ('crashed', 'failed')) as crashed_or_failed
from tester.run_fields where not _fivetran_deleted group by 1 order by gpu_hours desc nulls last, 1
"""

# Which learning rate gave the best eval/f1: one join of the long tables, no JSON functions.
BEST_LEARNING_RATE = """
select c.number_value as learning_rate, round(max(s.number_value), 4) as best_f1, count(*) as runs
from tester.run_config c join tester.run_summary s using (project_id, run_id)
where c.key = 'params.learning_rate' and s.key = 'eval/f1' and not c._fivetran_deleted and not s._fivetran_deleted
group by 1 order by best_f1 desc
"""


def _show_values(warehouse: Path) -> None:
    """What run_config, run_summary and the hardware columns are for: questions in plain SQL."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rates = con.execute(BEST_LEARNING_RATE).fetchall()
        users = con.execute(GPU_HOURS_PER_USER).fetchall()
    print("\nbest eval/f1 by learning rate (run_config join run_summary)")
    for rate, f1, runs in rates:
        print(f"  params.learning_rate {rate:<8g} best eval/f1 {f1:<7} over {runs} runs")
    print("\nGPU hours and crashed or failed runs per person (run_fields: runtime_seconds * gpu_count)")
    for user, hours, crashed in users:
        print(f"  {user:<12} {hours!s:>9} GPU h  {crashed:>3} crashed or failed")


def _show_curves(warehouse: Path) -> None:
    """What the history tables are for: a loss curve, and GPU hours and utilisation per project in one query."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        run, steps = con.execute(
            "select run_id, count(*) from tester.run_history where not _fivetran_deleted "
            "group by run_id order by count(*) desc, run_id limit 1"
        ).fetchone()
        curve = con.execute(
            "select step, round(try_cast(json_extract_string(metrics, '$.\"train/loss\"') as double), 3), "
            "round(try_cast(json_extract_string(metrics, '$.\"eval/f1\"') as double), 3) "
            "from tester.run_history where run_id = ? and not _fivetran_deleted "
            "and json_extract(metrics, '$.\"eval/f1\"') is not null order by step",
            [run],
        ).fetchall()
        curve = curve[:: max(1, len(curve) // 6)]
        gpu = con.execute(GPU_HOURS_PER_PROJECT).fetchall()
    print(f"\nrun {run}: train/loss at the steps that logged eval/f1 (run_history, {steps} steps)")
    for step, loss, f1 in curve:
        print(f"  step {step:>5}  train/loss {loss!s:>8}  eval/f1 {f1!s:>6}")
    print(
        "\nGPU hours per project, two ways: run_fields (runtime x GPUs) and run_system_metrics (samples x their"
        "\nintervals), with the time-weighted GPU utilisation. They agree run by run, but for runs W&B has no"
        "\nruntime for (no summary `_runtime`): only their samples count them."
    )
    print(f"  {'project':<27} {'run_fields':>10} {'samples':>9} {'GPU util':>8}  runs without runtime (their hours)")
    for project, fields, sampled, utilisation, unknown, unknown_hours in gpu:
        print(f"  {project:<27} {fields!s:>10} {sampled!s:>9} {utilisation!s:>7}%  {unknown} ({unknown_hours})")


if __name__ == "__main__":
    sys.exit(main())
