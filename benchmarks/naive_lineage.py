"""Lineage the client's way, for comparison: per run, `run.used_artifacts()` and `run.logged_artifacts()` (one
request each), or per version, `artifact.used_by()`.

Run as its own process: `python -m benchmarks.naive_lineage URL ENTITY KEY --walk per-run --sample N`; prints one
JSON line with the edges it read, the runs (or versions) it walked and its wall time. `--sample N` stops each
project after N runs (or versions), for datasets where the whole walk would take hours; the caller scales.
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
    parser.add_argument("--walk", choices=("per-run", "per-version"), default="per-run")
    parser.add_argument("--sample", type=int, default=0)
    args = parser.parse_args()
    client_environment()
    import wandb

    started = time.monotonic()
    api = wandb.Api(api_key=args.api_key, overrides={"base_url": args.base_url})
    walked = edges = 0
    for project in api.projects(args.entity):
        path = f"{args.entity}/{project.name}"
        items = api.runs(path, per_page=1000) if args.walk == "per-run" else _versions(api, path)
        for index, item in enumerate(items):
            if args.sample and index >= args.sample:
                break
            if args.walk == "per-run":
                edges += sum(1 for _ in item.used_artifacts()) + sum(1 for _ in item.logged_artifacts())
            else:
                edges += len(item.used_by())
            walked += 1
    print(json.dumps({"walked": walked, "edges": edges, "wall_s": round(time.monotonic() - started, 3)}))


def _versions(api, path: str):
    for kind in api.artifact_types(path):
        for collection in kind.collections():
            yield from collection.artifacts()


if __name__ == "__main__":
    main()
