"""Configuration validation: every problem named with its fix, all at once, and the key never echoed."""

import re

import pytest

from wandb_connector.errors import ConfigurationError
from wandb_connector.registry import validate_configuration

KEY = "k" * 40


def test_given_a_complete_configuration_then_settings_are_typed_and_trimmed():
    settings = validate_configuration({"api_key": f" {KEY} ", "entity": "acme-ml", "base_url": "http://h:8080/"})
    assert (settings.api_key, settings.entity, settings.base_url) == (KEY, "acme-ml", "http://h:8080")


def test_given_fivetrans_example_key_name_then_it_is_accepted():
    assert validate_configuration({"WandB_API_KEY": KEY, "entity": "acme"}).api_key == KEY


def test_given_an_empty_base_url_then_the_clients_default_server_is_used():
    assert validate_configuration({"api_key": KEY, "entity": "acme", "base_url": ""}).base_url is None


def test_given_nothing_then_every_missing_key_is_named_with_its_fix():
    with pytest.raises(ConfigurationError) as error:
        validate_configuration({})
    message = str(error.value)
    assert "'api_key' is missing" in message and "https://wandb.ai/authorize" in message
    assert "'entity' is missing" in message


@pytest.mark.parametrize(
    ("configuration", "problem"),
    [
        ({"api_key": "short", "entity": "acme"}, "is not a W&B API key"),
        ({"api_key": KEY, "entity": "acme/proj"}, "is not a W&B entity name"),
        ({"api_key": KEY, "entity": "acme", "base_url": "api.wandb.example.com"}, "is not an http(s) URL"),
        ({"api_key": KEY, "entity": "acme", "base_url": "https://h/graphql"}, "without '/graphql'"),
        ({"api_key": KEY, "entity": "acme", "projects": 3}, "'projects' must be a string"),
        ({"api_key": KEY, "entity": "acme", "entitty": "x"}, "unknown keys ['entitty']"),
        ({"api_key": KEY, "WandB_API_KEY": "j" * 40, "entity": "acme"}, "'api_key' and 'WandB_API_KEY' hold different"),
        ({"api_key": KEY, "entity": "acme", "requests_per_minute": "0"}, "'requests_per_minute' '0' is not a whole"),
        ({"api_key": KEY, "entity": "acme", "requests_per_minute": "12.5"}, "'requests_per_minute' '12.5' is not"),
        ({"api_key": KEY, "entity": "acme", "requests_per_minute": "1e9"}, "'requests_per_minute' '1e9' is not"),
    ],
)
def test_given_a_bad_value_then_the_message_names_it(configuration, problem):
    with pytest.raises(ConfigurationError, match=re.escape(problem)):
        validate_configuration(configuration)


def test_given_a_malformed_key_then_the_key_is_not_in_the_message():
    secret = "not-a-key with spaces " * 3
    with pytest.raises(ConfigurationError) as error:
        validate_configuration({"api_key": secret, "entity": "acme"})
    assert secret.strip() not in str(error.value)
    assert "redacted" in repr(validate_configuration({"api_key": KEY, "entity": "acme"}))


@pytest.mark.parametrize(
    ("base_url", "problem"),
    [
        ("http://127.0.0.1:99999", "invalid port ('99999')"),
        ("https://h:443x", "invalid port ('443x')"),
        ("https://user:secret@h", "no user:password@"),
        ("https://h?x=1", "no ?query"),
        ("https://h#f", "no #fragment"),
        ("https://h /x", "is not an http(s) URL"),
    ],
)
def test_given_a_base_url_that_is_more_or_less_than_an_address_then_it_is_refused(base_url, problem):
    """The only problem named is the base_url's, so this input alone makes it; problems are joined with "; "."""
    only_this = rf"^invalid configuration: 'base_url' [^;]*{re.escape(problem)}[^;]*$"
    with pytest.raises(ConfigurationError, match=only_this) as error:
        validate_configuration({"api_key": KEY, "entity": "acme", "base_url": base_url})
    assert "secret" not in str(error.value)


@pytest.mark.parametrize("hours", ["1e11", "-1", "nan", "inf", "1e400"])
def test_given_an_interval_out_of_range_then_it_is_refused_before_any_sync(hours):
    with pytest.raises(ConfigurationError, match="is not a number of hours from 0 to"):
        validate_configuration({"api_key": KEY, "entity": "acme", "reconcile_interval_hours": hours})


