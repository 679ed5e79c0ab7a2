"""Value conversions from W&B's wire shapes to what the warehouse can hold.

W&B sends naive UTC timestamps, JSON-encoded strings for config and summaries, and summaries full of NaN and
Infinity; Fivetran rejects naive strings for UTC_DATETIME and strict JSON has no NaN. Anything that does not have
the expected shape raises `MalformedValue` rather than landing as a wrong value.
"""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, date, datetime
from typing import Any

import yaml

from .errors import SourceError

CONFIG_INTERNAL_KEYS = frozenset({"_wandb", "wandb_version"})
NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


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
        return json.loads(value, parse_constant=str, parse_float=_finite_float)
    except json.JSONDecodeError as error:
        raise MalformedValue(f"{what} is not valid JSON ({error.msg} at {error.pos})") from error


def _finite_float(text: str) -> float | str:
    """A number too large for a double (`1e999`) reads as Infinity: keep it a string like the Infinity token."""
    value = float(text)
    return value if math.isfinite(value) else NON_FINITE[value]


def finite_json(value: Any) -> Any:
    """Strict JSON for the warehouse: NaN and ±Infinity become the strings "NaN", "Infinity", "-Infinity".

    Strings keep the information (a diverged loss is worth knowing) and cast back to a float in every warehouse.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else NON_FINITE[value]
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
