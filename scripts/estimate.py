"""`make estimate`: the bill before the first sync. Reads the entity's listings (nothing is synced or written) and
prints, per table, the rows a first sync writes and the monthly active rows a typical month then costs, with the
switches that cut each; its last line is one JSON object, table -> {"first_sync_rows", "monthly_active_rows"}.

With a key in the configuration (CONFIG=, default configuration.json) it reads that account; without one, the W&B
double's demo dataset, as `make demo` syncs it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from scripts.demo import ROOT, _has_real_key, _shown, demo_double
from wandb_connector.client import WandbClient, prepare_environment
from wandb_connector.errors import ConnectorError
from wandb_connector.estimate import SWITCHES, Estimate, estimate, rounded
from wandb_connector.registry import validate_configuration


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.estimate", description=__doc__)
    parser.add_argument("--configuration", type=Path, default=ROOT / "configuration.json", help="make's CONFIG=")
    args = parser.parse_args(argv)
    path = args.configuration.resolve()
    if _has_real_key(path):
        print(f"estimating the W&B account of {_shown(path)} (listings only; nothing is synced)")
        return _estimate(json.loads(path.read_text()))
    print("no W&B key in the configuration: estimating the W&B double's demo dataset, as `make demo` syncs it")
    with demo_double() as configuration:
        return _estimate(configuration)


def _estimate(configuration: dict) -> int:
    started = time.monotonic()
    try:
        settings = validate_configuration(configuration)
        with tempfile.TemporaryDirectory(prefix="wandb-estimate-", ignore_cleanup_errors=True) as scratch:
            prepare_environment(Path(scratch))
            client = WandbClient(settings)
            result = estimate(client, settings, datetime.now(UTC))
    except ConnectorError as error:
        print(f"\nError: {error}")
        return 1
    print(_table(result))
    print(f"\nread in {time.monotonic() - started:.1f} s.")
    print(json.dumps(result.as_json()))
    return 0


def _table(result: Estimate) -> str:
    lines = [
        "",
        f"  {'table':<20} {'first sync rows':>16} {'monthly active rows':>20}  switches that cut it",
    ]
    for name, tally in result.tables.items():
        mark = "~" if tally.sampled else ""
        first, monthly = mark + rounded(tally.first_sync_rows), mark + rounded(tally.monthly_active_rows)
        lines.append(f"  {name:<20} {first:>16} {monthly:>20}  {SWITCHES[name]}")
    total = sum(t.first_sync_rows for t in result.tables.values())
    monthly = sum(t.monthly_active_rows for t in result.tables.values())
    lines += [
        f"  {'all tables':<20} {rounded(total):>16} {rounded(monthly):>20}",
        "",
        "~ sampled: averages over a sample of runs (or versions) times their counts. A typical month is the last 30",
        "days: a row is written again only when it changes, so runs count the runs active in the window, and their",
        "history, system metrics, config and summary what those runs logged; versions, sweeps, members and projects",
        "count whole (at most all of them change in a month).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
