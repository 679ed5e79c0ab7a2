"""files/report.html and the answers `make report` prints, on the demo warehouse with the package built as `make dbt`
builds it: each chart's rows (its JSON data island) equal the marts, each chart draws exactly those rows (its SVG
marks measured back), the answers equal the dataset's own, and the page fetches nothing and never changes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest

from scripts import demo, marts, report
from tests import browser
from tests.marts_oracle import Settings, expected_marts, live_runs
from tests.package_warehouses import copy_of, demo_world, needs_dbt, shared_directory, sync

pytestmark = needs_dbt
# .ci/run installs Debian's chromium and sets this: there a missing browser fails the check instead of skipping it.
BROWSER_REQUIRED = os.environ.get("BROWSER_REQUIRED") == "1"
SVG = "{http://www.w3.org/2000/svg}"


def write_page(warehouse: Path, page: Path) -> None:
    """The page as `make report` writes it: scripts.report in .venv-dbt (where matplotlib is)."""
    command = [str(marts.DBT_VENV / "bin" / "python"), "-m", "scripts.report", "--warehouse", str(warehouse)]
    ran = subprocess.run([*command, "--out", str(page), "--quiet"], cwd=marts.ROOT, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr[-3000:]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The demo warehouse, the package built on it by `make dbt`'s path (its as_of the data's own), and the page
    written twice."""

    def make(directory: Path) -> None:
        demo = shared_directory(tmp_path_factory, "dbt-demo", lambda d: copy_of(sync(demo_world(), d), d / "synced"))
        warehouse = copy_of(demo / "synced" / "warehouse.db", directory)
        result = marts.build(warehouse, as_of="data", work=directory / "dbt")
        assert result.succeeded, result.output[-5000:]
        write_page(warehouse, directory / "report.html")
        write_page(warehouse, directory / "again.html")

    return shared_directory(tmp_path_factory, "report-demo", make)


