"""``omni simulate CHANNEL``: post a signed, provider-shaped inbound message to a listener."""

from __future__ import annotations

import anyio
import click
import httpx

from omnichannel.cli._shared import config_option, load
from omnichannel.cli.send import require_channel
from omnichannel.router import Router


@click.command()
@click.argument("channel")
@click.option("--from", "sender", required=True, help="The customer's address.")
@click.option("--text", required=True, help="The message text.")
@click.option(
    "--url",
    default=None,
    help="Where to post (default: the configured public URL, else http://127.0.0.1:8080).",
)
@config_option
def simulate(
    channel: str, sender: str, text: str, url: str | None, config_path: str | None
) -> None:
    """Post an inbound CHANNEL message from --from, signed as the provider signs it."""
    config, host = load(config_path)
    require_channel(config, host, channel)
    base = (config.public_url or "http://127.0.0.1:8080").rstrip("/")
    target = url or f"{base}/webhooks/{channel}"

    async def run() -> int:
        async with Router.from_config(config, host=host) as router:
            request = router.adapter(channel).simulate(sender=sender, text=text, url=target)
        async with httpx.AsyncClient() as client:
            try:
                response = await client.request(
                    request.method, request.url, headers=list(request.headers), content=request.body
                )
            except httpx.TransportError as exc:
                raise click.ClickException(f"cannot reach {target}: {type(exc).__name__}") from None
        click.echo(f"posted {channel} message to {target}: HTTP {response.status_code}")
        return response.status_code

    status = anyio.run(run)
    if not 200 <= status < 300:
        raise SystemExit(1)
