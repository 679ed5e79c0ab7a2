"""`make demo` on the path the README recommends for real W&B (a key in configuration.json): what the connector
said reaches the screen, last and whole when the sync fails, and the CLI's lines appear while it runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from devkit.fivetran_cli import ROOT, connector_error, connector_project, fivetran
from devkit.wandb_double import WandbDouble


def demo(tmp_path: Path, configuration: dict | str) -> list[str]:
    """`python -m scripts.demo` (what `make demo CONFIG=...` runs) with a configuration of the user's: its lines."""
    path = tmp_path / "configuration.json"
    path.write_text(configuration if isinstance(configuration, str) else json.dumps(configuration))
    command = [sys.executable, "-m", "scripts.demo", "--configuration", str(path), "--build", str(tmp_path / "build")]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    return [line for line in result.stdout.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"api_key": "w" * 40}, "rejected the API key (HTTP 401: {detail}): create a new key at {url}/authorize"),
        ({"api_key": "abc"}, "invalid configuration: 'api_key' is not a W&B API key (API key must have 40+"),
        ({"entity": "nobody-here"}, "W&B has no entity 'nobody-here' that this API key can read: check 'entity'"),
    ],
    ids=["wrong-key", "malformed-key", "unknown-entity"],
)
def test_given_a_failing_configuration_then_the_demo_ends_with_the_connectors_whole_message(
    tmp_path, double: WandbDouble, configuration, change, message
):
    lines = demo(tmp_path, {**configuration, **change})
    assert lines[-1].startswith("Error: "), lines[-5:]
    expected = message.split("{detail}")[-1].format(url=double.base_url)
    assert expected in lines[-1] and message.split(" (HTTP")[0].format(url=double.base_url) in lines[-1], lines[-1]
    assert "Traceback" not in "\n".join(lines) and 'File "' not in "\n".join(lines)


def test_given_a_configuration_that_is_not_all_strings_then_the_demo_ends_with_the_sdks_message(tmp_path):
    lines = demo(tmp_path, '{"api_key": 5, "entity": "acme"}')
    assert lines[-1] == "Error: invalid configuration file; all values must be strings", lines[-5:]


def test_the_clis_lines_reach_the_caller_while_the_sync_still_runs(tmp_path, double: WandbDouble, configuration):
    """Streamed, not buffered: when the connector's first line arrives, the CLI is still running (it has a whole
    sync ahead of it), so a user watching a long sync sees it move."""
    double.latency = 0.05
    seen: list[tuple[str, bool]] = []

    def on_line(line: str) -> None:
        if "⚡ connector" in line and not seen:
            running = [p for p in psutil.Process().children(recursive=True) if "fivetran" in " ".join(p.cmdline())]
            seen.append((line, bool(running) and all(p.is_running() for p in running)))

    project = connector_project(tmp_path / "project")
    result = fivetran("debug", configuration, tmp_path / "home", project, on_line=on_line)
    assert result.succeeded, result.output[-3000:]
    assert seen and seen[0][1], seen


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (
            "x SEVERE ⚡ sdk SYNC FAILED\n   Error: failed while executing update() error: the whole\n"
            "   story, over two lines\n   Traceback (most recent call last):\n   ConfigurationError: the message is "
            "above\n",
            "the whole story, over two lines",
        ),
        ("12:00 SEVERE   ⚡ sdk       ✗ invalid configuration: not JSON\n", "✗ invalid configuration: not JSON"),
        ("12:00 INFO ⚡ sdk SYNC SUCCEEDED\n", None),
    ],
)
def test_the_message_a_failed_sync_ended_with_is_found_whole(output, message):
    assert connector_error(output) == message
