"""Conversions from W&B's wire values to warehouse values."""

import json
import math
from datetime import UTC, datetime

import pytest

from wandb_connector.convert import MalformedValue, finite_json, json_object, parse_time, unwrap_config


@pytest.mark.parametrize(
    "text",
    ["2023-11-05T17:46:35", "2023-11-05T17:46:35Z", "2023-11-05T17:46:35+00:00", "2023-11-05T19:46:35+02:00"],
)
def test_given_w_and_b_timestamps_then_they_parse_as_aware_utc(text):
    assert parse_time(text, "t") == datetime(2023, 11, 5, 17, 46, 35, tzinfo=UTC)


def test_given_fractional_seconds_then_they_are_kept():
    assert parse_time("2023-11-05T17:46:35.250Z", "t").microsecond == 250000


def test_given_garbage_instead_of_a_timestamp_then_the_error_names_the_field():
    with pytest.raises(MalformedValue, match="run x createdAt is not an ISO timestamp"):
        parse_time("yesterday", "run x createdAt")


def test_given_nan_and_infinity_anywhere_then_json_is_strict_and_keeps_them_as_strings():
    value = {"loss": math.nan, "best": {"up": math.inf, "down": -math.inf}, "series": [1.0, math.nan]}
    assert finite_json(value) == {
        "loss": "NaN",
        "best": {"up": "Infinity", "down": "-Infinity"},
        "series": [1.0, "NaN"],
    }


def test_given_a_wrapped_config_then_values_are_unwrapped_and_internal_keys_dropped():
    raw = '{"lr": {"value": 0.1, "desc": null}, "_wandb": {"value": {}}, "wandb_version": 1, "legacy": 3}'
    assert unwrap_config(raw, "config") == {"lr": 0.1, "legacy": 3}


def test_given_a_summary_with_nan_tokens_then_it_decodes_to_strict_json():
    raw = '{"loss": NaN, "best": {"up": Infinity, "down": -Infinity}, "series": [1.0, NaN]}'
    assert json_object(raw, "summary") == finite_json(json.loads(raw))
    assert json_object(raw, "summary")["series"] == [1.0, "NaN"]


def test_given_numbers_too_large_for_a_double_then_they_land_as_infinity_strings():
    decoded = json_object('{"loss": 1e999, "grad": -1e999, "lr": 1e-3}', "summary")
    assert decoded == {"loss": "Infinity", "grad": "-Infinity", "lr": 0.001}
    json.dumps(decoded, allow_nan=False)


@pytest.mark.parametrize("raw", [None, ""])
def test_given_no_summary_then_it_is_an_empty_object(raw):
    assert json_object(raw, "summary") == {}


def test_given_mangled_json_then_the_error_says_where():
    with pytest.raises(MalformedValue, match="run x summaryMetrics is not valid JSON"):
        json_object('{"loss": ', "run x summaryMetrics")


def test_given_a_json_list_where_an_object_belongs_then_it_is_malformed():
    with pytest.raises(MalformedValue, match="should be a JSON object"):
        json_object("[1, 2]", "summary")
