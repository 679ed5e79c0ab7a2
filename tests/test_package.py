"""The deployable folder (`make package`): the archive the SDK's own `fivetran package` builds holds the connector and
nothing else; the packaged connector syncs from a venv of its requirements.txt and what Fivetran's runtime provides,
alone; and the SDK's own requirements check, given a pipreqs that can resolve names offline, finds nothing missing,
unused or mismatched in requirements.txt."""

from __future__ import annotations

import importlib.metadata
import json
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zipfile import ZipFile

import pytest
from fivetran_connector_sdk_common.constants import RECOMMEND_STABLE_VERSION_MESSAGE

from devkit.expected import expected_rows, warehouse_rows
from devkit.fivetran_cli import ROOT, connector_project, fivetran
from devkit.wandb_double import WandbDouble
from devkit.wandb_double.dataset import World
from scripts.package import package
from wandb_connector.registry import TABLES

FAKE_KEY = "fake-" + "PACKAGEDKEY" * 4
# `make test` sets these: there the package venv is built first, so a missing one is a failure, not a skip.
PACKAGE_VENV_SETTING = os.environ.get("PACKAGE_VENV", ".venv-package")
PACKAGE_VENV = ROOT / PACKAGE_VENV_SETTING
REQUIRED = os.environ.get("PACKAGE_REQUIRED") == "1"


def package_venv_is_current() -> bool:
    """Built by `make`, from the requirements files as they are now (an older one may hold a dropped package)."""
    installed = PACKAGE_VENV / ".installed"
    sources = (ROOT / "requirements.txt", ROOT / "requirements-package.txt")
    return installed.exists() and all(installed.stat().st_mtime >= s.stat().st_mtime for s in sources)


def test_the_archive_holds_the_connector_and_nothing_a_user_keeps_beside_it(tmp_path: Path):
    project = tmp_path / "connector"
    (project / "files").mkdir(parents=True)
    (project / "configuration.json").write_text(json.dumps({"api_key": FAKE_KEY, "entity": "acme"}))
    (project / "destination.json").write_text(json.dumps({"uri": "http://127.0.0.1:1", "client_secret": FAKE_KEY}))
    (project / "files" / "state.json").write_text(json.dumps({"version": 2, "tables": {}}))
    (project / "files" / "warehouse.db").write_bytes(b"DUCK" + FAKE_KEY.encode())
    (project / "wandb_connector").mkdir()
    (project / "wandb_connector" / "removed_since.py").write_text("# a module the source no longer has\n")

    with ZipFile(package(project, tmp_path / "home")) as archive:
        names = set(archive.namelist())
        contents = {name: archive.read(name) for name in names}

    sources = {path.relative_to(ROOT).as_posix() for path in (ROOT / "wandb_connector").rglob("*.py")}
    assert names == {"connector.py", "requirements.txt", "configuration_form.pb", *sources}
    assert b"api_key" in contents["configuration_form.pb"], "the SDK's serialised setup form, not its empty stand-in"
    assert not [name for name, data in contents.items() if FAKE_KEY.encode() in data]
    assert (project / "files" / "state.json").exists() and (project / "files" / "warehouse.db").exists()


@pytest.mark.skipif(
    not package_venv_is_current() and not REQUIRED,
    reason=f"no current package venv at {PACKAGE_VENV}: `make {PACKAGE_VENV_SETTING}/.installed` builds it",
)
def test_the_packaged_connector_syncs_from_a_venv_of_its_requirements_and_fivetrans_runtime_alone(
    tmp_path: Path, double: WandbDouble, world: World, configuration: dict
):
    """What Fivetran installs: requirements.txt over the SDK and requests. A dependency the connector imports but
    requirements.txt lacks fails this sync, here and not on Fivetran."""
    assert package_venv_is_current(), f"{PACKAGE_VENV} is missing or older than the requirements files: `make` it"
    runtime = tmp_path / "runtime"
    with ZipFile(package(tmp_path / "connector", tmp_path / "home")) as archive:
        archive.extractall(runtime)

    result = fivetran("debug", configuration, tmp_path / "home", runtime, venv_bin=PACKAGE_VENV / "bin")

    assert result.succeeded, result.output[-4000:]
    expected = expected_rows(world, double.base_url, configuration)
    for table in TABLES:
        rows = warehouse_rows(runtime / "files" / "warehouse.db", table.name, table.primary_key)
        assert rows == expected[table.name], table.name


@dataclass
class LocalPyPI:
    """PyPI's JSON API (`<server><name>/json`) on 127.0.0.1, answering with the version installed here: what pipreqs
    asks about an import it cannot map to a package locally (research: fivetran-sdk.md §3)."""

    url: str = ""
    asked: list[str] = field(default_factory=list)


@contextmanager
def local_pypi() -> Iterator[LocalPyPI]:
    index = LocalPyPI()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            name = self.path.removeprefix("/pypi/").removesuffix("/json")
            index.asked.append(name)
            try:
                info = {"name": name, "version": importlib.metadata.version(name), "package_url": self.path}
            except importlib.metadata.PackageNotFoundError:
                self.send_error(404)
                return
            body = json.dumps({"info": info, "releases": {}}).encode()  # what pipreqs' yarg reads
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), Handler) as server:
        index.url = f"http://127.0.0.1:{server.server_address[1]}/pypi/"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield index
        finally:
            server.shutdown()
            thread.join()


def sdk_requirements_check(project: Path, home: Path) -> tuple[str, list[str]]:
    """`fivetran package --non-interactive` with the real pipreqs first on PATH, pointed at a local PyPI: the SDK's
    own requirements check over the assembled folder. Its output, and the names pipreqs looked up."""
    real = Path(sys.executable).with_name("pipreqs")
    with local_pypi() as index:
        wrapper = f'#!/bin/sh\nexec "{real}" --pypi-server {index.url} "$@"\n'
        result = fivetran("package", None, home, project, flags=["--non-interactive"], pipreqs=wrapper)
    assert result.returncode == 0, result.output[-4000:]
    assert "pipreqs check failed" not in result.output, result.output[-4000:]
    return result.output, index.asked


MISSING = "Include the following dependency libraries"
UNUSED = "The following dependencies are not needed"


def test_the_sdks_requirements_check_finds_requirements_txt_complete_exact_and_lean(tmp_path: Path):
    project = connector_project(tmp_path / "connector")

    output, asked = sdk_requirements_check(project, tmp_path / "home")

    declared = {line.split("==")[0].lower() for line in (ROOT / "requirements.txt").read_text().split()}
    provided = {"requests"}  # Fivetran's runtime provides it; the SDK leaves it out of its comparison
    assert asked and {name.lower() for name in asked} <= declared | provided, asked
    assert MISSING not in output and UNUSED not in output and RECOMMEND_STABLE_VERSION_MESSAGE not in output, output
    assert "Validation of requirements.txt completed." in output
    assert (project / "requirements.txt").read_text() == (ROOT / "requirements.txt").read_text()


def test_the_sdks_requirements_check_as_run_here_names_a_dependency_requirements_txt_lacks(tmp_path: Path):
    """The check above has teeth: without its pydantic line, the same run names pydantic with its version."""
    project = connector_project(tmp_path / "connector")
    requirements = project / "requirements.txt"
    requirements.write_text("".join(line for line in requirements.open() if not line.startswith("pydantic==")))

    output, _ = sdk_requirements_check(project, tmp_path / "home")

    assert MISSING in output, output
    assert f"pydantic=={importlib.metadata.version('pydantic')}" in output.split(MISSING, 1)[1]
