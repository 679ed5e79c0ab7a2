"""Bad input and faults: one clear message naming the fix, no retry where one cannot help, and nothing committed is
lost."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from devkit.expected import expected_rows
from devkit.wandb_double import Fault, WandbDouble
from devkit.wandb_double.dataset import World
from tests.harness import Harness
from wandb_connector import client as client_module
from wandb_connector.errors import ConfigurationError, SourceError
from wandb_connector.probe import probe


@pytest.fixture
def harness(tmp_path, double: WandbDouble, configuration: dict) -> Harness:
    return Harness(tmp_path / "sync", configuration, double)


@pytest.fixture
def synced(harness: Harness) -> Harness:
    """A warehouse with one good sync in it, and a snapshot to prove a failed sync leaves it alone."""
    harness.sync()
    harness.before = (harness.state, {t: harness.rows(t, live_only=False) for t in ("projects", "run_fields")})
    return harness


def fails(harness: Harness, error: type[Exception], message: str, **configuration) -> Exception:
    harness.configuration = {**harness.configuration, **configuration}
    with pytest.raises(Exception) as raised:
        harness.sync()
    cause = raised.value.__cause__ or raised.value  # the runner wraps what update() raised, with its traceback
    assert isinstance(cause, error), repr(cause)
    assert message in str(cause), str(cause)
    assert "\n" not in str(cause).strip()
    return cause


def untouched(harness: Harness) -> None:
    state, rows = harness.before
    assert harness.state == state
    assert {t: harness.rows(t, live_only=False) for t in ("projects", "run_fields")} == rows


def recovers(harness: Harness, configuration: dict) -> None:
    harness.double.clear_faults()
    harness.configuration = configuration
    harness.sync()
    harness.assert_matches_world()


def test_a_wrong_key_fails_as_configuration_after_one_request_not_retried(synced, configuration):
    synced.double.reset_log()
    fails(synced, ConfigurationError, f"new key at {synced.double.base_url}/authorize", api_key="w" * 40)
    assert [(r.op, r.status) for r in synced.double.requests] == [("Viewer", 401)]
    untouched(synced)
    recovers(synced, configuration)


def test_an_unknown_entity_fails_as_configuration_asking_each_question_once(synced, configuration):
    synced.double.reset_log()
    fails(synced, ConfigurationError, "has no entity 'nobody-here'", entity="nobody-here")
    assert sorted(synced.double.ops()) == sorted(set(synced.double.ops())), synced.double.ops()
    assert all(r.status == 200 for r in synced.double.requests)
    untouched(synced)


def test_an_entity_the_key_cannot_read_fails_as_configuration(synced, configuration):
    error = fails(synced, ConfigurationError, "no access to entity 'rival-lab'", entity="rival-lab")
    assert "permission denied" in str(error)
    untouched(synced)


def test_a_malformed_configuration_fails_before_any_request(synced, configuration):
    synced.double.reset_log()
    fails(
        synced,
        ConfigurationError,
        "'reconcile_interval_hours' 'daily' is not a number",
        reconcile_interval_hours="daily",
    )
    assert synced.double.count() == 0
    untouched(synced)


def test_a_dead_server_fails_as_configuration(synced, configuration):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    error = fails(synced, ConfigurationError, "(Connection refused)", base_url=f"http://127.0.0.1:{port}")
    assert "cannot reach W&B at http://127.0.0.1" in str(error) and "within" not in str(error), "refused at once"
    untouched(synced)
    recovers(synced, configuration)


def test_a_server_that_accepts_connections_but_never_answers_fails_as_configuration(synced, monkeypatch):
    monkeypatch.setattr("wandb_connector.failures.PROBE_TIMEOUT_S", 2)
    with socket.socket() as silent:  # the kernel accepts the connection; nobody ever reads it
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        fails(synced, ConfigurationError, "accepts connections but sent no HTTP answer within 2 s", base_url=url)
    untouched(synced)


def test_https_to_an_http_server_fails_as_configuration_naming_the_scheme(synced):
    url = synced.double.base_url.replace("http://", "https://")
    fails(synced, ConfigurationError, "check http:// vs https://", base_url=url)
    untouched(synced)


def test_http_to_an_https_port_fails_as_configuration_saying_use_https(synced):
    class PlainHttpToHttpsPort(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # what nginx answers plain HTTP on its TLS port
            body = b"<html>400 The plain HTTP request was sent to HTTPS port</html>"
            self.send_response(400)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), PlainHttpToHttpsPort)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        fails(synced, ConfigurationError, "is an https server: use https://", base_url=url)
    finally:
        server.shutdown()
    untouched(synced)


def serve(handler: type[http.server.BaseHTTPRequestHandler]) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_an_api_whose_root_redirects_elsewhere_syncs(harness):
    """SSO front doors and UI hosts redirect `GET /`; the API behind them works, and a redirect is an answer."""
    double_url = harness.double.base_url

    class RedirectingFront(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:9/login")  # nothing listens there
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            forwarded = urllib.request.Request(double_url + self.path, data=body, method="POST")
            for name in ("Authorization", "Content-Type"):
                if self.headers.get(name):
                    forwarded.add_header(name, self.headers[name])
            try:
                with urllib.request.urlopen(forwarded) as answer:
                    status, data = answer.status, answer.read()
            except urllib.error.HTTPError as error:
                status, data = error.code, error.read()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = serve(RedirectingFront)
    try:
        front = f"http://127.0.0.1:{server.server_address[1]}"
        harness.configuration = {**harness.configuration, "base_url": front}
        harness.sync()
        for table, rows in expected_rows(harness.double.world, front, harness.configuration).items():
            assert harness.rows(table) == rows, table
    finally:
        server.shutdown()


def test_a_server_that_trickles_its_answer_fails_the_probe_before_the_answer_ends():
    """The probe's timeout bounds the whole answer, not each read: a byte every half second does not extend it."""
    answer = b"HTTP/1.1 200 OK\r\nX-Slow: aaaaaaaaaaaa"
    sent = []

    class Trickle(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            for byte in answer:
                sent.append(byte)  # before the write: once the probe holds every byte, `sent` holds them too
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.5)

        def log_message(self, *args):
            pass

    server = serve(Trickle)
    try:
        with pytest.raises(ConfigurationError, match="sent no HTTP answer within 2 s"):
            probe(f"http://127.0.0.1:{server.server_address[1]}", 2)
        assert 0 < len(sent) < len(answer)
    finally:
        server.shutdown()


