"""Reading W&B's answers: a missing key, a wrong type or a null where an object belongs becomes an error that names
what was being read, never a wrong row."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .errors import SourceError


class Gone(SourceError):
    """What was being read no longer exists (deleted or renamed since it was listed); `key` says which part."""

    def __init__(self, message: str, key: str):
        super().__init__(message)
        self.key = key


@contextmanager
def expect_shape(what: str) -> Iterator[None]:
    """Turn a missing key or a wrong type in W&B's answer into a source error that names what was being read."""
    try:
        yield
    except (KeyError, TypeError, AttributeError, IndexError) as error:
        raise SourceError(
            f"W&B's answer to {what} does not have the documented shape ({type(error).__name__}: {error}): "
            "retry later; report it to W&B if it persists"
        ) from None


def dig(data: Any, path: tuple[str, ...], what: str) -> dict:
    """Follow `path` into a response; a null parent means the thing is gone, a missing key a mangled answer."""
    for key in path:
        data = field(data, key, what)
        if data is None:
            raise Gone(f"W&B found no {key} for {what}: it may have been deleted or renamed during the sync", key)
    return data


def field(data: Any, key: str, what: str, named: str | None = None) -> Any:
    """`data[key]`, or a source error saying W&B's answer lacks it (`named`: W&B's name of a field asked under the
    alias `key`)."""
    if not isinstance(data, dict) or key not in data:
        raise SourceError(
            f"W&B's answer to {what} lacks '{named or key}': the response does not have the documented shape; "
            "retry later or report it to W&B"
        )
    return data[key]
