"""``omni simulate CHANNEL``: post a signed, provider-shaped inbound message to a listener."""

from __future__ import annotations

import anyio
import attrs
import click
import httpx

from omnichannel.cli._shared import adapter_secrets, config_option, json_option, load, print_json
from omnichannel.cli._webhooks import (
    DEFAULT_LISTENER,
    Answer,
    http_url,
    post,
    redacted,
    webhook_url,
)
from omnichannel.cli.send import require_channel
from omnichannel.envelope import Address
from omnichannel.plugins import PluginHost
from omnichannel.router import Router
from omnichannel.sandbox import simulator_classes


@click.command()
@click.argument("channel")
@click.option("--from", "sender", required=True, help="The customer's address.")
@click.option("--text", required=True, help="The message text.")
@click.option(
    "--url",
    default=None,
    help="Where to post: a base URL (/webhooks/CHANNEL is added) or a full webhook URL "
    f"(default: the configured public URL, else {DEFAULT_LISTENER}).",
)
@click.option(
    "--sandbox",
    "sandbox_url",
    default=None,
    metavar="URL",
    help="Post through the sandbox at URL (such as http://127.0.0.1:8765): its simulator "
    "notes that the customer wrote, opening a session window, and forwards the message "
    "to the listener as the provider would.",
)
@config_option
@json_option
def simulate(
    channel: str,
    sender: str,
    text: str,
    url: str | None,
    sandbox_url: str | None,
    config_path: str | None,
    as_json: bool,
) -> None:
    """Post an inbound CHANNEL message from --from, signed as the provider signs it."""
    config, host = load(config_path)
    require_channel(config, host, channel)
    target = webhook_url(url or config.public_url or DEFAULT_LISTENER, channel)
    adapter_name = config.channels[channel].adapter
    relay = _relay_url(host, adapter_name, sandbox_url) if sandbox_url else None

    async def run() -> tuple[dict[str, object], Answer]:
        async with Router.from_config(config, host=host) as router:
            adapter = router.adapter(channel)
            customer = Address(channel=channel, value=sender).normalized(
                adapter.capabilities.address_kind
            )
            # Signed for the listener's URL, wherever it is posted first.
            request = adapter.simulate(sender=customer.value, text=text, url=target)
            if relay is not None:
                request = attrs.evolve(request, url=relay)
            shown = redacted(request, adapter_secrets(adapter))
        async with httpx.AsyncClient() as client:
            return shown, await post(client, request)

    shown, answer = anyio.run(run)
    if as_json:
        print_json(
            {
                "channel": channel,
                "posted": shown,
                "status_code": answer.status_code,
                "answer": answer.reason,
                "exit": 0 if answer.ok else 1,
            }
        )
    elif answer.ok:
        through = f" through the sandbox at {relay}" if relay else ""
        click.echo(f"posted {channel} message to {target}{through}: HTTP {answer.status_code}")
    else:
        where = f"the sandbox at {relay}" if relay else f"the listener at {target}"
        raise click.ClickException(
            f"{where} answered HTTP {answer.status_code}: {answer.reason or '(no reason given)'}"
        )
    if not answer.ok:
        raise SystemExit(1)


def _relay_url(host: PluginHost, adapter_name: str, sandbox_url: str) -> str:
    """Where the sandbox at ``sandbox_url`` takes inbound messages for ``adapter_name``."""
    simulators = simulator_classes(host)
    simulator = simulators.get(adapter_name)
    relaying = sorted(name for name, found in simulators.items() if found.inbound_relay)
    if simulator is None or simulator.inbound_relay is None:
        raise click.BadParameter(
            f"the {adapter_name} simulator relays no inbound messages; the simulators that "
            f"do: {', '.join(relaying) or 'none'}. Post to the listener instead (leave out "
            "--sandbox)",
            param_hint="'--sandbox'",
        )
    base = http_url(sandbox_url, "--sandbox", "http://127.0.0.1:8765")
    return f"{base.rstrip('/')}/{simulator.prefix}{simulator.inbound_relay}"