def test_a_base_url_without_w_and_bs_api_fails_as_configuration(synced, configuration):
    fails(synced, ConfigurationError, "does not answer like W&B's API", base_url=synced.double.base_url + "/ui")
    untouched(synced)


def test_a_base_url_answering_html_fails_as_configuration(synced, configuration):
    synced.double.reset_log()
    synced.double.inject(Fault.html(), op="Viewer", times=None)
    fails(synced, ConfigurationError, "does not answer like W&B's API")
    assert synced.double.ops() == ["Viewer"]  # not retried
    untouched(synced)
    recovers(synced, configuration)


def test_a_server_answering_5xx_for_good_fails_as_source_after_six_attempts(synced, configuration):
    synced.double.reset_log()
    synced.double.inject(Fault.http(503, message="upstream unavailable"), op="GetProjects", times=None)
    fails(synced, SourceError, "kept failing the projects of entity")
    assert synced.double.count("GetProjects") == 6
    untouched(synced)
    recovers(synced, configuration)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (
            Fault.graphql_error("project is being migrated"),
            "answered the run_fields, artifacts and sweeps of acme-ml/",
        ),
        (Fault.malformed(), "was not valid JSON"),
        (
            Fault(200, {}, json.dumps({"data": {"project": {"runs": {"edges": [{"node": {}}]}}}}).encode()),
            "does not have the documented shape",
        ),
        (Fault(200, {}, json.dumps({"data": {"project": {"runz": {}}}}).encode()), "lacks 'runs'"),
    ],
    ids=["graphql-error", "malformed-json", "broken-node", "missing-field"],
)
def test_a_mangled_answer_fails_as_source_naming_what_was_read(synced, configuration, fault, message):
    synced.double.inject(fault, op="ProjectFirstPages")
    fails(synced, SourceError, message)
    recovers(synced, configuration)


