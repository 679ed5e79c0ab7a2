"""Configuration validation: every problem named with its fix, all at once, and the key never echoed."""

import pytest

from wandb_connector.errors import ConfigurationError
from wandb_connector.settings import validate_configuration

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
        ({"api_key": KEY, "WandB_API_KEY": "j" * 40, "entity": "acme"}, "hold different keys"),
    ],
)
def test_given_a_bad_value_then_the_message_names_it(configuration, problem):
    with pytest.raises(ConfigurationError, match=None) as error:
        validate_configuration(configuration)
    assert problem in str(error.value)


def test_given_a_malformed_key_then_the_key_is_not_in_the_message():
    secret = "not-a-key with spaces " * 3
    with pytest.raises(ConfigurationError) as error:
        validate_configuration({"api_key": secret, "entity": "acme"})
    assert secret.strip() not in str(error.value)
    assert "redacted" in repr(validate_configuration({"api_key": KEY, "entity": "acme"}))
