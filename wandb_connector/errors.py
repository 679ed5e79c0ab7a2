"""The connector's failures: each says what failed, why, and what to do, and never carries the API key."""

from __future__ import annotations


class ConnectorError(Exception):
    """A sync cannot go on; the message is the whole story a user needs."""


class ConfigurationError(ConnectorError, ValueError):
    """The configuration cannot work (key, entity, base_url, values): the user must change it."""


class SourceError(ConnectorError):
    """W&B answered something unusable (GraphQL errors, mangled JSON, a broken shape): retrying later may help."""


class Cancelled(SourceError):
    """A worker's call abandoned because the sync failed elsewhere; never the error the sync reports."""


def redact(text: str, secret: str | None) -> str:
    """Remove the key from text that came from elsewhere (an exception message, a server's answer)."""
    if secret and secret in text:
        text = text.replace(secret, "<redacted>")
    return text
