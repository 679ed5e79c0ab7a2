"""Run the real `fivetran debug` CLI offline and fast, the way the end-to-end tests, the demo and CI need it.

The SDK checks PyPI for its own version (7 s of retries offline) and runs `pipreqs`, which asks pypi.python.org
about packages it cannot resolve locally (12 s of retries offline). An isolated HOME seeded with "already checked"
timestamps and a no-op `pipreqs` first on PATH skip both (research: fivetran-sdk.md §3).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAR_FUTURE = 4102444800  # 2100-01-01: "the version was checked recently"


@dataclass
class DebugRun:
    returncode: int
    output: str

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0 and "SYNC SUCCEEDED" in self.output


CONNECTOR_FILES = ("connector.py", "requirements.txt", "wandb_connector")


def connector_project(directory: Path) -> Path:
    """A copy of just the connector (what `fivetran deploy` would run), so a test's warehouse stays in its tmp dir."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in CONNECTOR_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, directory / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, directory / name)
    return directory


def offline_home(home: Path, venv_bin: Path | None = None) -> dict[str, str]:
    """Environment for the CLI: its own HOME, no telemetry, no version checks, no pipreqs network lookups."""
    sdk = home / ".fivetran" / "connector_sdk"
    core = home / ".fivetran" / "connector_sdk_core"
    sdk.mkdir(parents=True, exist_ok=True)
    core.mkdir(parents=True, exist_ok=True)
    (sdk / "_last_version_check").write_text(str(FAR_FUTURE))
    (core / "_config.json").write_text(json.dumps({"lastVersionCheck": FAR_FUTURE, "licenseNoticeShown": True}))
    shim = home / "shim"
    shim.mkdir(exist_ok=True)
    (shim / "pipreqs").write_text("#!/bin/sh\nexit 0\n")
    (shim / "pipreqs").chmod(0o755)
    venv_bin = venv_bin or Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "FIVETRAN_"))}
    env.update(HOME=str(home), DO_NOT_TRACK="1", PATH=os.pathsep.join([str(shim), str(venv_bin), env.get("PATH", "")]))
    return env


def fivetran_debug(
    configuration: dict | Path,
    home: Path,
    project: Path = ROOT,
    state: Path | None = None,
    timeout: float = 600,
    extra_env: dict[str, str] | None = None,
) -> DebugRun:
    """`fivetran debug <project> --configuration <file>`; the warehouse lands in `<project>/files/warehouse.db`."""
    return fivetran("debug", configuration, home, project, state=state, timeout=timeout, extra_env=extra_env)


def fivetran(
    verb: str,
    configuration: dict | Path,
    home: Path,
    project: Path,
    state: Path | None = None,
    timeout: float = 600,
    extra_env: dict[str, str] | None = None,
    venv_bin: Path | None = None,
) -> DebugRun:
    """`fivetran <verb> <project> --configuration <file>` with the CLI of `venv_bin` (this venv's by default)."""
    home.mkdir(parents=True, exist_ok=True)
    if isinstance(configuration, dict):
        path = home / "configuration.json"
        path.write_text(json.dumps(configuration))
        configuration = path
    venv_bin = venv_bin or Path(sys.executable).parent
    command = [str(venv_bin / "fivetran"), verb, str(project), "--configuration", str(configuration)]
    if state is not None:
        command += ["--state", str(state)]
    env = offline_home(home, venv_bin) | (extra_env or {})
    result = subprocess.run(
        command, cwd=project, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
    )
    return DebugRun(result.returncode, result.stdout + result.stderr)
