"""Settings of twitter.x: what a configuration must say, checked when it is read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pytest
from omnichannel_x import XTwitterSettings

from omnichannel import ConfigurationError
from omnichannel.plugin import build_settings

BEARER = {"user_id": "1234567890", "bearer_token": "t"}
OAUTH1 = {
    "user_id": "1234567890",
    "consumer_key": "ck",
    "consumer_secret": "cs",
    "access_token": "at",
    "access_token_secret": "ats",
}


def build(values: dict[str, Any]) -> XTwitterSettings:
    return build_settings(XTwitterSettings, values, where="[channels.twitter]")


def test_a_bearer_token_alone_is_enough_and_means_no_signing() -> None:
    settings = build(BEARER)
    assert settings.oauth1 is None
    assert settings.base_url == "https://api.x.com"
    assert settings.search_queries == ()


def test_the_four_oauth1_values_give_signing_credentials() -> None:
    credentials = build(OAUTH1).oauth1
    assert credentials is not None
    assert credentials.consumer_key == "ck"
    assert credentials.token_secret.reveal() == "ats"


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"user_id": "1"}, "no credentials"),
        ({**OAUTH1, "consumer_key": None}, "missing: consumer_key"),
        ({**BEARER, "access_token": "at", "access_token_secret": "s"}, "not both"),
        ({**BEARER, "user_id": "@acme"}, "not an X user id"),
        ({**BEARER, "base_url": "api.x.com"}, "base_url"),
        ({**BEARER, "search_queries": "acme"}, "list of strings"),
        ({**BEARER, "search_queries": ["acme", " "]}, "empty query"),
        ({**BEARER, "search_queries": ["acme", "acme"]}, "same query twice"),
        ({**BEARER, "dm_poll_interval": -1}, "negative"),
        ({**BEARER, "search_poll_interval": "often"}, "not a number"),
        ({**BEARER, "activity_api": "webhooks"}, "activity_api"),
    ],
)
def test_a_configuration_mistake_names_the_setting(values: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match) as caught:
        build({key: value for key, value in values.items() if value is not None})
    assert "[channels.twitter]" in str(caught.value)


def test_secrets_print_as_secret() -> None:
    settings = build({**OAUTH1, "consumer_secret": "very-secret-value"})
    assert "very-secret-value" not in f"{settings!r} {settings}"


def test_search_queries_come_from_a_toml_list_and_are_trimmed() -> None:
    assert build({**BEARER, "search_queries": [" acme -from:acme "]}).search_queries == (
        "acme -from:acme",
    )


def test_the_readme_documents_every_setting() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    names = [field.name.removesuffix("_") for field in attrs.fields(XTwitterSettings)]
    assert [name for name in names if f"`{name}`" not in readme] == []
