"""Send from synchronous code with the blocking facade.

python examples/send_sync.py +14155550199 "Your order has shipped." [--config ...]
"""

from __future__ import annotations

import argparse

from omnichannel import Address, Envelope, OmnichannelError, Router, load_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("to")
    parser.add_argument("text")
    parser.add_argument("--channel", default="sms")
    parser.add_argument("--config", default="examples/omnichannel.toml")
    args = parser.parse_args()
    envelope = Envelope(
        channel=args.channel,
        recipient=Address(channel=args.channel, value=args.to),
        content=args.text,
    )
    try:
        with Router.from_config(load_config(args.config)).blocking() as router:
            receipt = router.send(envelope)
    except OmnichannelError as error:
        # An invalid number, a configuration problem or a failed send: one line, no traceback.
        raise SystemExit(f"not sent: {error}") from None
    print(
        f"sent {receipt.envelope_id}: {receipt.provider_id} ({receipt.status.value}), "
        f"{receipt.fitting.segments} segment(s)"
    )


if __name__ == "__main__":
    main()
