"""Value conversions from W&B's wire shapes to what the warehouse can hold.

W&B sends naive UTC timestamps, JSON-encoded strings for config and summaries, and summaries full of NaN and
Infinity; Fivetran rejects naive strings for UTC_DATETIME and strict JSON has no NaN. Anything that does not have
the expected shape raises `MalformedValue` rather than landing as a wrong value.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import yaml

from .errors import SourceError

# A run's states as W&B reports them: still going (read again at every sync), or ended.
OPEN_STATES = ("running", "pending", "preempting")
FINAL_STATES = ("finished", "crashed", "failed", "killed", "preempted")
# The system metrics' per-GPU keys (`system.gpu.<i>.<metric>`): what tells a run's GPUs when W&B has no `runInfo`.
GPU_KEY = re.compile(r"^system\.gpu\.(\d+)\.(.+)$")
CONFIG_INTERNAL_KEYS = frozenset({"_wandb", "wandb_version"})
# W&B's own bookkeeping in a run's summary (its runtime, media counts): not the user's metrics.
SUMMARY_INTERNAL_KEYS = frozenset({"_wandb"})


class NonFinite(str):
    """NaN or ±Infinity as the text every JSON column holds ("NaN", "Infinity", "-Infinity"), still telling a
    number that was not finite from a string a user logged with that text."""


NON_FINITE = {math.inf: NonFinite("Infinity"), -math.inf: NonFinite("-Infinity")}
NAN = NonFinite("NaN")


class MalformedValue(SourceError):
    """A value from W&B is not in the shape the API documents."""


def parse_time(value: str | None, what: str) -> datetime | None:
    """W&B's `2023-11-05T17:46:35` is UTC without a zone; accept `Z`, offsets and fractions too."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MalformedValue(f"{what} should be an ISO timestamp, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise MalformedValue(f"{what} is not an ISO timestamp: {value[:40]!r}") from error
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def required_time(value: str | None, what: str) -> datetime:
    """A timestamp W&B always sends; its absence means the answer is not in the documented shape."""
    parsed = parse_time(value, what)
    if parsed is None:
        raise MalformedValue(f"{what} is missing: W&B's answer does not have the documented shape")
    return parsed


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def decode_json(value: Any, what: str) -> Any:
    """Decode one of W&B's JSON-encoded string fields into strict JSON (see `finite_json`: the decoder turns the
    NaN and Infinity tokens into strings as it reads, sparing a second walk); empty means absent, not an error."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        return finite_json(value)
    try:
        return json.loads(value, parse_constant=NonFinite, parse_float=_finite_float)
    except json.JSONDecodeError as error:
        raise MalformedValue(f"{what} is not valid JSON ({error.msg} at {error.pos})") from error


def _finite_float(text: str) -> float | NonFinite:
    """A number too large for a double (`1e999`) reads as Infinity: keep it a string like the Infinity token."""
    value = float(text)
    return value if math.isfinite(value) else NON_FINITE[value]


def finite_json(value: Any) -> Any:
    """Strict JSON for the warehouse: NaN and ±Infinity become the strings "NaN", "Infinity", "-Infinity".

    Strings keep the information (a diverged loss is worth knowing) and cast back to a float in every warehouse.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return NAN if math.isnan(value) else NON_FINITE[value]
    if isinstance(value, dict):
        return {str(k): finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    return value


def unwrap_config(raw: Any, what: str) -> dict:
    """The server wraps each config value as {"value": …, "desc": …}; users think in the bare values."""
    decoded = decode_json(raw, what) or {}
    if not isinstance(decoded, dict):
        raise MalformedValue(f"{what} should be a JSON object, got {type(decoded).__name__}")
    return {
        key: item["value"] if isinstance(item, dict) and "value" in item else item
        for key, item in decoded.items()
        if key not in CONFIG_INTERNAL_KEYS
    }


def summary_object(raw: Any, what: str) -> dict:
    """A run's summary without W&B's `_wandb` bookkeeping."""
    return {k: v for k, v in json_object(raw, what).items() if k not in SUMMARY_INTERNAL_KEYS}


def escape_key(segment: str) -> str:
    """One level of a flattened key: a dot or backslash in a key itself is escaped, so `a\\.b` (a key named
    "a.b") and `a.b` (key "b" nested in "a") never collide."""
    return segment.replace("\\", "\\\\").replace(".", "\\.")


def is_leaf(value: Any) -> bool:
    """Where flattening stops: anything but a non-empty object, and W&B's media objects (a dict with `_type`: a
    histogram, a table, an image), which are one value."""
    return not isinstance(value, dict) or not value or "_type" in value


def flatten(document: dict) -> Iterator[tuple[str, list[str], Any]]:
    """Every leaf of a nested object as (flattened key, path of keys, value), in the document's order; iterative,
    so a deeply nested config needs no recursion."""
    stack: list[tuple[str, list[str], Iterator[tuple[str, Any]]]] = [("", [], iter(document.items()))]
    while stack:
        prefix, path, items = stack[-1]
        item = next(items, None)
        if item is None:
            stack.pop()
            continue
        name, value = str(item[0]), item[1]
        key, where = prefix + escape_key(name), [*path, name]
        if is_leaf(value):
            yield key, where, value
        else:
            stack.append((key + ".", where, iter(value.items())))


def json_object(raw: Any, what: str) -> dict:
    decoded = decode_json(raw, what)
    if decoded is None:
        return {}
    if not isinstance(decoded, dict):
        raise MalformedValue(f"{what} should be a JSON object, got {type(decoded).__name__}")
    return decoded


def number(value: Any) -> float | None:
    """A metric as a DOUBLE: bools and non-numbers (NaN and Infinity decode to strings) are not metrics."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def yaml_object(raw: Any, what: str) -> dict:
    """A YAML document W&B sends as a string (a sweep's config) as a strict-JSON object: PyYAML's safe loader (no
    Python objects), its dates and times as ISO strings, NaN and Infinity as in every JSON column."""
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, str):
        raise MalformedValue(f"{what} should be a YAML string, got {type(raw).__name__}")
    try:
        decoded = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        raise MalformedValue(f"{what} is not valid YAML ({' '.join(str(error).split())[:200]})") from error
    if decoded is None:
        return {}
    if not isinstance(decoded, dict):
        raise MalformedValue(f"{what} should be a YAML mapping, got {type(decoded).__name__}")
    return finite_json(_plain(decoded))


def _plain(value: Any) -> Any:
    """YAML's own types that JSON lacks: dates and times as ISO strings, sets as lists, binary as base64."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, set | frozenset):
        return sorted((_plain(v) for v in value), key=repr)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def epoch_time(value: Any, what: str) -> datetime | None:
    """W&B's `_timestamp`: seconds since the epoch, as a float."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MalformedValue(f"{what} should be seconds since the epoch, got {str(value)[:40]!r}")
    return datetime.fromtimestamp(value, UTC)


def whole(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise MalformedValue(f"{what} should be a whole number, got {str(value)[:40]!r}")
    return int(value)


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def first_whole(*candidates: Any) -> int | None:
    """The first candidate that is a number, as a whole number (a step W&B may send as a float)."""
    return next((int(c) for c in candidates if isinstance(c, int | float) and not isinstance(c, bool)), None)
