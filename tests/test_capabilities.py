from __future__ import annotations

from omnichannel.plugin import Capabilities


def test_the_webhook_body_limit_defaults_to_64_kib_and_is_printed() -> None:
    capabilities = Capabilities(address_kind="phone")
    assert capabilities.webhook_body_limit == 65_536
    assert capabilities.to_dict()["webhook_body_limit"] == 65_536
    assert capabilities.problems() == []


def test_a_webhook_body_limit_that_is_not_positive_is_a_problem() -> None:
    for limit in (0, -1):
        problems = Capabilities(address_kind="phone", webhook_body_limit=limit).problems()
        assert problems == ["webhook_body_limit must be a positive number of bytes"]