@pytest.fixture(scope="module")
def page(built: Path) -> str:
    return (built / "report.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def con(built: Path):
    with duckdb.connect(str(built / "warehouse.db"), read_only=True) as connection:
        yield connection


def island(page: str, name: str) -> dict:
    found = re.search(rf'<script type="application/json" id="{name}-data">(.*?)</script>', page, re.DOTALL)
    assert found, f"no data island for {name}"
    return json.loads(found[1].replace("<\\/", "</"))


def figure(page: str, name: str) -> ElementTree.Element:
    found = re.search(rf'<figure id="{name}">(<svg.*?</svg>)', page, re.DOTALL)
    assert found, f"no chart {name}"
    return ElementTree.fromstring(found[1])


def marks(svg: ElementTree.Element, prefix: str) -> dict[str, list[tuple[float, float]]]:
    """The vertices of each mark whose group id starts with `prefix`, by id."""
    found = {}
    for group in svg.iter(f"{SVG}g"):
        if group.get("id", "").startswith(prefix):
            path = next(group.iter(f"{SVG}path"))
            numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", path.get("d"))]
            found[group.get("id")] = list(zip(numbers[::2], numbers[1::2], strict=True))
    return found


def size(vertices: list[tuple[float, float]], axis: int) -> float:
    return max(v[axis] for v in vertices) - min(v[axis] for v in vertices)


def assert_proportional(drawn: list[float], values: list[float]) -> None:
    """Bars drawn at one scale: every drawn length is the same multiple of its value."""
    assert len(drawn) == len(values) and values
    scale = max(drawn) / max(abs(v) for v in values)
    assert all(d == pytest.approx(abs(v) * scale, abs=0.01) for d, v in zip(drawn, values, strict=True))


def assert_affine(drawn: list[float], values: list[float]) -> None:
    """Points drawn at one scale and offset (an axis): each drawn coordinate is a * value + b."""
    low, high = values.index(min(values)), values.index(max(values))
    if values[low] == values[high]:
        assert len(set(drawn)) == 1
        return
    a = (drawn[high] - drawn[low]) / (values[high] - values[low])
    b = drawn[low] - a * values[low]
    assert all(d == pytest.approx(a * v + b, abs=0.01) for d, v in zip(drawn, values, strict=True))


def query(con, sql: str, parameters: list | None = None) -> list[tuple]:
    return con.execute(sql.replace("{s}", "analytics_wandb"), parameters or []).fetchall()


def test_the_page_has_every_chart_and_is_the_same_bytes_on_every_run(built, page):
    assert (built / "again.html").read_bytes() == (built / "report.html").read_bytes()
    for name, *_ in report.CHARTS:
        assert figure(page, name) is not None and island(page, name)
    assert len(page.encode()) < 1_000_000, "the page is heavier than a chart page needs to be"


def test_the_page_fetches_nothing_and_runs_no_script(page):
    """No script but the JSON data islands, no stylesheet or font or image from anywhere, no link out of the page."""
    assert re.findall(r"<script(?![^>]*type=\"application/json\")", page) == []
    assert not re.search(r"<(link|img|iframe|object|embed)\b", page)
    assert not re.search(r"@import|@font-face|url\((?!#)", page), "CSS that loads something"
    references = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert all(ref.startswith("#") for ref in references), references


def test_the_loss_curves_are_the_metric_curves_of_each_sweeps_best_run(page, con):
    data = island(page, "loss-curves")
    (metric,) = {m for (m,) in query(con, "select loss_metric from {s}.wandb__project_metrics")}
    assert data["metric"] == metric
    best = query(
        con,
        "select project_id, sweep_id, run_id from {s}.wandb__sweep_leaderboard where rank = 1 and run_id in "
        "(select run_id from {s}.wandb__metric_curves where metric = ? and value is not null) order by 1, 2",
        [metric],
    )
    assert [(r["project_id"], r["sweep_id"], r["run_id"]) for r in data["runs"]] == best[: report.CURVES_PER_CHART]
    drawn = marks(figure(page, "loss-curves"), "loss-curves-curve-")
    assert len(drawn) == len(data["runs"]) > 1
    for index, run in enumerate(data["runs"]):
        points = query(
            con,
            "select step, value from {s}.wandb__metric_curves where project_id = ? and run_id = ? and metric = ? "
            "and value is not null order by step",
            [run["project_id"], run["run_id"], metric],
        )
        assert [tuple(p) for p in run["points"]] == points
        vertices = drawn[f"loss-curves-curve-{index}"]
        assert len(vertices) == len(points)
        assert_affine([v[0] for v in vertices], [p[0] for p in points])
        assert_affine([v[1] for v in vertices], [p[1] for p in points])


def test_the_gpu_hours_bars_are_the_weekly_mart_per_user(page, con):
    data = island(page, "gpu-hours")
    found = query(
        con,
        "select coalesce(\"user\", '(no user)'), strftime(week_start, '%Y-%m-%d'), sum(gpu_hours) "
        "from {s}.wandb__gpu_hours_weekly group by 1, 2",
    )
    assert {(u, w): h for u, w, h in found} == pytest.approx(
        {(u, w): h for u in data["users"] for w, h in zip(data["weeks"], data["hours"][u], strict=True) if h}
    )
    drawn = marks(figure(page, "gpu-hours"), "gpu-hours-bar-")
    values = [data["hours"][u][w] for u in data["users"] for w in range(len(data["weeks"]))]
    ids = [f"gpu-hours-bar-{u}-{w}" for u in range(len(data["users"])) for w in range(len(data["weeks"]))]
    assert_proportional([size(drawn[i], 1) for i in ids], values)


def test_the_runs_per_state_bars_count_the_runs_mart(page, con):
    data = island(page, "runs-per-state")
    found = query(con, "select strftime(created_at, '%Y-%m-%d'), state, count(*) from {s}.wandb__runs group by 1, 2")
    counts = {(d, s): n for s in data["states"] for d, n in zip(data["days"], data["counts"][s], strict=True) if n}
    assert counts == {(d, s): n for d, s, n in found}
    assert sum(counts.values()) == query(con, "select count(*) from {s}.wandb__runs")[0][0]
    drawn = marks(figure(page, "runs-per-state"), "runs-per-state-state-")
    ids = [f"runs-per-state-state-{s}-{d}" for s in range(len(data["states"])) for d in range(len(data["days"]))]
    values = [data["counts"][s][d] for s in data["states"] for d in range(len(data["days"]))]
    assert_proportional([size(drawn[i], 1) for i in ids], values)


def test_the_leaderboard_draws_each_sweeps_ranked_runs(page, con):
    data = island(page, "sweep-leaderboard")
    found = query(
        con,
        "select project_id, sweep_id, run_id, rank, metric_value from {s}.wandb__sweep_leaderboard "
        f"where rank <= {report.RUNS_PER_SWEEP} order by 1, 2, rank",
    )
    shown = [
        (s["project_id"], s["sweep_id"], r["run_id"], r["rank"], r["metric_value"])
        for s in data["sweeps"]
        for r in s["runs"]
    ]
    assert shown == found and len(data["sweeps"]) > 1
    drawn = marks(figure(page, "sweep-leaderboard"), "sweep-leaderboard-sweep-")
    for i, sweep in enumerate(data["sweeps"]):
        widths = [size(drawn[f"sweep-leaderboard-sweep-{i}-rank-{r['rank']}"], 0) for r in sweep["runs"]]
        assert_proportional(widths, [r["metric_value"] for r in sweep["runs"]])


def test_the_lineage_is_the_best_model_and_every_version_behind_it(page, con):
    data = island(page, "best-model-lineage")
    models = query(con, "select best_artifact_id, best_value, target_goal from {s}.wandb__best_model_datasets")
    best = max((m for m in models if m[0]), key=lambda m: m[1] if m[2] == "maximize" else -m[1])
    assert data["model"]["best_artifact_id"] == best[0]
    ancestors = query(
        con, "select ancestor_artifact_id, depth from {s}.wandb__artifact_ancestry where artifact_id = ?", [best[0]]
    )
    assert {(n["artifact_id"], n["depth"]) for n in data["nodes"]} == {(best[0], 0), *ancestors} and ancestors
    roots_sql = (
        "select cast(root_dataset_ids as varchar) from {s}.wandb__best_model_datasets where best_artifact_id = ?"
    )
    roots = set(json.loads(query(con, roots_sql, [best[0]])[0][0]))
    assert {n["artifact_id"] for n in data["nodes"] if n["root"]} == roots
    svg = figure(page, "best-model-lineage")
    nodes = [g for g in svg.iter(f"{SVG}g") if g.get("id", "").startswith("best-model-lineage-node-")]
    labels = {"".join(g.itertext()).strip() for g in nodes}
    assert {n["name"] for n in data["nodes"]} <= {label.split("\n")[0].strip() for label in labels}
    assert len(marks(svg, "best-model-lineage-edge-")) == len(data["edges"]) >= len(ancestors)


def test_the_answers_equal_the_datasets_own(built):
    """GPU hours per user and the best run of each sweep, on screen, against the dataset (not the marts)."""
    world = demo_world()
    expected = expected_marts(world, Settings(as_of=max(r.heartbeat_at for r in live_runs(world))))
    hours: dict[str, float] = defaultdict(float)
    for row in expected["gpu_hours_weekly"]:
        hours[row["user"] or "(no user)"] += row["gpu_hours"]
    lines = report.answers(built / "warehouse.db")
    shown = dict(re.findall(r"^  (.+?) +([\d.]+) GPU h", "\n".join(lines), re.MULTILINE))
    assert shown == {user: f"{total:.1f}" for user, total in hours.items()}
    winners = {(r["project_id"], r["sweep_id"], r["run_id"]) for r in expected["sweep_leaderboard"] if r["rank"] == 1}
    shown_winners = {tuple(m.groups()) for line in lines if (m := re.match(r"  (\S+)/(\w+): (\S+) ", line))}
    assert shown_winners == winners and winners


# Every chart's SVG: its size on the page, and how many of its marks (curves, bars, nodes, arrows) drew something.
RENDERED = """JSON.stringify([...document.querySelectorAll("figure")].map(f => {
  const svg = f.querySelector("svg"), box = svg.getBoundingClientRect();
  const mark = new RegExp("^" + f.id + "-(curve|bar|state|sweep|node|edge)-");
  const marks = [...svg.querySelectorAll("g[id]")].filter(g => mark.test(g.id));
  return {id: f.id, width: box.width, height: box.height, marks: marks.length,
          drawn: marks.filter(g => { const b = g.getBBox(); return b.width > 0 || b.height > 0; }).length};
}))"""


@pytest.mark.skipif(not browser.available() and not BROWSER_REQUIRED, reason="no chromium: apt-get install chromium")
def test_chromium_renders_every_chart_with_no_console_error_and_no_request_but_the_page(built, page):
    with browser.Chromium() as chromium:
        visit = chromium.visit((built / "report.html").as_uri(), RENDERED)
    assert visit.errors == []
    assert visit.requests == [(built / "report.html").as_uri()]
    charts = {chart["id"]: chart for chart in json.loads(visit.value)}
    assert set(charts) == {name for name, *_ in report.CHARTS}
    for name, chart in charts.items():
        assert chart["width"] > 500 and chart["height"] > 150, chart
        assert chart["marks"] == len(re.findall(rf'<g id="{name}-(?:curve|bar|state|sweep|node|edge)-', page)) > 0
        assert chart["drawn"] == chart["marks"], f"{name}: {chart['marks'] - chart['drawn']} marks drew nothing"


def test_the_demo_ends_with_the_marts_answers_and_writes_the_page(tmp_path_factory, tmp_path, capsys):
    """`make demo`'s last step, on the demo warehouse: the package built, its answers on screen, the page written."""
    synced = shared_directory(tmp_path_factory, "dbt-demo", lambda d: copy_of(sync(demo_world(), d), d / "synced"))
    files = tmp_path / "files"
    copy_of(synced / "synced" / "warehouse.db", files)
    assert demo._answers(files, as_of="data") == 0
    shown = capsys.readouterr().out
    for heading in ("dbt build:", "GPU hours per user", "failure rate per job type", "the best run of each sweep"):
        assert heading in shown
    assert "the datasets behind each model collection's best version" in shown
    assert (files / "report.html").stat().st_size > 10_000 and "report.html" in shown
