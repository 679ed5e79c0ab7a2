"""A real Iceberg lakehouse on 127.0.0.1 for `fivetran run`: SeaweedFS's `weed mini` (an S3 server and an Iceberg
REST catalog in one process) from the lakehouse venv, started and stopped by PID, plus the CLI run and the read-back.

The lakehouse venv exists because DuckDB's iceberg/httpfs/avro extensions are on PyPI only up to DuckDB 1.5.5 while
the SDK pins 1.5.6, and an extension loads only into the DuckDB it was built for (research: iceberg-local.md). Used
by `make lakehouse`, its test and its benchmark; stdlib only, so any venv can import it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from devkit.fivetran_cli import ROOT, DebugRun, fivetran

VENV = ROOT / os.environ.get("LAKEHOUSE_VENV", ".venv-lakehouse")
BIN = VENV / "bin"
# Where `make` installs DuckDB's extensions from their wheels; each CLI run's HOME links its ~/.duckdb/extensions here.
EXTENSIONS = VENV / "duckdb-extensions"
# The throwaway lakehouse's one user: weed mini creates it from these, and its key pair is both the S3 key and the
# catalog's OAuth2 client. Not secrets: the lakehouse listens on 127.0.0.1 only and lives as long as one command.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "fivetranlocal", "AWS_SECRET_ACCESS_KEY": "fivetranlocalsecret"}
WAREHOUSE = "warehouse"
SERVICES = ("master", "volume", "filer", "s3", "admin")


def available() -> bool:
    return (BIN / "weed").exists() and (BIN / "fivetran").exists() and EXTENSIONS.is_dir()


def destination(catalog_uri: str, s3_endpoint: str, namespace: str = "wandb") -> dict:
    """`destination.json` for this lakehouse. Credentials are `${NAME}` references the CLI resolves from its
    environment, so the file holds no secret and is safe to keep beside the connector (it is git-ignored anyway)."""
    return {
        "uri": catalog_uri,
        "warehouse": WAREHOUSE,
        "namespace": namespace,
        "client_id": "${AWS_ACCESS_KEY_ID}",
        "client_secret": "${AWS_SECRET_ACCESS_KEY}",
        "header.X-Iceberg-Access-Delegation": "none",
        "s3.region": "us-east-1",
        "s3.endpoint": s3_endpoint,
        "s3.access-key-id": "${AWS_ACCESS_KEY_ID}",
        "s3.secret-access-key": "${AWS_SECRET_ACCESS_KEY}",
        "s3.force-virtual-addressing": False,
    }


class Lakehouse:
    """`weed mini` with its data in `directory`, every listener on a free 127.0.0.1 port (two can run at once), and
    telemetry off; stopped by PID on exit, also when the block fails."""

    def __init__(self, directory: Path, timeout: float = 60):
        self.directory = directory
        self.timeout = timeout
        self.process: subprocess.Popen | None = None
        self.ports: dict[str, int] = {}

    @property
    def catalog_uri(self) -> str:
        return f"http://127.0.0.1:{self.ports['iceberg']}"

    @property
    def s3_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def destination(self, namespace: str = "wandb") -> dict:
        return destination(self.catalog_uri, self.s3_endpoint, namespace)

    def __enter__(self) -> Lakehouse:
        if not available():
            raise RuntimeError(f"no lakehouse venv at {VENV}: run `make {VENV.name}` (or `make lakehouse`) first")
        data = self.directory / "weed"
        data.mkdir(parents=True, exist_ok=True)
        names = [*SERVICES, *(f"{name}.grpc" for name in SERVICES), "iceberg"]
        self.ports = dict(zip(names, _free_ports(len(names)), strict=True))
        listeners = [f"-{name}.port={self.ports[name]}" for name in SERVICES]
        listeners += [f"-{name}.port.grpc={self.ports[name + '.grpc']}" for name in SERVICES]
        command = [
            str(BIN / "weed"),
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            *listeners,
            f"-s3.port.iceberg={self.ports['iceberg']}",
            "-s3.port.lance=0",
            "-admin.ui=false",
            "-webdav=false",
            f"-filer.localSocket={data / 'filer.sock'}",
            f"-s3.localSocket={data / 's3.sock'}",
            f"-tableBucket={WAREHOUSE}",
        ]
        self.log = (self.directory / "weed.log").open("w")
        self.process = subprocess.Popen(
            command, env=os.environ | CREDENTIALS, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT
        )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self.log.close()

    def _wait_until_ready(self) -> None:
        """Up when the catalog answers its config and S3 answers at all (an anonymous request gets 403)."""
        deadline = time.monotonic() + self.timeout
        for url in (f"{self.catalog_uri}/v1/config?warehouse={WAREHOUSE}", f"{self.s3_endpoint}/"):
            while True:
                try:
                    urllib.request.urlopen(url, timeout=2).read()
                    break
                except urllib.error.HTTPError:
                    break
                except OSError as error:
                    if self.process.poll() is not None:
                        exited = self.process.returncode
                        raise RuntimeError(f"weed mini exited ({exited}): {self._log_tail()}") from None
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"weed mini not ready after {self.timeout} s: {url}: {error}") from None
                    time.sleep(0.1)

    def _log_tail(self) -> str:
        self.log.flush()
        return (self.directory / "weed.log").read_text()[-2000:]

    def run(
        self,
        configuration: dict | Path,
        home: Path,
        project: Path,
        namespace: str = "wandb",
        timeout: float = 900,
        on_line: Callable[[str], None] | None = None,
    ) -> DebugRun:
        """The real `fivetran run <project>` of the lakehouse venv into this lakehouse; `on_line` sees its output
        as it comes."""
        self.prepare(project, home, namespace)
        return fivetran(
            "run", configuration, home, project, timeout=timeout, extra_env=CREDENTIALS, venv_bin=BIN, on_line=on_line
        )

    def prepare(self, project: Path, home: Path, namespace: str = "wandb") -> None:
        """What `fivetran run` needs beside the CLI: `destination.json` in the project, as a user keeps it, and
        the extensions under the run's HOME."""
        (project / "destination.json").write_text(json.dumps(self.destination(namespace), indent=2) + "\n")
        link_extensions(home)

    def read(self, namespace: str = "wandb", counts: bool = False) -> dict:
        """Every table of `namespace`, read by PyIceberg (not the writer) through the catalog: see iceberg_reader."""
        command = [
            str(BIN / "python"),
            str(ROOT / "devkit" / "iceberg_reader.py"),
            "read",
            f"--uri={self.catalog_uri}",
            f"--s3-endpoint={self.s3_endpoint}",
            f"--namespace={namespace}",
        ] + (["--counts"] if counts else [])
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYICEBERG_")} | CREDENTIALS
        result = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(f"reading the lakehouse failed: {result.stderr[-3000:]}")
        return json.loads(result.stdout)


def link_extensions(home: Path) -> None:
    """The SDK's DuckDB looks for extensions in ~/.duckdb/extensions: point it at the ones `make` installed."""
    link = home / ".duckdb" / "extensions"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(EXTENSIONS, target_is_directory=True)


def _free_ports(count: int) -> list[int]:
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
