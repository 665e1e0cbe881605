from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from omnichannel import ConfigurationError, MissingVariable, Secret, load_config
from omnichannel.config import parse_config, secret, setting
from omnichannel.plugin import build_settings


@attrs.frozen(kw_only=True)
class ExampleSettings:
    account: str = setting(help="Account id.")
    token: Secret = secret(help="API token.")
    from_: str | None = setting(help="Sender.", default=None)
    old_token: Secret | None = secret(help="Previous token.", required=False)


def test_secrets_print_as_a_placeholder_and_reveal_on_request() -> None:
    value = Secret("hunter2-very-secret")
    assert repr(value) == str(value) == "<secret>"
    assert f"{value}" == "<secret>"
    assert value.reveal() == "hunter2-very-secret"
    assert value == Secret("hunter2-very-secret")
    assert value != Secret("other")


def test_settings_built_from_config_hold_secrets_and_map_from_to_from_() -> None:
    settings = build_settings(
        ExampleSettings, {"account": "A1", "token": "tok-123456", "from": "+1"}, where="[x]"
    )
    assert settings.from_ == "+1"
    assert isinstance(settings.token, Secret)
    assert settings.old_token is None
    assert "tok-123456" not in repr(settings)


def test_unknown_and_missing_settings_are_named_never_their_values() -> None:
    with pytest.raises(ConfigurationError, match=r"\[x\]: unknown setting\(s\) tokn; known: "):
        build_settings(ExampleSettings, {"account": "A", "tokn": "s3cr3t-value"}, where="[x]")
    with pytest.raises(ConfigurationError, match=r"missing required setting\(s\) token"):
        build_settings(ExampleSettings, {"account": "A"}, where="[x]")


def test_environment_variables_are_interpolated_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "omnichannel.toml"
    path.write_text(
        '[webhooks]\npublic_url = "https://${HOST}/"\n'
        '[channels.sms]\nadapter = "sms.example"\ntoken = "${TOKEN}"\nregion = "${REGION:-us1}"\n'
        '[routing]\nfailover = { whatsapp = ["sms"] }\n'
    )
    config = load_config(path, environ={"HOST": "support.example.com", "TOKEN": "t0k"})
    assert config.public_url == "https://support.example.com"
    assert config.channels["sms"].adapter == "sms.example"
    assert config.channels["sms"].settings == {"token": "t0k", "region": "us1"}
    assert config.routing.failover == {"whatsapp": ("sms",)}
    assert config.path == path


def test_a_missing_variable_names_the_variable_and_where_it_is_used(tmp_path: Path) -> None:
    path = tmp_path / "omnichannel.toml"
    path.write_text('[channels.sms]\nadapter = "sms.example"\ntoken = "${SMS_TOKEN}"\n')
    with pytest.raises(MissingVariable) as caught:
        load_config(path, environ={})
    assert str(caught.value) == (
        "environment variable 'SMS_TOKEN' is not set (referenced by channels.sms.token); "
        "set it or edit the configuration"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"channels": {"sms": {"token": "x"}}}, 'needs adapter = "<name>"'),
        ({"chanels": {}}, "unknown section"),
        ({"routing": {"failover": {"sms": "email"}}}, "must be a list of channels"),
    ],
)
def test_structural_mistakes_are_configuration_errors(
    data: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_config(data, environ={})


def test_invalid_toml_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[channels\n")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_config(path)


def test_no_file_means_an_empty_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_config(environ={}).channels == {}


def test_a_named_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_the_routing_table_becomes_the_routing_policy() -> None:
    from omnichannel import RestrictedPublic, Template

    config = parse_config(
        {
            "routing": {
                "failover": {"whatsapp": ["sms"]},
                "restricted_public": "signpost",
                "signpost_text": "Check your DMs.",
                "handler_timeout": 5,
                "window_templates": {"whatsapp": {"name": "follow_up", "language": "en_US"}},
            }
        }
    )
    policy = config.routing
    assert policy.failover == {"whatsapp": ("sms",)}
    assert policy.restricted_public is RestrictedPublic.SIGNPOST
    assert policy.signpost_text == "Check your DMs."
    assert policy.handler_timeout == 5
    assert policy.window_templates == {"whatsapp": Template(name="follow_up", language="en_US")}


@pytest.mark.parametrize(
    ("routing", "message"),
    [
        ({"restricted_public": "shout"}, "must be one of: refuse, signpost"),
        ({"handler_timeout": "soon"}, "routing.handler_timeout has the wrong type"),
        ({"handler_timeout": 0}, "handler_timeout must be a positive"),
        ({"fail_over": {}}, "unknown [routing] setting(s) fail_over"),
        ({"window_templates": {"whatsapp": {"language": "en"}}}, "must be a template name"),
    ],
)
def test_a_wrong_routing_table_is_one_clear_error(routing: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_config({"routing": routing})
    assert message in str(caught.value)
