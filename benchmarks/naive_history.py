"""The naive history walk: every run's `run.scan_history()` with the client's defaults, reading only.

`python -m benchmarks.naive_history URL ENTITY KEY` lists the entity's projects and runs and reads each run's full
history the way W&B's docs say to (wandb-core reads the parquet export where there is one and pages the rest);
prints one JSON line with the rows it read and its wall time.
"""

from __future__ import annotations

import argparse
import json
import time

from benchmarks.naive_walk import client_environment


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base_url")
    parser.add_argument("entity")
    parser.add_argument("api_key")
    args = parser.parse_args()
    client_environment()
    import wandb

    started = time.monotonic()
    api = wandb.Api(api_key=args.api_key, overrides={"base_url": args.base_url})
    runs = rows = 0
    for project in api.projects(args.entity):
        for run in api.runs(f"{args.entity}/{project.name}"):
            rows += sum(1 for _ in run.scan_history())
            runs += 1
    print(json.dumps({"runs": runs, "rows": rows, "wall_s": round(time.monotonic() - started, 3)}))


if __name__ == "__main__":
    main()
