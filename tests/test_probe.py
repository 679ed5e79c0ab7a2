"""The connection probe's failure table, one row per way an address can fail to be W&B's API, each answered by
`responses` (which fakes `requests`, the library the probe speaks). What `responses` cannot fake (a server that
accepts and stays silent, one that trickles its answer, TLS spoken to a plain port) is proven on real sockets in
tests/test_failures.py."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import pytest
import requests
import responses
import urllib3
from responses import matchers

from wandb_connector.errors import ConfigurationError
from wandb_connector.failures import URL_FIX
from wandb_connector.probe import http_problem, probe

URL = "https://api.wandb.example.com"


@pytest.fixture
def fake() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mocked:
        yield mocked


@pytest.fixture
def listening() -> Iterator[str]:
    """An address whose TCP connect succeeds (the probe's first step), on 127.0.0.1; its HTTP is faked."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def untrusted() -> requests.exceptions.SSLError:
    """What requests raises for a self-signed certificate: its error wrapping urllib3's, wrapping `ssl`'s."""
    cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    cause.verify_message = "self-signed certificate"
    reason = urllib3.exceptions.SSLError(cause)
    return requests.exceptions.SSLError(urllib3.exceptions.MaxRetryError(None, URL + "/", reason=reason))


@pytest.mark.parametrize("status", [200, 301, 302, 401, 403, 404, 405, 500])
def test_any_http_answer_passes(fake, status):
    """Given any HTTP status at the root, even an error or a redirect to a login page, then the probe passes: it
    proves the scheme, the certificate and that something answers; the login judges the rest."""
    fake.get(URL + "/", status=status, headers={"Location": "https://sso.example.com/login"})
    assert http_problem(URL, 5) is None


def test_a_redirect_is_not_followed(fake):
    """Given a root that redirects to an address that would fail, then the probe does not follow it."""
    fake.get(URL + "/", status=302, headers={"Location": "http://127.0.0.1:9/login"})
    assert http_problem(URL, 5) is None
    assert len(fake.calls) == 1


def test_plain_http_to_an_https_port_says_use_https(fake):
    """Given nginx's answer to plain HTTP on its TLS port, then the probe says to use https://."""
    fake.get(URL + "/", status=400, body="<html>400 The plain HTTP request was sent to HTTPS port</html>")
    assert http_problem(URL, 5) == "is an https server: use https:// in 'base_url'"


def test_another_bad_request_passes(fake):
    """Given a 400 that is not that one, then it is an answer like any other."""
    fake.get(URL + "/", status=400, body="bad request")
    assert http_problem(URL, 5) is None


def test_an_untrusted_certificate_names_the_reason_and_the_fix(fake):
    """Given a certificate this machine does not trust, then the message names `ssl`'s reason and SSL_CERT_FILE."""
    fake.get(URL + "/", body=untrusted())
    problem = http_problem(URL, 5)
    assert problem is not None
    assert "certificate this machine does not trust (self-signed certificate)" in problem
    assert "SSL_CERT_FILE" in problem


def test_another_tls_failure_asks_for_the_scheme_and_port(fake):
    """Given a TLS failure that is not the certificate (TLS spoken to a plain port), then the message asks to check
    http:// against https:// and the port."""
    fake.get(URL + "/", body=requests.exceptions.SSLError("[SSL: WRONG_VERSION_NUMBER] wrong version number"))
    problem = http_problem(URL, 5)
    assert problem is not None and problem.startswith("does not answer HTTP (SSLError: ")
    assert "check http:// vs https:// and the port" in problem


def test_a_broken_connection_asks_for_the_scheme_and_port(fake):
    """Given a connection that breaks before any answer, then the same."""
    fake.get(URL + "/", body=requests.exceptions.ConnectionError("Connection aborted."))
    assert http_problem(URL, 5) == (
        "does not answer HTTP (ConnectionError: Connection aborted.): check http:// vs https:// and the port"
    )


def test_a_read_timeout_says_no_answer_came(fake):
    """Given a server that accepts and times out, then the message says no HTTP answer came within the timeout."""
    fake.get(URL + "/", body=requests.exceptions.ReadTimeout("read timed out"))
    assert http_problem(URL, 3) == "accepts connections but sent no HTTP answer within 3 s"


def test_the_ca_bundle_the_machine_names_is_used(fake, monkeypatch):
    """Given REQUESTS_CA_BUNDLE (how a company installs its CA), then the probe verifies with it, while ignoring
    proxies and every other environment setting (`trust_env` off)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/company/ca.pem")
    fake.get(URL + "/", status=200, match=[matchers.request_kwargs_matcher({"verify": "/etc/company/ca.pem"})])
    assert http_problem(URL, 5) is None


def test_probe_turns_a_problem_into_a_configuration_error_naming_the_fix(fake, listening):
    """Given an address that connects but answers no HTTP, then `probe` raises a configuration error naming the
    address, the problem and how to fix `base_url`."""
    fake.get(listening + "/", body=requests.exceptions.ConnectionError("Connection reset by peer"))
    with pytest.raises(ConfigurationError) as raised:
        probe(listening, 5)
    assert str(raised.value) == (
        f"{listening} does not answer HTTP (ConnectionError: Connection reset by peer): "
        f"check http:// vs https:// and the port: {URL_FIX}"
    )


def test_probe_passes_an_address_that_answers(fake, listening):
    fake.get(listening + "/", status=401)
    probe(listening, 5)


def test_behind_a_proxy_the_probe_asks_nothing(fake, monkeypatch):
    """Given a proxy in the environment, then the probe sends nothing (the proxy decides what is reachable, and
    wandb-core goes through it)."""
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    fake.assert_all_requests_are_fired = False
    probe("https://api.wandb.example.com", 5)
    assert len(fake.calls) == 0
