"""``omni simulate CHANNEL``: post a signed, provider-shaped inbound message to a listener."""

from __future__ import annotations

import anyio
import click
import httpx

from omnichannel.cli._shared import adapter_secrets, config_option, json_option, load, print_json
from omnichannel.cli._webhooks import DEFAULT_LISTENER, Answer, post, redacted, webhook_url
from omnichannel.cli.send import require_channel
from omnichannel.envelope import Address
from omnichannel.router import Router


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
@config_option
@json_option
def simulate(
    channel: str,
    sender: str,
    text: str,
    url: str | None,
    config_path: str | None,
    as_json: bool,
) -> None:
    """Post an inbound CHANNEL message from --from, signed as the provider signs it."""
    config, host = load(config_path)
    require_channel(config, host, channel)
    target = webhook_url(url or config.public_url or DEFAULT_LISTENER, channel)

    async def run() -> tuple[dict[str, object], Answer]:
        async with Router.from_config(config, host=host) as router:
            adapter = router.adapter(channel)
            customer = Address(channel=channel, value=sender).normalized(
                adapter.capabilities.address_kind
            )
            request = adapter.simulate(sender=customer.value, text=text, url=target)
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
        click.echo(f"posted {channel} message to {target}: HTTP {answer.status_code}")
    else:
        raise click.ClickException(
            f"the listener at {target} answered HTTP {answer.status_code}: "
            f"{answer.reason or '(no reason given)'}"
        )
    if not answer.ok:
        raise SystemExit(1)
