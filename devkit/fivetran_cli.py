"""Assemble the connector alone and run the real `fivetran` CLI on it offline and fast, the way the end-to-end tests,
the demo, `make package` and CI need it.

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
import threading
from collections.abc import Callable, Sequence
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


# What Fivetran's runtime needs of this repository, and all `fivetran package` may upload.
CONNECTOR_FILES = ("connector.py", "requirements.txt", "wandb_connector")
NO_OP_PIPREQS = "#!/bin/sh\nexit 0\n"


def connector_project(directory: Path, source_root: Path = ROOT) -> Path:
    """The connector alone in `directory` (what `fivetran package` uploads and Fivetran runs), so a run's warehouse
    stays there. Assembling again replaces just CONNECTOR_FILES: the `files/` a `fivetran debug` there keeps its
    warehouse and state in stays. `source_root`: another checkout's connector (a benchmark's "before")."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in CONNECTOR_FILES:
        source, target = source_root / name, directory / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target)
    return directory


def offline_home(home: Path, venv_bin: Path | None = None, pipreqs: str = NO_OP_PIPREQS) -> dict[str, str]:
    """Environment for the CLI: its own HOME, no telemetry, no version checks, and `pipreqs` (the script the SDK's
    requirements check runs) first on PATH: a no-op by default, so no network lookups."""
    sdk = home / ".fivetran" / "connector_sdk"
    core = home / ".fivetran" / "connector_sdk_core"
    sdk.mkdir(parents=True, exist_ok=True)
    core.mkdir(parents=True, exist_ok=True)
    (sdk / "_last_version_check").write_text(str(FAR_FUTURE))
    (core / "_config.json").write_text(json.dumps({"lastVersionCheck": FAR_FUTURE, "licenseNoticeShown": True}))
    shim = home / "shim"
    shim.mkdir(exist_ok=True)
    (shim / "pipreqs").write_text(pipreqs)
    (shim / "pipreqs").chmod(0o755)
    venv_bin = venv_bin or Path(sys.executable).parent
    # PYTHONPATH too: the connector imports what its folder and the CLI's venv hold, as on Fivetran, nothing else.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "FIVETRAN_")) and k != "PYTHONPATH"}
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
    configuration: dict | Path | None,
    home: Path,
    project: Path,
    state: Path | None = None,
    timeout: float = 600,
    extra_env: dict[str, str] | None = None,
    venv_bin: Path | None = None,
    flags: Sequence[str] = (),
    pipreqs: str = NO_OP_PIPREQS,
    on_line: Callable[[str], None] | None = None,
) -> DebugRun:
    """`fivetran <verb> <project> [--configuration <file>] [flags]` with the CLI of `venv_bin` (this venv's by
    default) and `pipreqs` as offline_home puts it first on PATH; `on_line` sees each line of output as it comes."""
    home.mkdir(parents=True, exist_ok=True)
    if isinstance(configuration, dict):
        path = home / "configuration.json"
        path.write_text(json.dumps(configuration))
        configuration = path
    venv_bin = venv_bin or Path(sys.executable).parent
    command = [str(venv_bin / "fivetran"), verb, str(project), *flags]
    if configuration is not None:
        command += ["--configuration", str(configuration)]
    if state is not None:
        command += ["--state", str(state)]
    env = offline_home(home, venv_bin, pipreqs) | (extra_env or {})
    if on_line is None:
        result = subprocess.run(
            command, cwd=project, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
        )
        return DebugRun(result.returncode, result.stdout + result.stderr)
    return _streamed(command, project, env | {"PYTHONUNBUFFERED": "1"}, timeout, on_line)


def _streamed(
    command: list[str], cwd: Path, env: dict[str, str], timeout: float, on_line: Callable[[str], None]
) -> DebugRun:
    """Run the CLI handing each line of its output to `on_line` as it comes (a long sync is not 30 s of silence)."""
    lines: list[str] = []
    with subprocess.Popen(
        command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        try:
            for line in process.stdout:
                lines.append(line)
                on_line(line.rstrip("\n"))
        finally:
            timer.cancel()
    return DebugRun(process.returncode, "".join(lines))


def connector_error(output: str) -> str | None:
    """The message a failed sync ended with, whole: the connector's own (`Error: failed while executing update()
    error: <message>` in the SDK's summary, which may run over several lines before its traceback) or, when the
    CLI failed before the connector ran (a configuration file that is not all strings), its last SEVERE line."""
    lines = output.splitlines()
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].strip().startswith("Error: "):
            message = [
                lines[index].strip().removeprefix("Error: ").removeprefix("failed while executing update() error: ")
            ]
            for line in lines[index + 1 :]:
                if not line.strip() or "Traceback (most recent call last)" in line:
                    break
                message.append(line.strip())
            return " ".join(message).strip()
    severe = [line.split("SEVERE", 1)[1] for line in lines if "SEVERE" in line and "SYNC FAILED" not in line]
    return severe[-1].strip(" ⚡").removeprefix("sdk").strip() if severe else None
