"""The connection probe: fail in seconds, naming the fix, when `base_url` cannot be W&B's API. wandb-core would retry
a dead, silent or mis-schemed address for minutes and then call it an outage.

A TCP connect, then one plain GET of the root with `requests` (which Fivetran's runtime provides): any HTTP answer
will do, a 401, a 404 or a redirect alike (the login judges it): it proves the scheme, the certificate and that
something answers. Skipped behind a proxy, which decides what is reachable.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
from urllib.parse import urlsplit

import requests

from .errors import ConfigurationError
from .failures import URL_FIX


def probe(base_url: str, timeout: float) -> None:
    parts = urlsplit(base_url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    if requests.utils.get_environ_proxies(base_url).get(parts.scheme):
        return
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as error:
        reason = f"no answer within {timeout:g} s" if isinstance(error, TimeoutError) else error.strerror
        raise ConfigurationError(
            f"cannot reach W&B at {base_url} ({reason or type(error).__name__}): {URL_FIX}, "
            "and that the server is up and reachable from here"
        ) from None
    problem = http_problem(base_url, timeout)
    if problem:
        raise ConfigurationError(f"{base_url} {problem}: {URL_FIX}")


def http_problem(base_url: str, timeout: float) -> str | None:
    """What stops `base_url` from answering HTTP(S) at all, within `timeout` in total (a server that trickles its
    answer a byte at a time extends no read timeout past it); None when it answers."""
    outcome: list[str | None] = []
    asking = threading.Thread(target=lambda: outcome.append(_ask(base_url, timeout)), daemon=True)
    asking.start()
    asking.join(timeout)
    return outcome[0] if outcome else _silent(timeout)


def _silent(timeout: float) -> str:
    return f"accepts connections but sent no HTTP answer within {timeout:g} s"


def _ask(base_url: str, timeout: float) -> str | None:
    with requests.Session() as session:
        session.trust_env = False  # no proxy (the probe judges the address itself); the CA bundle is set below
        verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE") or True
        try:
            with session.get(base_url + "/", timeout=timeout, allow_redirects=False, stream=True, verify=verify) as got:
                body = (
                    got.raw.read(2000, decode_content=True).decode(errors="replace") if got.status_code == 400 else ""
                )
        except requests.exceptions.SSLError as error:
            return _certificate(error) or _no_http(error)
        except requests.exceptions.Timeout:
            return _silent(timeout)
        except requests.exceptions.RequestException as error:
            return _no_http(error)
    return "is an https server: use https:// in 'base_url'" if "HTTPS port" in body else None


def _certificate(error: BaseException) -> str | None:
    """The certificate's problem, when one this machine does not trust is what failed: requests wraps urllib3's
    error, which wraps (or names as its reason) the `ssl` module's."""
    seen, todo = set(), [error]
    while todo:
        current = todo.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return (
                f"presents a certificate this machine does not trust ({current.verify_message}): use the server's "
                "trusted address, or install its CA (SSL_CERT_FILE)"
            )
        nested = [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
        todo += [current.__cause__, current.__context__, getattr(current, "reason", None), *nested]
    return None


def _no_http(error: BaseException) -> str:
    return f"does not answer HTTP ({type(error).__name__}: {error}): check http:// vs https:// and the port"
