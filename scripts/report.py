"""`make report`: answers from the dbt package's marts on screen, and `files/report.html`, one page of charts.

The page is self-contained (inline SVG drawn by matplotlib, inline CSS, no script, no font or file to fetch) and the
same bytes for the same marts. Each chart's figure carries the rows it draws as a JSON data island
(`<script type="application/json">`, which no browser runs), so a test can hold the drawing to the marts.

`answers()` needs only duckdb (any venv); `write_report()` needs matplotlib, which lives in `.venv-dbt` with dbt:
`render()` runs it there from any venv.

    python -m scripts.report [--warehouse files/warehouse.db] [--out files/report.html] [--schema analytics_wandb]
"""

from __future__ import annotations

import argparse
import html
import io
import json
import re
import subprocess
import sys
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from scripts.marts import DBT_VENV, DEFAULT_WAREHOUSE, ROOT

DEFAULT_REPORT = ROOT / "files" / "report.html"
# The marts a report reads: a schema holding all of them is the package's.
MARTS = (
    "wandb__runs",
    "wandb__project_metrics",
    "wandb__gpu_hours_weekly",
    "wandb__failure_rate",
    "wandb__sweep_leaderboard",
    "wandb__metric_curves",
    "wandb__artifact_ancestry",
    "wandb__best_model_datasets",
)
CURVES_PER_CHART = 8
RUNS_PER_SWEEP = 10
COLORS = ("#3b6fb6", "#e07b39", "#4a9c5d", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd")


def marts_schema(con: duckdb.DuckDBPyConnection, schema: str | None = None) -> str:
    """The schema the package built its marts in (`analytics_wandb` for `make dbt`), found, not assumed."""
    if schema:
        return schema
    found = con.execute(
        "select table_schema from information_schema.tables where table_name in ({}) group by table_schema "
        "having count(*) = {} order by 1".format(", ".join("?" * len(MARTS)), len(MARTS)),
        list(MARTS),
    ).fetchall()
    if len(found) != 1:
        raise SystemExit(
            f"{len(found)} schemas hold the package's marts ({found}): `make dbt` builds them, --schema picks"
        )
    return found[0][0]


def rows(con: duckdb.DuckDBPyConnection, sql: str, schema: str, parameters: list | None = None) -> list[dict]:
    """`sql` on the marts, `{s}` standing for their schema, as dicts."""
    result = con.execute(sql.replace("{s}", f'"{schema}"'), parameters or [])
    names = [column[0] for column in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


# What the page and the screen show, each one query on the marts.

GPU_HOURS_PER_USER = """
select coalesce("user", '(no user)') as "user", sum(gpu_hours) as gpu_hours, count(distinct week_start) as weeks
from {s}.wandb__gpu_hours_weekly group by 1 order by gpu_hours desc, 1
"""
FAILURE_RATE_PER_JOB_TYPE = """
select coalesce(job_type, '(none)') as job_type, sum(runs_ended) as runs_ended, sum(runs_failed) as runs_failed,
       sum(runs_failed) * 1.0 / nullif(sum(runs_ended), 0) as failure_rate
from {s}.wandb__failure_rate group by 1 order by failure_rate desc nulls last, 1
"""
SWEEP_WINNERS = """
select project_id, sweep_id, run_id, metric_name, metric_goal, metric_value, cast(hyperparameters as varchar) as hp
from {s}.wandb__sweep_leaderboard where rank = 1 order by project_id, sweep_id
"""
BEST_MODELS = """
select project_id, collection, best_artifact_id, best_artifact_name, best_value, target_metric, target_goal,
       cast(root_dataset_ids as varchar) as roots
from {s}.wandb__best_model_datasets where best_artifact_id is not null order by project_id, collection
"""
ARTIFACT_NAMES = """
select distinct artifact_id, artifact_name from {s}.wandb__artifact_ancestry
union select distinct ancestor_artifact_id, ancestor_artifact_name from {s}.wandb__artifact_ancestry
"""
PROJECT_METRICS = "select * from {s}.wandb__project_metrics order by project_id"


def answers(warehouse: Path = DEFAULT_WAREHOUSE, schema: str | None = None) -> list[str]:
    """The lines `make demo` and `make report` print: GPU hours per user, failure rate per job type, the best run of
    each sweep, the datasets behind the best model."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        schema = marts_schema(con, schema)
        users, failures = rows(con, GPU_HOURS_PER_USER, schema), rows(con, FAILURE_RATE_PER_JOB_TYPE, schema)
        winners, models = rows(con, SWEEP_WINNERS, schema), rows(con, BEST_MODELS, schema)
        names = dict(con.execute(ARTIFACT_NAMES.replace("{s}", f'"{schema}"')).fetchall())
        as_of = con.execute(f'select max(as_of) from "{schema}".wandb__project_metrics').fetchone()[0]
    lines = [f"answers from the dbt package's marts ({schema}, as of {as_of:%Y-%m-%d %H:%M} UTC)", ""]
    lines += ["GPU hours per user (wandb__gpu_hours_weekly: spans from created to ended, a running run's to as_of)"]
    lines += [f"  {u['user']:<12} {u['gpu_hours']:>9.1f} GPU h over {u['weeks']} week(s)" for u in users]
    lines += ["", "failure rate per job type (wandb__failure_rate: failed or crashed / ended)"]
    lines += [
        f"  {f['job_type']:<12} {_percent(f['failure_rate']):>6}  {f['runs_failed']} of {f['runs_ended']} runs"
        for f in failures
    ]
    lines += ["", "the best run of each sweep (wandb__sweep_leaderboard, rank 1)"]
    lines += [
        f"  {w['project_id']}/{w['sweep_id']}: {w['run_id']} {w['metric_name']} {w['metric_value']:.4g} "
        f"({w['metric_goal'] or 'minimize'}) {w['hp']}"
        for w in winners
    ]
    lines += ["", "the datasets behind each model collection's best version (wandb__best_model_datasets)"]
    for model in models:
        roots = [names.get(i, i) for i in json.loads(model["roots"])]
        lines.append(
            f"  {model['project_id']}/{model['best_artifact_name']} ({model['target_metric']} "
            f"{model['best_value']:.4g}): {', '.join(roots) or 'no ancestor'}"
        )
    return lines


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.1f}%"


# The charts. Each returns the data it draws (JSON-ready) and the figure; `gid`s name the marks a test measures.


def curves_data(con: duckdb.DuckDBPyConnection, schema: str) -> dict:
    """The loss curve of the best run of each sweep: `wandb__metric_curves` of the loss metric the package used."""
    metric = con.execute(f'select min(loss_metric) from "{schema}".wandb__project_metrics').fetchone()[0]
    best = rows(
        con,
        "select distinct l.project_id, l.sweep_id, l.run_id from {s}.wandb__sweep_leaderboard l "
        "where l.rank = 1 and exists (select 1 from {s}.wandb__metric_curves c where c.project_id = l.project_id "
        f"and c.run_id = l.run_id and c.metric = ? and c.value is not null) order by 1, 2 limit {CURVES_PER_CHART}",
        schema,
        [metric],
    )
    runs = []
    for run in best:
        points = con.execute(
            f'select step, value from "{schema}".wandb__metric_curves where project_id = ? and run_id = ? '
            "and metric = ? and value is not null order by step",
            [run["project_id"], run["run_id"], metric],
        ).fetchall()
        runs.append(run | {"points": [[step, value] for step, value in points]})
    return {"metric": metric, "runs": runs}


def curves_chart(data: dict):
    figure, axes = _figure()
    for index, run in enumerate(data["runs"]):
        steps = [p[0] for p in run["points"]]
        values = [p[1] for p in run["points"]]
        (line,) = axes.plot(steps, values, color=COLORS[index % len(COLORS)], linewidth=1.4, label=run["run_id"])
        line.set_gid(f"curve-{index}")
    axes.set_xlabel("step")
    axes.set_ylabel(data["metric"] or "loss")
    if data["runs"]:
        axes.legend(fontsize=8, frameon=False, ncols=2)
    return figure


def gpu_weeks_data(con: duckdb.DuckDBPyConnection, schema: str) -> dict:
    found = rows(
        con,
        "select coalesce(\"user\", '(no user)') as u, week_start, sum(gpu_hours) as h "
        "from {s}.wandb__gpu_hours_weekly group by 1, 2 order by 2, 1",
        schema,
    )
    weeks = sorted({r["week_start"] for r in found})
    users = sorted({r["u"] for r in found})
    hours = {u: [0.0] * len(weeks) for u in users}
    for r in found:
        hours[r["u"]][weeks.index(r["week_start"])] = r["h"]
    return {"weeks": [f"{w:%Y-%m-%d}" for w in weeks], "users": users, "hours": hours}


def gpu_weeks_chart(data: dict):
    figure, axes = _figure()
    width = 0.8 / max(1, len(data["users"]))
    for u, user in enumerate(data["users"]):
        offsets = [w + (u - (len(data["users"]) - 1) / 2) * width for w in range(len(data["weeks"]))]
        bars = axes.bar(offsets, data["hours"][user], width, color=COLORS[u % len(COLORS)], label=user)
        for w, bar in enumerate(bars):
            bar.set_gid(f"bar-{u}-{w}")
    axes.set_xticks(range(len(data["weeks"])), [f"week of {w}" for w in data["weeks"]])
    axes.set_ylabel("GPU hours")
    if data["users"]:
        axes.legend(fontsize=8, frameon=False)
    return figure


STATE_ORDER = ("finished", "running", "pending", "preempting", "killed", "preempted", "crashed", "failed")


def states_data(con: duckdb.DuckDBPyConnection, schema: str) -> dict:
    found = rows(
        con,
        "select cast(created_at as date) as day, state, count(*) as n from {s}.wandb__runs group by 1, 2 order by 1, 2",
        schema,
    )
    days = sorted({r["day"] for r in found})
    present = {r["state"] for r in found}
    states = [s for s in STATE_ORDER if s in present] + sorted(present - set(STATE_ORDER), key=str)
    counts = {str(s): [0] * len(days) for s in states}
    for r in found:
        counts[str(r["state"])][days.index(r["day"])] = r["n"]
    return {"days": [f"{d:%Y-%m-%d}" for d in days], "states": [str(s) for s in states], "counts": counts}


def states_chart(data: dict):
    figure, axes = _figure()
    bottom = [0] * len(data["days"])
    palette = {"finished": "#4a9c5d", "running": "#3b6fb6", "failed": "#c44e52", "crashed": "#e07b39"}
    for s, state in enumerate(data["states"]):
        color = palette.get(state, COLORS[(s + 4) % len(COLORS)])
        bars = axes.bar(range(len(data["days"])), data["counts"][state], 0.7, bottom=bottom, color=color, label=state)
        for d, bar in enumerate(bars):
            bar.set_gid(f"state-{s}-{d}")
        bottom = [b + c for b, c in zip(bottom, data["counts"][state], strict=True)]
    axes.set_xticks(range(len(data["days"])), data["days"])
    axes.set_ylabel("runs created")
    if data["states"]:
        axes.legend(fontsize=8, frameon=False, ncols=4)
    return figure


def leaderboard_data(con: duckdb.DuckDBPyConnection, schema: str) -> dict:
    found = rows(
        con,
        "select project_id, sweep_id, metric_name, metric_goal, run_id, metric_value, rank, "
        f"cast(hyperparameters as varchar) as hyperparameters from {{s}}.wandb__sweep_leaderboard "
        f"where rank <= {RUNS_PER_SWEEP} order by project_id, sweep_id, rank",
        schema,
    )
    sweeps: dict[tuple, dict] = {}
    for r in found:
        sweep = sweeps.setdefault(
            (r["project_id"], r["sweep_id"]),
            {k: r[k] for k in ("project_id", "sweep_id", "metric_name", "metric_goal")} | {"runs": []},
        )
        sweep["runs"].append({k: r[k] for k in ("run_id", "metric_value", "rank", "hyperparameters")})
    return {"sweeps": list(sweeps.values())}


def leaderboard_chart(data: dict):
    from matplotlib.figure import Figure

    count = max(1, len(data["sweeps"]))
    columns = min(4, count)
    lines = (count + columns - 1) // columns
    figure = Figure(figsize=(10, 2.4 * lines), layout="constrained")
    for i, sweep in enumerate(data["sweeps"]):
        axes = figure.add_subplot(lines, columns, i + 1)
        runs = sweep["runs"]
        bars = axes.barh(
            range(len(runs)),
            [r["metric_value"] for r in runs],
            color=["#e07b39" if r["rank"] == 1 else "#9bb4d6" for r in runs],
        )
        for r, bar in enumerate(bars):
            bar.set_gid(f"sweep-{i}-rank-{runs[r]['rank']}")
        axes.set_yticks(range(len(runs)), [f"{r['rank']}. {r['run_id'][:12]}" for r in runs], fontsize=7)
        axes.invert_yaxis()
        goal = sweep["metric_goal"] or "minimize"
        project = sweep["project_id"].split("/")[-1]
        axes.set_title(f"{project}/{sweep['sweep_id']}\n{sweep['metric_name']} ({goal})", fontsize=8)
        axes.tick_params(axis="x", labelsize=7)
    return figure


def lineage_data(con: duckdb.DuckDBPyConnection, schema: str) -> dict:
    """The best model version of all (by its collection's target metric and goal) and every version behind it."""
    models = rows(con, BEST_MODELS, schema)
    if not models:
        return {"model": None, "nodes": [], "edges": []}
    model = max(models, key=lambda m: m["best_value"] if m["target_goal"] == "maximize" else -m["best_value"])
    ancestors = rows(
        con,
        "select ancestor_artifact_id as artifact_id, ancestor_artifact_name as name, depth, ancestor_project_id as "
        "project_id from {s}.wandb__artifact_ancestry where artifact_id = ? order by depth, name, artifact_id",
        schema,
        [model["best_artifact_id"]],
    )
    roots = set(json.loads(model["roots"]))
    best = {"artifact_id": model["best_artifact_id"], "name": model["best_artifact_name"], "depth": 0}
    nodes = [best | {"project_id": model["project_id"], "root": False}]
    nodes += [{k: a[k] for k in ("artifact_id", "name", "depth", "project_id")} for a in ancestors]
    for node in nodes[1:]:
        node["root"] = node["artifact_id"] in roots
    members = [n["artifact_id"] for n in nodes]
    edges = con.execute(
        f'select artifact_id, ancestor_artifact_id from "{schema}".wandb__artifact_ancestry where depth = 1 '
        f"and artifact_id in ({', '.join('?' * len(members))}) and ancestor_artifact_id in "
        f"({', '.join('?' * len(members))}) order by 1, 2",
        members + members,
    ).fetchall()
    chosen = {k: model[k] for k in ("project_id", "collection", "best_artifact_id", "best_value", "target_metric")}
    return {"model": chosen, "nodes": nodes, "edges": [list(e) for e in edges]}


def lineage_chart(data: dict):
    figure, axes = _figure(height=3.6)
    columns: dict[int, list[dict]] = defaultdict(list)
    for node in data["nodes"]:
        columns[node["depth"]].append(node)
    where = {}
    for depth, members in columns.items():
        for k, node in enumerate(members):
            where[node["artifact_id"]] = (-depth, (len(members) - 1) / 2 - k)
    for e, (child, parent) in enumerate(data["edges"]):
        (x0, y0), (x1, y1) = where[parent], where[child]
        arrow = axes.annotate(
            "", xy=(x1 - 0.3, y1), xytext=(x0 + 0.3, y0), arrowprops={"arrowstyle": "->", "color": "#777"}
        )
        arrow.arrow_patch.set_gid(f"edge-{e}")
    for n, node in enumerate(data["nodes"]):
        x, y = where[node["artifact_id"]]
        color = "#e07b39" if node["depth"] == 0 else ("#4a9c5d" if node["root"] else "#9bb4d6")
        text = node["name"] + ("" if node["project_id"] == data["model"]["project_id"] else f"\n({node['project_id']})")
        label = axes.text(
            x, y, text, ha="center", va="center", fontsize=8,
            bbox={"boxstyle": "round,pad=0.4", "facecolor": color, "edgecolor": "none", "alpha": 0.9},
        )  # fmt: skip
        label.set_gid(f"node-{n}")
    depth = max(columns, default=0)
    height = max((len(m) for m in columns.values()), default=1)
    axes.set_xlim(-depth - 0.6, 0.6)
    axes.set_ylim(-height / 2 - 0.2, height / 2 + 0.2)
    axes.set_axis_off()
    return figure


def _figure(height: float = 3.2):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, height), layout="constrained")
    axes = figure.add_subplot()
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", color="#e6e6e6", linewidth=0.6)
    axes.set_axisbelow(True)
    return figure, axes


def svg(figure, name: str) -> str:
    """The figure as inline SVG: text as text, no date, no path simplified away (a test reads every point back),
    and every id prefixed with the chart's name so the page's SVGs never share one."""
    import matplotlib

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": name, "path.simplify": False}):
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r'id="([^"]+)"', rf'id="{name}-\1"', text)
    return re.sub(r"(url\(#|xlink:href=\"#)", rf"\1{name}-", text)


