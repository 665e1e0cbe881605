from __future__ import annotations

import importlib
import json
import logging
import textwrap
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from omnichannel import Address, Envelope, PluginHost, Router, UnknownAdapter, hookimpl
from omnichannel.cli import omni
from omnichannel.config import parse_config
from omnichannel.plugin import Sender
from omnichannel.testing import FakeAdapter

PIGEON_SOURCE = """
from __future__ import annotations

import attrs

from omnichannel import DeliveryStatus, hookimpl
from omnichannel.plugin import (
    AdapterInfo,
    BaseAdapter,
    Capabilities,
    ProviderRequest,
    SentMessage,
    setting,
)


@attrs.frozen(kw_only=True)
class PigeonSettings:
    loft: str = setting(help="Where the pigeons live.", default="roof")


class PigeonPostAdapter(BaseAdapter[PigeonSettings]):
    info = AdapterInfo(name="pigeon.loft", channel="pigeon", provider="loft")
    capabilities = Capabilities(address_kind="opaque", max_text_length=50)
    settings_class = PigeonSettings

    def build_send_request(self, envelope):
        return ProviderRequest.json(
            "POST",
            f"https://{self.settings.loft}.pigeon.example/send",
            {"to": envelope.recipient.value, "text": envelope.content.text},
        )

    def parse_send_response(self, envelope, response):
        return SentMessage(provider_id=response.json()["id"], status=DeliveryStatus.SENT)


@hookimpl
def omnichannel_adapters():
    return [PigeonPostAdapter]
"""


def _write_distribution(root: Path, dist: str, module: str, source: str, entry: str) -> None:
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[omnichannel]\n{entry} = {module}\n")