def test_bursts_of_429_and_5xx_across_a_sync_lose_and_duplicate_nothing(harness, double: WandbDouble, world: World):
    harness.configuration = {**harness.configuration, "reconcile_interval_hours": "0"}
    for op in ("GetProjects", "ProjectFirstPages", "Runs", "ProjectArtifacts", "RunKeys", "GetTeamMembers"):
        double.inject(Fault.http(429, retry_after=0.2), op=op, times=3)
        double.inject(Fault.http(502), op=op, times=1, after=2)
    harness.sync()
    statuses = [r.status for r in double.requests]
    assert statuses.count(429) >= 10 and statuses.count(502) >= 3
    harness.assert_matches_world()
    everything = harness.rows("run_fields", live_only=False)
    assert len(everything) == len(harness.rows("run_fields"))
    harness.assert_counts_match_world()


def test_a_rate_limit_that_outlasts_wandb_cores_retries_is_waited_out(harness, double, monkeypatch):
    pauses = []
    monkeypatch.setattr(client_module, "_sleep", lambda seconds, cancelled: pauses.append(seconds))
    double.inject(Fault.http(429, retry_after=0.1), op="Runs", times=20)  # more than 3 projects x 6 attempts
    harness.sync()
    assert pauses and len([r for r in double.requests if r.status == 429]) == 20
    harness.assert_matches_world()


def test_a_project_that_vanishes_mid_sync_is_skipped_and_named(harness, double, world: World, capsys):
    gone = world.live_projects()[1]

    def delete_after_listing(request):
        if request.op == "GetProjects" and not gone.deleted:
            world.delete_project(gone)

    with double.hooked(delete_after_listing):
        harness.sync()
    assert f"skipped project {world.entity}/{gone.name}" in capsys.readouterr().out
    assert (f"{world.entity}/{gone.name}",) in harness.deleted("projects")  # swept in the same sync
    harness.assert_matches_world()
    harness.assert_counts_match_world()


def test_a_project_named_in_the_filter_that_does_not_exist_fails_as_configuration(synced):
    fails(synced, ConfigurationError, "no project 'phishing-detecter' in entity", projects="phishing-detecter")
    untouched(synced)


def test_a_project_that_vanishes_during_the_sweep_is_left_out_of_it(harness, double, world: World, capsys):
    harness.configuration = {**harness.configuration, "reconcile_interval_hours": "0"}
    harness.sync()
    before, gone = world.live_projects()[:2]

    def delete_while_sweeping(request):
        if request.op == "RunKeys" and request.variables["project"] == before.name and not gone.deleted:
            world.delete_project(gone)

    with double.hooked(delete_while_sweeping):
        harness.sync()
    assert f"project {world.entity}/{gone.name} vanished during the reconcile" in capsys.readouterr().out
    assert (f"{world.entity}/{gone.name}",) in harness.deleted("projects")
    assert gone.name not in harness.state["projects"]
    # Its runs' edges onto versions of projects already walked go at the next sync, which sees those versions'
    # users drop.
    assert all(harness.rows(t) == rows for t, rows in harness.expected().items() if t != "artifact_lineage")
    harness.configuration = {**harness.configuration, "reconcile_interval_hours": "24"}
    harness.sync()
    harness.assert_matches_world()
    harness.assert_counts_match_world()


def test_a_project_that_vanishes_during_a_reconciling_sync_does_not_fail_its_sweep(harness, double, world: World):
    harness.configuration = {**harness.configuration, "reconcile_interval_hours": "0"}
    harness.sync()
    gone = world.live_projects()[0]

    def delete_after_listing(request):
        if request.op == "GetProjects" and not gone.deleted:
            world.delete_project(gone)

    with double.hooked(delete_after_listing):
        harness.sync()
    harness.assert_matches_world()
    assert (f"{world.entity}/{gone.name}",) in harness.deleted("projects")
