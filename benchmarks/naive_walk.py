"""The walk the wandb client's defaults and Fivetran's own W&B example make, for comparison.

projects → `api.runs()` (lazy, 50 per page) → each run's config and summary (one `Run` request each) → each run's
`logged_artifacts()` (one request each). Run as its own process: `python -m benchmarks.naive_walk URL ENTITY KEY`;
prints one JSON line with the rows it read and its wall time. `--runs-per-project N` stops each project after N runs
(a sample, for datasets where the full walk would take hours).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base_url")
    parser.add_argument("entity")
    parser.add_argument("api_key")
    parser.add_argument("--runs-per-project", type=int, default=0)
    args = parser.parse_args()
    client_environment()
    import wandb

    started = time.monotonic()
    api = wandb.Api(api_key=args.api_key, overrides={"base_url": args.base_url})
    runs = artifacts = 0
    for project in api.projects(args.entity):
        for index, run in enumerate(api.runs(f"{args.entity}/{project.name}")):
            if args.runs_per_project and index >= args.runs_per_project:
                break
            _ = (run.config, run.summary_metrics)
            artifacts += sum(1 for _ in run.logged_artifacts())
            runs += 1
    print(json.dumps({"runs": runs, "artifacts": artifacts, "wall_s": round(time.monotonic() - started, 3)}))


def client_environment() -> None:
    """The client's files in a scratch directory, before it is imported: a user's script, on a clean machine."""
    scratch = tempfile.mkdtemp(prefix="naive-walk-")
    os.environ.update(WANDB_DIR=scratch, WANDB_CACHE_DIR=scratch, WANDB_CONFIG_DIR=scratch, WANDB_SILENT="true")
    os.environ["WANDB_ERROR_REPORTING"] = "false"


if __name__ == "__main__":
    main()
