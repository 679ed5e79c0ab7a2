"""The lakehouse's second reader: PyIceberg reads every table back through the REST catalog and the S3 store, a
different Iceberg implementation from the writer (the SDK writes through DuckDB's iceberg extension), so a table
only passes if what the SDK committed is real Iceberg that any engine reads.

Runs in the lakehouse venv (`.venv-lakehouse`), not in `.venv`, and imports nothing from this repository. Prints
one JSON document: per table its Iceberg schema (type and `required` of each column), identifier fields, snapshot
count, and either its rows or, with `--counts`, its live and deleted row counts. Credentials come from
`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, as the writer's do.

`install-extensions DIR` puts DuckDB's iceberg, httpfs and avro extensions from their PyPI wheels into DIR, so the
SDK's `INSTALL iceberg` finds them there (through `$HOME/.duckdb/extensions`) and downloads nothing.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

EXTENSIONS = ("iceberg", "httpfs", "avro")


def install_extensions(directory: Path) -> None:
    import duckdb

    directory.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"SET extension_directory = '{directory}'")
    for name in EXTENSIONS:
        package = Path(importlib.import_module(f"duckdb_extension_{name}").__file__).parent
        con.execute(f"INSTALL '{package / 'extensions' / f'v{duckdb.__version__}' / f'{name}.duckdb_extension'}'")


def catalog(uri: str, s3_endpoint: str):
    from pyiceberg.catalog.rest import RestCatalog

    key, secret = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    return RestCatalog(
        "lake",
        **{
            "uri": uri,
            "warehouse": "warehouse",
            "credential": f"{key}:{secret}",
            "s3.endpoint": s3_endpoint,
            "s3.access-key-id": key,
            "s3.secret-access-key": secret,
            "s3.region": "us-east-1",
            "s3.force-virtual-addressing": "false",
        },
    )


def read(uri: str, s3_endpoint: str, namespace: str, counts_only: bool) -> dict:
    import pyarrow.compute as pc

    lake = catalog(uri, s3_endpoint)
    tables = {}
    for identifier in sorted(lake.list_tables(namespace)):
        table = lake.load_table(identifier)
        schema = table.schema()
        data = table.scan().to_arrow()
        entry = {
            "columns": {f.name: {"type": str(f.field_type), "required": f.required} for f in schema.fields},
            "identifier_fields": sorted(schema.identifier_field_names()),
            "snapshots": len(table.snapshots()),
        }
        if counts_only:
            deleted = 0
            if "_fivetran_deleted" in data.schema.names:
                deleted = pc.sum(data["_fivetran_deleted"]).as_py() or 0
            entry |= {"rows": data.num_rows - deleted, "deleted": deleted}
        else:
            entry["rows"] = data.to_pylist()
        tables[identifier[-1]] = entry
    return {"namespace": namespace, "tables": tables}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    install = commands.add_parser("install-extensions")
    install.add_argument("directory", type=Path)
    reader = commands.add_parser("read")
    reader.add_argument("--uri", required=True)
    reader.add_argument("--s3-endpoint", required=True)
    reader.add_argument("--namespace", required=True)
    reader.add_argument("--counts", action="store_true")
    args = parser.parse_args()
    if args.command == "install-extensions":
        install_extensions(args.directory)
        return 0
    json.dump(read(args.uri, args.s3_endpoint, args.namespace, args.counts), sys.stdout, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
