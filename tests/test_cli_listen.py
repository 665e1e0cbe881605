"""``omni listen`` runs the poller next to the webhook app: a pull channel's messages are
printed as JSON lines like webhook ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

MAILBOX_SOURCE = '''
from __future__ import annotations

import attrs

from omnichannel import Address, Direction, Envelope, hookimpl
from omnichannel.plugin import (
    AdapterInfo,
    BaseAdapter,
    Capabilities,
    PollResult,
    secret,
)


@attrs.frozen(kw_only=True)
class MailboxSettings:
    password = secret(help="Mailbox password.")


class MailboxAdapter(BaseAdapter[MailboxSettings]):
    """A pull channel: each poll finds the messages after the cursor."""

    info = AdapterInfo(name="inbox.box", channel="inbox", provider="box")
    capabilities = Capabilities(address_kind="opaque", inbound={"poll"})
    settings_class = MailboxSettings

    async def poll(self, cursor):
        if cursor is not None:
            return PollResult(cursor=cursor)
        business = Address(channel="inbox", value="support")
        message = Envelope(
            channel="inbox",
            direction=Direction.INBOUND,
            sender=Address(channel="inbox", value="zoe"),
            recipient=business,
            business_address=business,
            content="polled hello",
            provider_id="box-1",
        )
        return PollResult(messages=[message], cursor="1")


@hookimpl
def omnichannel_adapters():
    return [MailboxAdapter]
'''


def test_a_polling_adapters_messages_reach_omni_listen_json(tmp_path: Path) -> None:
    (tmp_path / "omni_mailbox.py").write_text(textwrap.dedent(MAILBOX_SOURCE))
    info = tmp_path / "omnichannel_mailbox-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: omnichannel-mailbox\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text("[omnichannel]\nmailbox = omni_mailbox\n")
    config = tmp_path / "omnichannel.toml"
    config.write_text('[channels.inbox]\nadapter = "inbox.box"\npassword = "p4ss"\n')
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        "OMNICHANNEL_PLUGINS": "mailbox",
    }
    code = "import sys; from omnichannel.cli import main; main(sys.argv[1:])"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "listen", "--config", str(config), "--port", "0", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert process.stdout is not None
        listening = json.loads(process.stdout.readline())
        line = process.stdout.readline()
    finally:
        process.terminate()
        _, err = process.communicate(timeout=20)
    assert listening["type"] == "listening", err
    assert listening["channels"] == ["inbox"]
    assert line, err
    event = json.loads(line)
    assert event["type"] == "message"
    assert event["envelope"]["content"]["text"] == "polled hello"
    assert event["envelope"]["channel"] == "inbox"
    assert "p4ss" not in err
