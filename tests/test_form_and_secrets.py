"""The setup form and its connection test, and the promise that the API key never leaks anywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fivetran_connector_sdk import form_field

from devkit.fivetran_cli import connector_project, fivetran_debug, offline_home
from devkit.wandb_double import Fault, WandbDouble
from devkit.wandb_double.dataset import World
from tests.conftest import TEST_REQUESTS_PER_MINUTE
from tests.harness import Harness
from wandb_connector.form import build_form, connection_test
from wandb_connector.registry import OPTIONS, known_keys

SECRET = "leaky-" + "SECRETKEY" * 5
WRONG = "leaky-" + "WRONGKEY" * 6


@pytest.fixture
def double(world: World):
    with WandbDouble(world, api_keys=(SECRET,), page_cap=25) as served:
        yield served


@pytest.fixture
def configuration(double: WandbDouble) -> dict:
    return {
        "api_key": SECRET,
        "entity": double.world.entity,
        "base_url": double.base_url,
        "requests_per_minute": str(TEST_REQUESTS_PER_MINUTE),
    }


def test_the_form_has_every_configuration_key_and_the_key_is_a_password():
    form = build_form()
    fields = {f.name: f for f in form._fields}  # the SDK keeps them private; the CLI reads them the same way
    assert set(fields) == {option.key for option in OPTIONS}
    assert known_keys() - set(fields) == {"WandB_API_KEY", "history", "system_metrics", "lineage"}, "older names only"
    assert fields["api_key"].text_field == form_field.TextField.password
    assert all(f.description for f in fields.values())


def test_the_connection_test_passes_with_a_good_key(configuration):
    assert connection_test(configuration).success


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"api_key": WRONG}, "rejected the API key"),
        ({"entity": "nobody-here"}, "has no entity 'nobody-here'"),
        ({"entity": "rival-lab"}, "no access to entity 'rival-lab'"),
        ({"entity": ""}, "'entity' is missing"),
        ({"projects": "phishing-detecter"}, "no project 'phishing-detecter'"),
    ],
)
def test_the_connection_test_fails_with_the_syncs_message(configuration, change, message):
    result = connection_test({**configuration, **change})
    assert not result.success and message in result.failure
    assert SECRET not in result.failure and WRONG not in result.failure


@pytest.mark.parametrize(
    ("change", "code", "output"),
    [
        ({}, 0, "All tests passed"),
        ({"api_key": WRONG}, 1, "rejected the API key"),
        ({"entity": "nobody-here"}, 1, "has no entity 'nobody-here'"),
    ],
    ids=["good-key", "bad-key", "unknown-entity"],
)
def test_fivetran_configuration_test_runs_the_connection_test(tmp_path, configuration, change, code, output):
    project = connector_project(tmp_path / "project")
    (project / "configuration.json").write_text(json.dumps({**configuration, **change}))
    result = subprocess.run(
        [str(Path(sys.executable).with_name("fivetran")), "configuration", str(project), "--test"],
        cwd=project,
        env=offline_home(tmp_path / "home"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == code, result.stdout + result.stderr
    assert output in result.stdout + result.stderr


def test_the_key_is_in_no_log_line_exception_state_warehouse_or_crash_report(tmp_path, double, configuration):
    project = connector_project(tmp_path / "project")
    home = tmp_path / "home"
    outputs = [fivetran_debug(configuration, home, project=project).output]
    double.inject(Fault.graphql_error(f"boom, and the server echoes the key back: {SECRET}"), op="ProjectFirstPages")
    outputs.append(fivetran_debug(configuration, home, project=project).output)
    outputs.append(fivetran_debug({**configuration, "api_key": WRONG}, home, project=project).output)
    assert "SYNC SUCCEEDED" in outputs[0] and "SYNC FAILED" in outputs[1] and "rejected the API key" in outputs[2]
    harness = Harness(tmp_path / "inprocess", {**configuration, "api_key": WRONG}, double)
    with pytest.raises(Exception) as raised:
        harness.sync()
    texts = [*outputs, str(raised.value), repr(raised.value.__cause__)]
    for path in [*project.rglob("*"), *home.rglob("*"), *(tmp_path / "inprocess").rglob("*")]:
        if path.is_file() and path.name != "configuration.json":
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    leaks = [text[:200] for text in texts if SECRET in text or WRONG in text]
    assert not leaks
    assert (project / "files" / "state.json").exists() and (project / "files" / "warehouse.db").exists()
