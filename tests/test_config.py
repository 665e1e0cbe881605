from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from omnichannel import ConfigurationError, MissingVariable, Secret, load_config
from omnichannel.config import ChannelConfig, describe_value, parse_config, secret, setting
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
    settings = config.channels["sms"].settings
    assert {name: value.reveal() for name, value in settings.items()} == {
        "token": "t0k",
        "region": "us1",
    }
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


def test_trusted_proxies_are_read_as_networks_and_a_bad_entry_is_named() -> None:
    config = parse_config(
        {"webhooks": {"trusted_proxies": ["10.0.0.0/8", "192.0.2.7", "fd00::/8"]}}
    )
    assert config.trusted_proxies == ("10.0.0.0/8", "192.0.2.7", "fd00::/8")
    assert parse_config({}).trusted_proxies == ()
    with pytest.raises(ConfigurationError, match=r"'proxy\.lan' is not an IP address or network"):
        parse_config({"webhooks": {"trusted_proxies": ["proxy.lan"]}})
    with pytest.raises(ConfigurationError, match="must be a list of addresses or networks"):
        parse_config({"webhooks": {"trusted_proxies": "10.0.0.0/8"}})


def test_private_media_hosts_are_refused_unless_the_routing_section_allows_them() -> None:
    assert parse_config({}).routing.allow_private_media_hosts is False
    allowed = parse_config({"routing": {"allow_private_media_hosts": True}})
    assert allowed.routing.allow_private_media_hosts is True
    with pytest.raises(ConfigurationError, match="allow_private_media_hosts has the wrong type"):
        parse_config({"routing": {"allow_private_media_hosts": "yes"}})


def test_every_string_in_a_channel_table_is_a_secret_from_the_moment_it_is_parsed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "omnichannel.toml"
    path.write_text(
        '[channels.sms]\nadapter = "sms.example"\naccount = "pasted-token-in-the-wrong-field"\n'
        'scopes = ["scope-secret-1", "scope-secret-2"]\nport = 587\nverbose = true\n'
    )
    config = load_config(path, environ={})
    settings = config.channels["sms"].settings
    shown = f"{config!r} {config.channels['sms']!r} {settings!r} {settings}"
    for value in ("pasted-token", "scope-secret-1", "scope-secret-2"):
        assert value not in shown
    assert isinstance(settings["account"], Secret)
    assert all(isinstance(item, Secret) for item in settings["scopes"])
    assert (settings["port"], settings["verbose"]) == (587, True)


def test_a_channel_config_built_from_plain_values_holds_them_as_secrets() -> None:
    channel = ChannelConfig(channel="sms", adapter="sms.example", settings={"token": "t0k-42"})
    assert channel.settings["token"] == Secret("t0k-42")


def test_settings_reveal_plain_fields_and_keep_secret_fields_secret() -> None:
    channel = ChannelConfig(
        channel="sms",
        adapter="sms.example",
        settings={"account": "A1", "token": "tok-123456", "from": "+14155550100"},
    )
    settings = build_settings(ExampleSettings, channel.settings, where="[x]")
    assert (settings.account, settings.from_) == ("A1", "+14155550100")
    assert type(settings.account) is str
    assert settings.token == Secret("tok-123456")


@attrs.frozen(kw_only=True)
class PortSettings:
    port: int = setting(help="Port.", converter=int)
    hosts: tuple[str, ...] = setting(help="Hosts.", default=(), converter=tuple)
    mode: str = attrs.field(default="a", validator=attrs.validators.in_(["a", "b"]))


@pytest.mark.parametrize(
    "values",
    [
        {"port": "hunter2-token-value"},
        {"port": "pw"},
        {"port": "25", "mode": "xy"},
        {"port": "25", "mode": "sk_live_0123456789"},
    ],
    ids=["long", "short", "short-in-validator", "long-in-validator"],
)
def test_a_value_failing_a_generic_check_is_never_echoed(values: dict[str, str]) -> None:
    channel = ChannelConfig(channel="x", adapter="x.example", settings=values)
    with pytest.raises(ConfigurationError) as caught:
        build_settings(PortSettings, channel.settings, where="[channels.x]")
    message = str(caught.value)
    assert message.startswith("[channels.x]: ")
    assert "<redacted>" in message
    for value in values.values():
        assert repr(value) not in message
        assert len(value) < 4 or value not in message


@pytest.mark.parametrize(
    ("value", "described"),
    [
        ("ACabc", "a 5-character value"),
        (Secret("0" * 32), "a 32-character value"),
        (" SK123 ", "a 7-character value with spaces around it"),
        ("", "an empty value"),
        ("   ", "a blank value"),
        (None, "no value"),
        (True, "true"),
        (8080, "a number"),
        (["a", "b"], "a list of 2 item(s)"),
        ({"a": 1}, "a table"),
    ],
)
def test_a_value_is_described_without_being_shown(value: object, described: str) -> None:
    assert describe_value(value) == described


@pytest.mark.parametrize(
    ("chain", "message"),
    [
        ({"steps": "sms"}, "needs steps"),
        ({"steps": [{"channel": "sms", "until": "delivered"}]}, "give both until and within"),
        ({"steps": [{"channel": "sms", "wait": "5m"}]}, "unknown: wait"),
        ({"steps": [{"channel": "sms", "until": "delivered", "within": "soon"}]}, "not a duration"),
        ({"steps": [{"channel": "sms"}, {"channel": "voice"}]}, "only the last step"),
    ],
)
def test_a_wrong_chain_is_one_clear_error(chain: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_config({"routing": {"chains": {"urgent": chain}}})