CHARTS = (
    ("loss-curves", "Loss curves of the best runs", curves_data, curves_chart,
     "The loss metric of the best run of each sweep (rank 1 of wandb__sweep_leaderboard), step by step "
     "(wandb__metric_curves; steps that logged NaN or Infinity left out)."),
    ("gpu-hours", "GPU hours per user per week", gpu_weeks_data, gpu_weeks_chart,
     "Each run's active span split over the weeks it overlaps, GPUs times hours (wandb__gpu_hours_weekly)."),
    ("runs-per-state", "Runs per state over time", states_data, states_chart,
     "Runs created each day, by their state now (wandb__runs)."),
    ("sweep-leaderboard", "Sweep leaderboard", leaderboard_data, leaderboard_chart,
     f"Each sweep's top {RUNS_PER_SWEEP} runs by its own metric and goal; the best in orange "
     "(wandb__sweep_leaderboard)."),
    ("best-model-lineage", "Lineage of the best model", lineage_data, lineage_chart,
     "The best model version (orange) and every version behind it, left to right as they were made; the root "
     "datasets in green (wandb__artifact_ancestry, wandb__best_model_datasets)."),
)  # fmt: skip


def write_report(warehouse: Path = DEFAULT_WAREHOUSE, path: Path = DEFAULT_REPORT, schema: str | None = None) -> int:
    """Write the page; returns its size in bytes."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        schema = marts_schema(con, schema)
        metrics = rows(con, PROJECT_METRICS, schema)
        sections = [_section(con, schema, *chart) for chart in CHARTS]
    page = _page(metrics, sections, answers(warehouse, schema))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return len(page.encode())


def _section(con, schema: str, name: str, title: str, data_of, chart_of, caption: str) -> str:
    data = data_of(con, schema)
    island = json.dumps(data, sort_keys=True, default=str).replace("</", "<\\/")
    return (
        f'<section><h2>{html.escape(title)}</h2><figure id="{name}">{svg(chart_of(data), name)}'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        f'<script type="application/json" id="{name}-data">{island}</script></section>'
    )


METRIC_COLUMNS = (
    ("runs_active", "active", "{:d}"),
    ("runs_completed_7d", "completed 7d", "{:d}"),
    ("runs_failed_7d", "failed 7d", "{:d}"),
    ("runs_total", "runs", "{:d}"),
    ("best_accuracy", "best accuracy", "{:.3f}"),
    ("latest_loss", "latest loss", "{:.3f}"),
    ("avg_accuracy_7d", "avg accuracy 7d", "{:.3f}"),
    ("avg_duration_hours", "avg hours", "{:.2f}"),
    ("gpu_utilization_avg", "GPU util %", "{:.1f}"),
    ("gpu_hours_7d", "GPU hours 7d", "{:.1f}"),
)

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1040px;color:#222;
padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.1rem;margin:2rem 0 .4rem}
p.meta{color:#666;margin-top:0}figure{margin:0}figcaption{color:#666;font-size:.85rem}
svg{max-width:100%;height:auto}table{border-collapse:collapse;font-size:.85rem;width:100%}
th,td{padding:.25rem .5rem;border-bottom:1px solid #eee;text-align:right}th:first-child,td:first-child{text-align:left}
pre{background:#f7f7f7;padding:.8rem;font-size:.8rem;overflow-x:auto}
"""