@pytest.fixture
def throwaway_distributions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two distributions installed on sys.path: one adds a channel, one fails to import."""
    _write_distribution(tmp_path, "omnichannel-pigeon", "omni_pigeon", PIGEON_SOURCE, "pigeon")
    _write_distribution(
        tmp_path, "omnichannel-broken", "omni_broken", "import no_such_module_anywhere\n", "broken"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    monkeypatch.setenv("OMNICHANNEL_PLUGINS", "pigeon,broken")
    return tmp_path


def test_an_installed_distribution_adds_a_channel_that_omni_channels_lists(
    throwaway_distributions: Path,
) -> None:
    result = CliRunner().invoke(omni, ["channels", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [row["name"] for row in rows] == ["pigeon.loft"]
    assert rows[0]["distribution"] == "omnichannel-pigeon"
    assert rows[0]["version"] == "1.0"
    assert rows[0]["capabilities"]["max_text_length"] == 50
    assert "omnichannel-broken" in result.stderr
    assert "no_such_module_anywhere" in result.stderr


def test_a_plugin_that_fails_to_import_is_reported_by_name_while_the_others_work(
    throwaway_distributions: Path,
) -> None:
    host = PluginHost.from_entry_points()
    assert list(host.adapters()) == ["pigeon.loft"]
    (failure,) = host.load_failures
    assert (failure.plugin, failure.distribution, failure.version) == (
        "broken",
        "omnichannel-broken",
        "1.0",
    )
    assert "cannot import: ModuleNotFoundError" in failure.error


@pytest.mark.anyio
async def test_the_router_sends_through_an_installed_plugin_with_no_core_change(
    throwaway_distributions: Path,
) -> None:
    seen: list[httpx.Request] = []

    def pigeon_api(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": "coo-1"})

    config = parse_config({"channels": {"pigeon": {"adapter": "pigeon.loft", "loft": "attic"}}})
    sender = Sender(httpx.MockTransport(pigeon_api))
    async with Router.from_config(
        config, host=PluginHost.from_entry_points(), sender=sender
    ) as router:
        receipt = await router.send(
            Envelope(
                channel="pigeon", recipient=Address(channel="pigeon", value="bird-7"), content="coo"
            )
        )
    assert receipt.provider_ids == ("coo-1",)
    assert receipt.adapter == "pigeon.loft"
    assert seen[0].url == "https://attic.pigeon.example/send"
    assert json.loads(seen[0].content) == {"to": "bird-7", "text": "coo"}


def test_disabled_plugins_are_not_loaded(
    throwaway_distributions: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMNICHANNEL_DISABLE_PLUGINS", "broken")
    host = PluginHost.from_entry_points()
    assert list(host.adapters()) == ["pigeon.loft"]
    assert host.load_failures == []


class RaisingAdapters:
    @hookimpl
    def omnichannel_adapters(self) -> list[type]:
        raise RuntimeError("boom while registering")


class NotAnAdapter:
    @hookimpl
    def omnichannel_adapters(self) -> list[object]:
        return [dict, "sms.twilio"]


def _adapter_plugin(name: str, channel: str = "fake") -> object:
    adapter_class = type(name, (FakeAdapter,), {})
    from omnichannel.plugin import AdapterInfo

    adapter_class.info = AdapterInfo(
        name=f"{channel}.{name.lower()}", channel=channel, provider=name.lower()
    )
    adapter_class.capabilities = FakeAdapter().capabilities

    class Plugin:
        @hookimpl
        def omnichannel_adapters(self) -> list[type]:
            return [adapter_class]

    return Plugin()


def test_a_raising_registration_hook_is_a_load_failure_and_the_others_keep_working() -> None:
    host = PluginHost()
    host.register(RaisingAdapters(), name="raiser", distribution="omnichannel-raiser")
    host.register(_adapter_plugin("Good"), name="good")
    assert list(host.adapters()) == ["fake.good"]
    (failure,) = host.load_failures
    assert failure.plugin == "raiser"
    assert failure.distribution == "omnichannel-raiser"
    assert "omnichannel_adapters raised RuntimeError: boom while registering" in failure.error


def test_a_plugin_returning_non_adapters_is_a_load_failure_naming_what_it_returned() -> None:
    host = PluginHost()
    host.register(NotAnAdapter(), name="confused")
    assert host.adapters() == {}
    errors = [failure.error for failure in host.load_failures]
    assert any("dict has no AdapterInfo" in error for error in errors)
    assert any("'sms.twilio', which is not an adapter class" in error for error in errors)


def test_two_plugins_claiming_one_adapter_name_is_a_failure_naming_both_distributions() -> None:
    host = PluginHost()
    first, second = _adapter_plugin("Dup"), _adapter_plugin("Dup")
    host.register(first, name="first", distribution="omnichannel-first")
    host.register(second, name="second", distribution="omnichannel-second")
    assert list(host.adapters()) == ["fake.dup"]
    (failure,) = host.load_failures
    assert "omnichannel-first" in failure.error
    assert "omnichannel-second" in failure.error


def test_an_unknown_adapter_name_lists_the_installed_ones() -> None:
    host = PluginHost()
    host.register(_adapter_plugin("Good"), name="good")
    with pytest.raises(UnknownAdapter, match=r"'sms.nope' is not installed; installed: fake.good"):
        host.adapter("sms.nope")


class RaisingObserver:
    @hookimpl
    def omnichannel_message_received(self, envelope: Envelope) -> None:
        raise RuntimeError("observer bug")


class RecordingObserver:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    def omnichannel_message_received(self, envelope: Envelope) -> None:
        self.seen.append(envelope.content.text)


@pytest.mark.anyio
async def test_a_raising_inbound_observer_does_not_turn_a_webhook_into_a_5xx(
    caplog: pytest.LogCaptureFixture,
) -> None:
    host = PluginHost()
    recorder = RecordingObserver()
    host.register(recorder, name="recorder")
    host.register(RaisingObserver(), name="raiser")
    adapter = FakeAdapter()
    router = Router([adapter], host=host)
    handled: list[Envelope] = []
    router.on_message(handled.append)
    with caplog.at_level(logging.ERROR):
        response = await router.handle_webhook(
            "fake",
            adapter.simulate(sender="c", text="hello", url="https://h.example/webhooks/fake"),
        )
    assert response.status_code == 204
    assert recorder.seen == ["hello"]
    assert [message.content.text for message in handled] == ["hello"]
    assert "'raiser'" in caplog.text


def test_omni_doctor_reports_a_broken_plugin_by_name_distribution_and_error_and_exits_2(
    throwaway_distributions: Path, tmp_path: Path
) -> None:
    config = tmp_path / "omnichannel.toml"
    config.write_text(
        '[webhooks]\npublic_url = "https://support.example.com"\n'
        '[channels.pigeon]\nadapter = "pigeon.loft"\n'
    )
    result = CliRunner().invoke(omni, ["doctor", "--config", str(config)])
    assert result.exit_code == 2
    assert "[channels.pigeon] pigeon.loft: ok" in result.stdout
    assert (
        "problem: plugin failed to load: plugin 'broken' (omnichannel-broken 1.0): cannot import: "
        "ModuleNotFoundError: No module named 'no_such_module_anywhere'"
    ) in result.stdout


class JunkSimulators:
    @hookimpl
    def omnichannel_simulators(self) -> object:
        return "not a list of simulators"


class OneGoodSimulator:
    class Simulator:
        adapter_name = "fake.good"
        prefix = "good"
        sample_recipient = "c-1"

    @hookimpl
    def omnichannel_simulators(self) -> list[type]:
        return [self.Simulator, dict]


def test_a_simulator_hook_returning_junk_is_a_load_failure_and_good_ones_still_load() -> None:
    host = PluginHost()
    host.register(JunkSimulators(), name="junk", distribution="omnichannel-junk")
    host.register(OneGoodSimulator(), name="good")
    assert [cls.__name__ for cls in host.simulators()] == ["Simulator"]
    errors = [failure.error for failure in host.load_failures]
    assert any("omnichannel_simulators returned str, not a simulator class" in e for e in errors)
    assert any("omnichannel_simulators returned type, not a simulator class" in e for e in errors)


def test_a_plugin_command_named_like_a_builtin_or_another_plugins_is_reported() -> None:
    import click

    from omnichannel.cli import BUILTIN_COMMANDS

    def command(name: str) -> click.Command:
        return click.Command(name, callback=lambda: None, help=f"{name} help")

    class Clashing:
        @hookimpl
        def omnichannel_cli_commands(self) -> list[object]:
            return [command("send"), command("fax-status"), "not a command"]

    class Second:
        @hookimpl
        def omnichannel_cli_commands(self) -> list[click.Command]:
            return [command("fax-status")]

    host = PluginHost()
    host.register(Clashing(), name="clashing", distribution="omnichannel-clashing")
    host.register(Second(), name="second", distribution="omnichannel-second")
    commands = host.cli_commands(reserved=BUILTIN_COMMANDS)
    assert [found.name for found in commands] == ["fax-status"]
    errors = [str(failure) for failure in host.load_failures]
    assert any("command 'send' clashes with the one from omni itself" in e for e in errors)
    assert any("command 'fax-status' clashes with the one from omnichannel-" in e for e in errors)
    assert any("returned str, not a click command" in e for e in errors)
