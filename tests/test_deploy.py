"""`make deploy` and `make debug` stop before they build or send anything when an input is missing or wrong, name
each one with its fix, and never show the Fivetran API key. Only these early failures are tested: a deploy that
gets past them talks to api.fivetran.com."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devkit.fivetran_cli import ROOT
from scripts.preflight import deploy_problems

SECRET = "fivetran-" + "APIKEY" * 6


def make(target: str, environment: dict[str, str] | None = None, **variables: object) -> subprocess.CompletedProcess:
    """`make <target>` in the repository with this venv as VENV, which make must not rebuild (`-o`)."""
    venv = Path(sys.executable).parent.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIVETRAN_", "MAKE")) and k != "MFLAGS"}
    command = ["make", "--no-print-directory", "-o", f"{venv}/.installed", target, f"VENV={venv}"]
    command += [f"{name}={value}" for name, value in variables.items()]
    return subprocess.run(
        command, cwd=ROOT, env=env | (environment or {}), stdin=subprocess.DEVNULL, capture_output=True, text=True
    )


def test_given_nothing_when_make_deploy_then_it_names_every_missing_input_and_builds_nothing(tmp_path: Path):
    result = make("deploy", CONFIG=tmp_path / "configuration.json")

    assert result.returncode != 0
    for message in ("FIVETRAN_API_KEY is not set", "DESTINATION is not set", "CONNECTION is not set"):
        assert message in result.stderr
    assert f"CONFIG: {tmp_path / 'configuration.json'} does not exist" in result.stderr
    assert "scripts.package" not in result.stdout and "fivetran deploy" not in result.stdout


def test_given_the_examples_placeholders_and_a_bad_connection_name_then_make_deploy_stops_and_hides_the_key():
    result = make(
        "deploy",
        {"FIVETRAN_API_KEY": SECRET},
        CONFIG="configuration.json.example",
        DESTINATION="warehouse",
        CONNECTION="W&B-Prod",
    )

    assert result.returncode != 0
    assert "still holds the example's placeholder for api_key, entity" in result.stderr
    assert "CONNECTION 'W&B-Prod' is not a valid connection name" in result.stderr and "e.g. w_b_prod" in result.stderr
    assert "FIVETRAN_API_KEY" not in result.stderr and "DESTINATION" not in result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert "scripts.package" not in result.stdout


def test_given_no_configuration_file_when_make_debug_then_it_says_so_before_building(tmp_path: Path):
    result = make("debug", CONFIG=tmp_path / "mine.json")

    assert result.returncode != 0
    assert f"CONFIG: {tmp_path / 'mine.json'} does not exist" in result.stderr
    assert "scripts.package" not in result.stdout


@pytest.mark.parametrize("name", ["wandb", "_wandb_prod", "team2_runs"])
def test_a_connection_name_fivetran_accepts_passes(monkeypatch: pytest.MonkeyPatch, name: str):
    monkeypatch.setenv("FIVETRAN_API_KEY", SECRET)
    assert deploy_problems("warehouse", name) == []


@pytest.mark.parametrize("name", ["Wandb", "wandb-prod", "2wandb", "wandb prod", "wandb.prod"])
def test_a_connection_name_fivetran_rejects_is_named_with_the_rule(monkeypatch: pytest.MonkeyPatch, name: str):
    monkeypatch.setenv("FIVETRAN_API_KEY", SECRET)
    problems = deploy_problems("warehouse", name)
    assert len(problems) == 1 and problems[0].startswith(f"CONNECTION '{name}' is not a valid connection name")
    assert "(^[_a-z][_a-z0-9]*$)" in problems[0], "the SDK's own rule, as the README states it"
