"""What `make debug` and `make deploy` check before they start: every missing or wrong input at once, each with its
fix, before anything is built or sent. `fivetran deploy` itself asks for a missing value interactively or stops at
the first one, after packaging; these checks need no network and no Fivetran account.

Exit status 0 when all is in place, 2 otherwise. The Fivetran API key is read from the environment and never shown.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from fivetran_connector_sdk_common.constants import CONNECTION_SCHEMA_NAME_PATTERN

PLACEHOLDER = re.compile(r"<.*>", re.DOTALL)  # how configuration.json.example marks what to fill in


def configuration_problems(path: Path) -> list[str]:
    """A configuration file that is not there, not a JSON object, or still holds the example's `<...>` text."""
    if not path.is_file():
        return [f"CONFIG: {path} does not exist: copy configuration.json.example there and fill in your key and entity"]
    try:
        values = json.loads(path.read_text())
    except ValueError as error:
        return [f"CONFIG: {path} is not valid JSON ({error})"]
    if not isinstance(values, dict):
        return [f"CONFIG: {path} must hold a JSON object of configuration keys"]
    unfilled = [key for key, value in values.items() if isinstance(value, str) and PLACEHOLDER.fullmatch(value)]
    if unfilled:
        return [f"CONFIG: {path} still holds the example's placeholder for {', '.join(unfilled)}: fill in real values"]
    return []


def deploy_problems(destination: str, connection: str) -> list[str]:
    """The Fivetran side of a deploy: the API key (environment only), the destination and the connection name."""
    problems = []
    if not os.environ.get("FIVETRAN_API_KEY", "").strip():
        problems.append(
            "FIVETRAN_API_KEY is not set: export it in your shell (your Fivetran API key, base64-encoded, as "
            "`fivetran deploy --api-key` takes it); make never prints it"
        )
    if not destination.strip():
        problems.append("DESTINATION is not set: make deploy DESTINATION=<the destination's name in Fivetran> ...")
    if not connection.strip():
        problems.append("CONNECTION is not set: make deploy CONNECTION=<a new or existing connection name> ...")
    elif not re.match(CONNECTION_SCHEMA_NAME_PATTERN, connection):
        problems.append(
            f"CONNECTION '{connection}' is not a valid connection name: lower-case letters, digits and _, not "
            f"starting with a digit ({CONNECTION_SCHEMA_NAME_PATTERN}), e.g. {_valid_name(connection)}"
        )
    return problems


def _valid_name(name: str) -> str:
    """`name` as the nearest valid connection name: `W&B-Prod` becomes `w_b_prod`, `2024` becomes `_2024`."""
    name = re.sub(r"[^_a-z0-9]+", "_", name.lower())
    return name if re.match(CONNECTION_SCHEMA_NAME_PATTERN, name) else f"_{name}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.preflight")
    parser.add_argument("command", choices=("debug", "deploy"))
    parser.add_argument("--configuration", default="configuration.json")
    parser.add_argument("--destination", default="")
    parser.add_argument("--connection", default="")
    args = parser.parse_args(argv)
    problems = []
    if args.command == "deploy":
        problems += deploy_problems(args.destination, args.connection)
    problems += configuration_problems(Path(args.configuration))
    for problem in problems:
        print(f"make {args.command}: {problem}", file=sys.stderr)
    return 2 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
