"""`make lakehouse`: the real `fivetran run` syncs the W&B double's demo dataset into a local Iceberg lakehouse, and
a second reader (PyIceberg, not the writer) reads every table back through the catalog.

Everything it starts lives under files/lakehouse/ and on free 127.0.0.1 ports, and stops when it ends, also when
it fails: the double, `weed mini` (S3 and the Iceberg REST catalog), and the connector project `fivetran run` syncs
(a copy of the connector with its own destination.json and state, so `make demo`'s files/state.json is untouched).
"""

from __future__ import annotations

import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from devkit.fivetran_cli import ROOT, connector_project
from devkit.lakehouse import CREDENTIALS, EXTENSIONS, Lakehouse
from scripts.demo import _expected_counts, demo_double, show_line, show_result
from wandb_connector.registry import TABLES

HERE = ROOT / "files" / "lakehouse"
NAMESPACE = "wandb"


def main(keep: bool = False) -> int:
    """With `keep` (`make lakehouse KEEP=1`) the lakehouse and the double stay up after the report, until Ctrl-C,
    for a reader of the user's own (DuckDB, Spark, Trino) to query. Ctrl-C or SIGTERM, at any point, unwinds
    through the `finally`s that stop the lakehouse and the double: nothing it started outlives it."""
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    shutil.rmtree(HERE, ignore_errors=True)
    project = connector_project(HERE / "project")
    print("syncing the W&B double's demo dataset with `fivetran run` into a local Iceberg lakehouse (weed mini)")
    with (
        demo_double() as configuration,
        tempfile.TemporaryDirectory(prefix="wandb-lakehouse-") as home,
        Lakehouse(HERE) as lake,
    ):
        print(f"catalog {lake.catalog_uri}, S3 {lake.s3_endpoint}, data in {(HERE / 'weed').relative_to(ROOT)}")
        status = _sync(lake, project, configuration, Path(home))
        print("\n" + _how_to_read(lake, keep))
        if keep:
            _wait_for_interrupt()
        return status


def _sync(lake: Lakehouse, project: Path, configuration: dict, home: Path) -> int:
    started = time.monotonic()
    result = lake.run(configuration, home, project, namespace=NAMESPACE, on_line=show_line)
    elapsed = time.monotonic() - started
    if not show_result("fivetran run", result, elapsed, HERE / "run.log"):
        return 1
    print(f"destination.json it used: {(project / 'destination.json').relative_to(ROOT)}")
    read = lake.read(NAMESPACE, counts=True)["tables"]
    expected = _expected_counts()
    print(f"\nread back by PyIceberg through the catalog (namespace {NAMESPACE}):")
    print(f"  {'table':<18} {'rows':>6} {'demo dataset':>12} {'deleted':>7} {'snapshots':>9}  key (identifier fields)")
    mismatch = False
    for table in TABLES:
        landed = read.get(table.name)
        if landed is None:
            print(f"  {table.name:<18} missing from the catalog")
            mismatch = True
            continue
        mismatch |= landed["rows"] != expected[table.name]
        counts = f"{landed['rows']:>6} {expected[table.name]:>12} {landed['deleted']:>7} {landed['snapshots']:>9}"
        print(f"  {table.name:<18} {counts}  {', '.join(landed['identifier_fields'])}")
    return 1 if mismatch else 0


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _wait_for_interrupt() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopping the lakehouse and the double")


def _how_to_read(lake: Lakehouse, keep: bool) -> str:
    key, secret = CREDENTIALS["AWS_ACCESS_KEY_ID"], CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
    s3 = lake.s3_endpoint.removeprefix("http://")
    return "\n".join(
        [
            "the lakehouse is up until Ctrl-C; DuckDB 1.5.5 (`.venv-lakehouse/bin/python`, whose extensions"
            " `make` installed) reads it as:"
            if keep
            else "the lakehouse stops with this command (`make lakehouse KEEP=1` keeps it up); DuckDB 1.5.5"
            " (`.venv-lakehouse/bin/python`, whose extensions `make` installed) reads it as:",
            f"  SET extension_directory = '{EXTENSIONS}'; LOAD httpfs; LOAD avro; LOAD iceberg;",
            f"  CREATE SECRET (TYPE S3, KEY_ID '{key}', SECRET '{secret}', REGION 'us-east-1', ENDPOINT '{s3}',"
            " URL_STYLE 'path', USE_SSL false);",
            f"  CREATE SECRET cat (TYPE ICEBERG, CLIENT_ID '{key}', CLIENT_SECRET '{secret}',"
            f" OAUTH2_SERVER_URI '{lake.catalog_uri}/v1/oauth/tokens');",
            f"  ATTACH 'warehouse' AS lake (TYPE ICEBERG, SECRET cat, ENDPOINT '{lake.catalog_uri}',"
            " ACCESS_DELEGATION_MODE 'none');",
            f"  SELECT * FROM lake.{NAMESPACE}.run_fields;",
        ]
    )


if __name__ == "__main__":
    sys.exit(main(keep="--keep" in sys.argv[1:]))
