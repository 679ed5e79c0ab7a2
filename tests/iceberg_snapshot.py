"""Every table of the lakehouse's namespace copied into a DuckDB file through DuckDB's own Iceberg reader (the
iceberg extension, ATTACHed to the REST catalog), so the dbt package can build on what `fivetran run` committed.

Runs in the lakehouse venv (DuckDB 1.5.5, the newest with extension wheels), not in `.venv-dbt` (DuckDB 1.5.6, the
SDK's): an extension loads only into the DuckDB it was built for, so dbt cannot attach the catalog itself here. The
file it writes opens in 1.5.6. Imports nothing from this repository; credentials come from `AWS_ACCESS_KEY_ID` and
`AWS_SECRET_ACCESS_KEY`, as the writer's do.

    python tests/iceberg_snapshot.py --uri URI --s3-endpoint URL --extensions DIR --out FILE [--namespace wandb]
"""

from __future__ import annotations

import argparse
import json
import os

import duckdb


def snapshot(uri: str, s3_endpoint: str, extensions: str, out: str, namespace: str, schema: str) -> dict[str, int]:
    key, secret = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    with duckdb.connect(out) as con:
        con.execute("SET extension_directory = ?", [extensions])
        for extension in ("httpfs", "avro", "iceberg"):
            con.execute(f"LOAD {extension}")
        endpoint = s3_endpoint.removeprefix("http://")
        con.execute(
            f"CREATE SECRET (TYPE S3, KEY_ID '{key}', SECRET '{secret}', REGION 'us-east-1', ENDPOINT '{endpoint}', "
            "URL_STYLE 'path', USE_SSL false)"
        )
        con.execute(
            f"CREATE SECRET lake_catalog (TYPE ICEBERG, CLIENT_ID '{key}', CLIENT_SECRET '{secret}', "
            f"OAUTH2_SERVER_URI '{uri}/v1/oauth/tokens')"
        )
        con.execute(
            f"ATTACH 'warehouse' AS lake (TYPE ICEBERG, SECRET lake_catalog, ENDPOINT '{uri}', "
            "ACCESS_DELEGATION_MODE 'none')"
        )
        tables = [
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_catalog = 'lake' "
                "and table_schema = ? order by 1",
                [namespace],
            ).fetchall()
        ]
        con.execute(f'create schema "{schema}"')
        counts = {}
        for table in tables:
            con.execute(f'create table "{schema}"."{table}" as select * from lake."{namespace}"."{table}"')
            counts[table] = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
        con.execute("DETACH lake")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uri", required=True)
    parser.add_argument("--s3-endpoint", required=True)
    parser.add_argument("--extensions", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--namespace", default="wandb")
    parser.add_argument("--schema", default="wandb", help="the schema of the copies in the DuckDB file")
    arguments = parser.parse_args()
    counts = snapshot(
        arguments.uri, arguments.s3_endpoint, arguments.extensions, arguments.out, arguments.namespace, arguments.schema
    )
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
