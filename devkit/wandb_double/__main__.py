"""Run the double as a process: `python -m devkit.wandb_double --port 8765 --dataset demo`.

Prints `ready <base_url>` once it listens (also to `--ready-file`), then serves until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path

from .dataset import DATASETS, named_world
from .server import DEFAULT_API_KEY, WandbDouble


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devkit.wandb_double", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="demo")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--page-cap", type=int, default=100, help="most items per page, whatever is asked")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every response")
    parser.add_argument("--ready-file", type=Path, help="write the base URL here once listening")
    parser.add_argument(
        "--lacking",
        action="append",
        default=[],
        help="a field or argument this server does not have, e.g. Run.host or 'Sweep.runs(order:)' (repeatable)",
    )
    args = parser.parse_args(argv)

    world = named_world(args.dataset, seed=args.seed)
    double = WandbDouble(
        world, api_keys=(args.api_key,), page_cap=args.page_cap, latency=args.latency, lacking=set(args.lacking)
    ).start(args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"ready {double.base_url}", flush=True)
    if args.ready_file:
        args.ready_file.write_text(double.base_url)
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    double.stop()
    print(f"served {len(double.requests)} requests", file=sys.stderr)


if __name__ == "__main__":
    main()