def _page(metrics: list[dict], sections: list[str], lines: list[str]) -> str:
    as_of = max((m["as_of"] for m in metrics), default=None)
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label, _ in METRIC_COLUMNS)
    body = "".join(
        f"<tr><td>{html.escape(m['project_id'])}</td>"
        + "".join(f"<td>{_cell(m[column], form)}</td>" for column, _, form in METRIC_COLUMNS)
        + "</tr>"
        for m in metrics
    )
    when = f"{as_of:%Y-%m-%d %H:%M} UTC" if isinstance(as_of, datetime) else "-"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>W&amp;B runs: the report</title><style>{STYLE}</style></head><body>"
        "<h1>W&amp;B runs: the report</h1>"
        f'<p class="meta">From the dbt package\'s marts; "7d" is the 7 days to {when}.</p>'
        f'<h2>Seed 001\'s ten metrics per project</h2><table id="project-metrics"><tr><th>project</th>{head}</tr>'
        f"{body}</table>{''.join(sections)}"
        f'<h2>Answers</h2><pre id="answers">{html.escape(chr(10).join(lines))}</pre></body></html>\n'
    )


def _cell(value: Any, form: str) -> str:
    return "-" if value is None else html.escape(form.format(value))


def render(warehouse: Path = DEFAULT_WAREHOUSE, path: Path = DEFAULT_REPORT) -> int:
    """`write_report` where matplotlib is: in this process if it has it, else in `.venv-dbt` (`make dbt` built it)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        command = [str(DBT_VENV / "bin" / "python"), "-m", "scripts.report", "--warehouse", str(warehouse)]
        subprocess.run([*command, "--out", str(path), "--quiet"], cwd=ROOT, check=True)
        return path.stat().st_size
    return write_report(warehouse, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", type=Path, default=DEFAULT_WAREHOUSE)
    parser.add_argument("--out", type=Path, default=DEFAULT_REPORT)
    parser.add_argument("--schema", help="the schema of the marts (default: the one that holds them)")
    parser.add_argument("--quiet", action="store_true", help="write the page, print nothing")
    arguments = parser.parse_args()
    size = write_report(arguments.warehouse, arguments.out, arguments.schema)
    if not arguments.quiet:
        print("\n".join(answers(arguments.warehouse, arguments.schema)))
        print(f"\nwrote {arguments.out} ({size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
