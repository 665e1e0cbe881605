"""Settings: shapes checked when the configuration is read, secrets never shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from omnichannel_voice import TwilioVoiceSettings

from omnichannel import ConfigurationError, Secret
from omnichannel.config import describe_settings
from omnichannel.plugin import build_settings


def test_defaults_and_normalised_numbers(make_settings: Callable[..., TwilioVoiceSettings]) -> None:
    settings = make_settings(**{"from": "+1 415-555-0100"}, agent="+1 (415) 555 0123")
    assert settings.from_ == "+14155550100"
    assert settings.agent == "+14155550123"
    assert settings.voice == "Polly.Joanna"
    assert settings.language == "en-US"
    assert settings.machine_detection is False
    assert settings.voicemail_message is None
    assert settings.secondary_auth_token is None
    assert settings.base_url == "https://api.twilio.com"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"account_sid": "SK0123456789abcdef0123456789abcdef"}, "account_sid must be AC"),
        ({"account_sid": "AC123"}, "account_sid must be AC"),
        ({"auth_token": ""}, "auth_token must be a non-empty token"),
        ({"auth_token": " 0123456789abcdef "}, "auth_token must be a non-empty token"),
        ({"from": "4155550100"}, "from must be a phone number in E.164"),
        ({"agent": "+1555"}, "agent must be a phone number in E.164"),
        ({"voice": " "}, "voice must not be empty"),
        ({"language": "English"}, "language must be a language tag"),
        ({"machine_detection": "maybe"}, "machine_detection must be true or false"),
        ({"voicemail_message": "  "}, "voicemail_message must not be blank"),
        ({"base_url": "api.twilio.com"}, "base_url must be an http"),
        ({"unknown": "x"}, "unknown setting"),
    ],
)
def test_malformed_settings_are_configuration_errors_naming_the_setting(
    make_settings: Callable[..., TwilioVoiceSettings], changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        make_settings(**changes)
    assert str(caught.value).startswith("test: ")


@pytest.mark.parametrize("name", ["account_sid", "from", "agent", "base_url"])
def test_a_secret_pasted_into_a_plain_setting_is_described_not_shown(
    make_settings: Callable[..., TwilioVoiceSettings], name: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        make_settings(**{name: "pasted-auth-token-0123456789"})
    assert "got a 28-character value" in str(caught.value)
    assert "pasted" not in str(caught.value)


def test_missing_required_settings_are_named(settings_values: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="missing required setting"):
        build_settings(
            TwilioVoiceSettings, {"account_sid": settings_values["account_sid"]}, where="t"
        )


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("0", False), (True, True)])
def test_machine_detection_accepts_booleans_from_the_environment(
    make_settings: Callable[..., TwilioVoiceSettings], value: object, expected: bool
) -> None:
    assert make_settings(machine_detection=value).machine_detection is expected


def test_tokens_are_secrets_that_never_print(
    make_settings: Callable[..., TwilioVoiceSettings],
) -> None:
    # Not the vectors' token: that one is a substring of the vectors' account SID.
    settings = make_settings(
        auth_token="5b2e9c0d7a4f18e3b6c1d0a9f8e7d6c5",
        secondary_auth_token="fedcba9876543210fedcba9876543210",
    )
    assert isinstance(settings.auth_token, Secret)
    assert isinstance(settings.secondary_auth_token, Secret)
    shown = f"{settings!r} {settings}"
    assert "5b2e9c0d7a4f18e3" not in shown
    assert "fedcba9876543210" not in shown


def test_a_bad_token_error_does_not_show_the_token(
    make_settings: Callable[..., TwilioVoiceSettings],
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        make_settings(auth_token=" hunter2-secret-value ")
    assert "hunter2" not in str(caught.value)


def test_every_setting_has_help_and_the_from_setting_is_named_from() -> None:
    rows = {row["name"]: row for row in describe_settings(TwilioVoiceSettings)}
    assert set(rows) == {
        "account_sid",
        "auth_token",
        "from",
        "agent",
        "voice",
        "language",
        "machine_detection",
        "voicemail_message",
        "secondary_auth_token",
        "base_url",
    }
    assert all(row["help"] for row in rows.values())
    assert {name for name, row in rows.items() if row["secret"]} == {
        "auth_token",
        "secondary_auth_token",
    }
    assert {name for name, row in rows.items() if row["required"]} == {
        "account_sid",
        "auth_token",
        "from",
    }