@pytest.mark.parametrize("key", ["local-abc-" + "k" * 40, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"])
def test_given_a_key_format_the_wandb_client_accepts_then_it_is_accepted(key):
    assert validate_configuration({"api_key": key, "entity": "acme"}).api_key == key


@pytest.mark.parametrize("field", ["entity", "base_url"])
def test_given_the_key_pasted_into_another_field_then_no_message_shows_it(field):
    configuration = {"api_key": KEY, "entity": "acme", field: "f" * 40}
    with pytest.raises(ConfigurationError) as error:
        validate_configuration(configuration)
    assert "f" * 40 not in str(error.value) and "API key" in str(error.value)


def test_given_a_bad_key_under_fivetrans_name_then_the_message_names_that_field():
    with pytest.raises(ConfigurationError, match="'WandB_API_KEY' is not a W&B API key"):
        validate_configuration({"WandB_API_KEY": "short", "entity": "acme"})


@pytest.mark.parametrize(
    "entity", ["ml-platform-team-for-autonomous-driving-research", "autonomousdrivingperceptionresearchgroup", "a.b.c"]
)
def test_given_a_long_or_dotted_entity_name_then_it_is_not_mistaken_for_a_key(entity):
    assert validate_configuration({"api_key": KEY, "entity": entity}).entity == entity


def test_given_a_one_letter_key_then_the_message_is_not_garbled():
    with pytest.raises(ConfigurationError) as error:
        validate_configuration({"api_key": "e", "entity": "acme"})
    assert "'api_key' is not a W&B API key" in str(error.value)


def test_given_no_requests_per_minute_then_the_pace_fits_wandbs_lower_plans():
    assert validate_configuration({"api_key": KEY, "entity": "acme"}).requests_per_minute == 50
    assert (
        validate_configuration({"api_key": KEY, "entity": "acme", "requests_per_minute": " 200 "}).requests_per_minute
        == 200
    )


KEY_SHAPES = {
    "classic": "0123456789abcdef" * 2 + "01234567",
    "prefixed": "local-" + "0123456789abcdef" * 3,
    "all-letters-hex": "f" * 40,
    "long-mixed": "wandb_v1_" + "Ab3x9" * 12,
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
}


@pytest.mark.parametrize("field", ["entity", "base_url", "projects", "exclude_projects", "history_keys"])
@pytest.mark.parametrize("shape", sorted(KEY_SHAPES))
def test_given_a_key_of_any_accepted_shape_pasted_anywhere_then_no_message_echoes_it(field, shape):
    """Every shape the wandb client accepts as a key, pasted into any other field of an otherwise broken
    configuration (so a message is written): the message never holds it."""
    key = KEY_SHAPES[shape]
    assert validate_configuration({"api_key": key, "entity": "acme"}).api_key == key
    configuration = {"api_key": key, "entity": "acme", "reconcile_interval_hours": "soon", field: key}
    with pytest.raises(ConfigurationError) as error:
        validate_configuration(configuration)
    assert key not in str(error.value)
    settings = validate_configuration({"api_key": "k" * 40, "entity": "acme", "projects": key})
    with pytest.raises(ConfigurationError) as error:
        settings.check_selection(["nlp"], [])
    assert key not in str(error.value) and "<an API key>" in str(error.value)


@pytest.mark.parametrize(
    ("base_url", "page"),
    [
        ("", "https://wandb.ai/authorize"),
        ("https://api.wandb.ai", "https://wandb.ai/authorize"),
        ("https://api.acme.wandb.io", "https://acme.wandb.io/authorize"),
        ("http://wandb.internal:8080", "http://wandb.internal:8080/authorize"),
    ],
)
def test_given_a_server_then_a_bad_key_is_sent_to_that_servers_key_page(base_url, page):
    with pytest.raises(ConfigurationError) as error:
        validate_configuration({"api_key": "short", "entity": "acme", "base_url": base_url})
    assert f"copy it again from {page}" in str(error.value)
    assert (page == "https://wandb.ai/authorize") == ("https://wandb.ai/authorize" in str(error.value))


def test_given_no_history_setting_then_run_history_is_off_until_asked_for():
    """History is the one table without a bound per run (up to `history_max_steps` rows each), most of a bill:
    a team turns it on knowing what it costs (`make estimate`)."""
    assert validate_configuration({"api_key": KEY, "entity": "acme"}).run_history is False
    assert validate_configuration({"api_key": KEY, "entity": "acme", "run_history": "true"}).run_history is True
    assert validate_configuration({"api_key": KEY, "entity": "acme", "history": "true"}).run_history is True
