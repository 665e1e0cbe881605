"""Tests for omnichannel_twilio.settings: both adapters' settings, checked when the
configuration is read, secrets never shown. The account settings are checked by one piece of
code for both; each class adds its own."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest
from omnichannel_twilio import TwilioSmsSettings, TwilioVoiceSettings

from omnichannel import ConfigurationError, Secret
from omnichannel.config import describe_settings
from omnichannel.plugin import build_settings

ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
VOICE_VALUES: dict[str, Any] = {
    "account_sid": ACCOUNT_SID,
    "auth_token": AUTH_TOKEN,
    "from": "+14155550100",
}


def sms_settings(**changes: Any) -> TwilioSmsSettings:
    values = {**VOICE_VALUES, **changes}
    values = {key: value for key, value in values.items() if value is not None}
    return build_settings(TwilioSmsSettings, values, where="[channels.sms]")


def voice_settings(**changes: Any) -> TwilioVoiceSettings:
    return build_settings(TwilioVoiceSettings, {**VOICE_VALUES, **changes}, where="test")


# --- the account settings, shared ----------------------------------------------------------------


@pytest.mark.parametrize("build", [sms_settings, voice_settings], ids=["sms", "voice"])
@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"account_sid": "AC123"}, "account_sid is not a Twilio Account SID (got a 5-character"),
        ({"auth_token": ""}, "auth_token must be a non-empty token without spaces"),
        ({"secondary_auth_token": "x "}, "secondary_auth_token must be a non-empty token"),
        ({"base_url": "ftp://api.twilio.com"}, "base_url must be an http(s) URL"),
        ({"base_url": "https://"}, "base_url must be an http(s) URL"),
    ],
)
def test_both_adapters_check_the_account_settings_with_the_same_words(
    build: Any, changes: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(fragment)):
        build(**changes)


def test_api_credentials_put_the_api_key_first_then_each_auth_token() -> None:
    secondary = "fedcba9876543210fedcba9876543210"
    built = sms_settings(
        api_key_sid="SK" + "0" * 32, api_key_secret="key-secret", secondary_auth_token=secondary
    )
    assert [(name, token.reveal()) for name, token in built.api_credentials] == [
        ("SK" + "0" * 32, "key-secret"),
        (ACCOUNT_SID, AUTH_TOKEN),
        (ACCOUNT_SID, secondary),
    ]
    voice = voice_settings(secondary_auth_token=secondary)
    assert [(name, token.reveal()) for name, token in voice.api_credentials] == [
        (ACCOUNT_SID, AUTH_TOKEN),
        (ACCOUNT_SID, secondary),
    ]
    assert [token.reveal() for token in voice.webhook_tokens] == [AUTH_TOKEN, secondary]
    assert [token.reveal() for token in sms_settings().webhook_tokens] == [AUTH_TOKEN]


# --- sms.twilio ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"account_sid": "AC123"}, "'AC' followed by 32 hex digits"),
        ({"account_sid": "SK" + "0" * 32}, "put it in api_key_sid"),
        ({"from": None}, "neither is set"),
        ({"messaging_service_sid": "MG" + "0" * 32}, "both are set"),
        ({"from": None, "messaging_service_sid": "MG1"}, "Messaging Service SID"),
        ({"api_key_sid": "SK" + "0" * 32}, "go together"),
        ({"api_key_sid": "KEY", "api_key_secret": "s"}, "not an API key SID"),
        ({"base_url": "api.twilio.com"}, "http(s) URL"),
    ],
)
def test_sms_settings_are_checked_with_a_clear_error(
    changes: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        sms_settings(**changes)
    assert fragment in str(caught.value)
    assert "[channels.sms]" in str(caught.value)
    assert AUTH_TOKEN not in str(caught.value)


def test_sms_settings_hide_every_secret() -> None:
    secrets = ("primary-token-value", "api-secret-value", "secondary-token-value")
    built = sms_settings(
        auth_token=secrets[0],
        api_key_sid="SK" + "0" * 32,
        api_key_secret=secrets[1],
        secondary_auth_token=secrets[2],
    )
    shown = f"{built!r} {built}"
    assert not [secret for secret in secrets if secret in shown]


def test_the_base_url_defaults_to_twilio_and_loses_a_trailing_slash() -> None:
    assert sms_settings().base_url == "https://api.twilio.com"
    assert sms_settings(base_url="http://127.0.0.1:8765/twilio-messaging/").base_url == (
        "http://127.0.0.1:8765/twilio-messaging"
    )


def _names(rows: Sequence[dict[str, Any]]) -> list[str]:
    return [row["name"] for row in rows]


def test_every_sms_setting_has_help_text_and_from_is_spelled_from() -> None:
    rows = describe_settings(TwilioSmsSettings)
    assert _names(rows) == [
        "account_sid",
        "auth_token",
        "from",
        "messaging_service_sid",
        "api_key_sid",
        "api_key_secret",
        "secondary_auth_token",
        "base_url",
    ]
    assert all(row["help"] for row in rows)
    assert {row["name"] for row in rows if row["secret"]} == {
        "auth_token",
        "api_key_secret",
        "secondary_auth_token",
    }


# --- voice.twilio -------------------------------------------------------------------------------


def test_voice_defaults_and_normalised_numbers() -> None:
    settings = voice_settings(**{"from": "+1 415-555-0100"}, agent="+1 (415) 555 0123")
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
        # One check for both adapters; its message names the setting and the expected shape.
        ({"account_sid": "SK0123456789abcdef0123456789abcdef"}, "'AC' followed by 32 hex digits"),
        ({"account_sid": "AC123"}, "'AC' followed by 32 hex digits"),
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
def test_malformed_voice_settings_are_configuration_errors_naming_the_setting(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        voice_settings(**changes)
    assert str(caught.value).startswith("test: ")


def test_missing_required_settings_are_named() -> None:
    with pytest.raises(ConfigurationError, match="missing required setting"):
        build_settings(TwilioVoiceSettings, {"account_sid": VOICE_VALUES["account_sid"]}, where="t")


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("0", False), (True, True)])
def test_machine_detection_accepts_booleans_from_the_environment(
    value: object, expected: bool
) -> None:
    assert voice_settings(machine_detection=value).machine_detection is expected


def test_voice_tokens_are_secrets_that_never_print() -> None:
    # Not the vectors' token: that one is a substring of the vectors' account SID.
    settings = voice_settings(
        auth_token="5b2e9c0d7a4f18e3b6c1d0a9f8e7d6c5",
        secondary_auth_token="fedcba9876543210fedcba9876543210",
    )
    assert isinstance(settings.auth_token, Secret)
    assert isinstance(settings.secondary_auth_token, Secret)
    shown = f"{settings!r} {settings}"
    assert "5b2e9c0d7a4f18e3" not in shown
    assert "fedcba9876543210" not in shown


def test_a_bad_token_error_does_not_show_the_token() -> None:
    with pytest.raises(ConfigurationError) as caught:
        voice_settings(auth_token=" hunter2-secret-value ")
    assert "hunter2" not in str(caught.value)


def test_every_voice_setting_has_help_and_the_from_setting_is_named_from() -> None:
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


@pytest.mark.parametrize(
    ("build", "changes", "fragment"),
    [
        (sms_settings, {"account_sid": "pasted-auth-token-0123456789"}, "(got a 28-character"),
        (sms_settings, {"api_key_sid": "pasted-api-secret-01", "api_key_secret": "s"}, "(got a 20"),
        (
            sms_settings,
            {"from": None, "messaging_service_sid": "pasted-secret-value"},
            "(got a 19-character",
        ),
        (sms_settings, {"base_url": "pasted-secret-value-xyz"}, "got a 23-character value"),
        (voice_settings, {"account_sid": "pasted-auth-token-0123456789"}, "(got a 28-character"),
        (voice_settings, {"from": "pasted-auth-token-0123456789"}, "(got a 28-character"),
        (voice_settings, {"agent": "pasted-auth-token-0123456789"}, "(got a 28-character"),
    ],
)
def test_a_secret_pasted_into_a_plain_setting_is_described_not_shown(
    build: Any, changes: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build(**changes)
    assert fragment in str(caught.value)
    assert "pasted" not in str(caught.value)
