from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from omnichannel import ConfigurationError, MissingVariable, Secret, build_settings, load_config
from omnichannel.config import parse_config, secret, setting


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
    assert config.failover == {"whatsapp": ("sms",)}
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
    assert parse_config({}).allow_private_media_hosts is False
    allowed = parse_config({"routing": {"allow_private_media_hosts": True}})
    assert allowed.allow_private_media_hosts is True
    with pytest.raises(ConfigurationError, match="must be true or false"):
        parse_config({"routing": {"allow_private_media_hosts": "yes"}})
