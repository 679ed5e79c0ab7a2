"""Shared fixtures: an isolated wandb environment, the W&B double in a thread, and a guard that keeps every test
on 127.0.0.1."""

from __future__ import annotations

import ipaddress
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fivetran_connector_sdk import Operations

_SCRATCH = Path(tempfile.mkdtemp(prefix="wandb-connector-tests-"))
# wandb reads these once per process, before the first Api(): set them before anything imports wandb.
os.environ.update(
    {
        "WANDB_CONFIG_DIR": str(_SCRATCH / "config"),
        "WANDB_CACHE_DIR": str(_SCRATCH / "cache"),
        "WANDB_DIR": str(_SCRATCH / "runs"),
        "XDG_CACHE_HOME": str(_SCRATCH / "xdg-cache"),
        "WANDB_ERROR_REPORTING": "false",
        "WANDB_SILENT": "true",
        # A proxy nobody listens on: any request that is not for the double (NO_PROXY) fails instead of leaving.
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
    }
)
for _key in ("WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_ENTITY", "WANDB_PROJECT"):
    os.environ.pop(_key, None)

from devkit.wandb_double import DEFAULT_API_KEY, WandbDouble, build_world  # noqa: E402
from devkit.wandb_double.dataset import World  # noqa: E402

# Tests pace their requests like a sync does, at a rate no test reaches, so pacing is on the path of every test.
TEST_REQUESTS_PER_MINUTE = 6000
_real_connect = socket.socket.connect


def _loopback_only(sock: socket.socket, address: object) -> object:
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
            raise ConnectionRefusedError(f"tests may only talk to 127.0.0.1, not {host}")
    return _real_connect(sock, address)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


WORLD = {"seed": 11, "projects": 3, "runs_per_project": 30, "artifact_versions": 24, "history_steps": 6}
# For tests that sync many times over (a kill at every request): the same shapes, a third of the rows.
SMALL_WORLD = {"seed": 11, "projects": 2, "runs_per_project": 12, "artifact_versions": 10, "history_steps": 4}


@pytest.fixture
def world(request: pytest.FixtureRequest) -> World:
    """The test world; `@pytest.mark.parametrize("world", [SMALL_WORLD], indirect=True)` asks for another size."""
    return build_world(**getattr(request, "param", WORLD))


@pytest.fixture
def double(world: World) -> Iterator[WandbDouble]:
    with WandbDouble(world, page_cap=25) as served:
        yield served


@pytest.fixture
def configuration(double: WandbDouble) -> dict:
    return {
        "api_key": DEFAULT_API_KEY,
        "entity": double.world.entity,
        "base_url": double.base_url,
        "requests_per_minute": str(TEST_REQUESTS_PER_MINUTE),
        "history": "true",  # off by default; the tests sync every table
    }


@pytest.fixture
def upserted(monkeypatch) -> list[tuple[str, dict]]:
    """Every row the connector upserts, as (table, row), in order."""
    rows: list[tuple[str, dict]] = []
    upsert = Operations.upsert
    monkeypatch.setattr(Operations, "upsert", lambda table, data: (rows.append((table, data)), upsert(table, data))[1])
    return rows
