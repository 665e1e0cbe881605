"""``omni channels``: each adapter's line of features says what it carries beyond text."""

from __future__ import annotations

from datetime import timedelta

from omnichannel.cli.channels import describe_features
from omnichannel.plugin import Capabilities, InteractiveRules, MediaRules


def test_a_windowed_channel_with_menus_and_media_lists_each_feature() -> None:
    caps = Capabilities(
        address_kind="phone",
        templates=True,
        interactive=InteractiveRules(max_buttons=3, max_rows=10),
        session_window=timedelta(hours=24),
        media=MediaRules(links=True, uploads=True),
    )
    assert describe_features(caps) == [
        "window=24h",
        "templates",
        "buttons<=3",
        "lists<=10-rows",
        "media=links+uploads",
    ]


def test_a_plain_webhook_channel_lists_nothing_extra() -> None:
    assert describe_features(Capabilities(address_kind="phone")) == []


def test_a_polling_public_channel_says_so() -> None:
    caps = Capabilities(address_kind="opaque", public_posting=True, inbound={"poll", "webhook"})
    assert describe_features(caps) == ["public", "inbound=poll+webhook"]
