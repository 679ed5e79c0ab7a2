"""`make package`: the connector alone in build/connector/, zipped by the SDK's own `fivetran package`, offline.

`fivetran package` uploads every file of the folder it is given (tests and scripts too) and its requirements check
runs pipreqs over all of them (research: fivetran-sdk.md §6), so it gets a folder holding only what Fivetran runs.
The archive is what `fivetran deploy build/connector` uploads (`make deploy`); `fivetran debug build/connector`
(`make debug`) runs the same folder, and its warehouse and state in build/connector/files/ survive re-assembling.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from zipfile import ZipFile

from devkit.fivetran_cli import ROOT, connector_project, fivetran

BUILD = ROOT / "build" / "connector"


class PackageFailed(RuntimeError):
    """`fivetran package` exited non-zero; the message is its output."""


def package(project: Path, home: Path) -> Path:
    """Assemble the connector in `project` and zip it with `fivetran package --non-interactive` (which keeps
    requirements.txt as written); returns the archive, `<project>/files/<project name>.zip`."""
    connector_project(project)
    result = fivetran("package", None, home, project, flags=["--non-interactive"])
    archive = project / "files" / f"{project.name}.zip"
    if result.returncode or not archive.exists():
        raise PackageFailed(f"fivetran package failed (exit {result.returncode}):\n{result.output}")
    return archive


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="fivetran-home-") as home:
        try:
            archive = package(BUILD, Path(home))
        except PackageFailed as failure:
            print(failure)
            return 1
    with ZipFile(archive) as zipped:
        entries = zipped.infolist()
    print(f"{archive.relative_to(ROOT)}: {len(entries)} files, {archive.stat().st_size / 1024:.0f} KiB")
    for entry in sorted(entries, key=lambda e: e.filename):
        print(f"  {entry.file_size:>7}  {entry.filename}")
    print("(the SDK's requirements check was a no-op here: tests/test_package.py runs it offline, make debug as is)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
