"""The test kit: what applications and plugin authors test with.

Registered as a pytest plugin (the ``pytest11`` entry point), so its fixtures are available in
any project that installs omnichannel:

* :class:`FakeAdapter`: an adapter whose ``send`` calls a plain function, for application tests
  that need neither HTTP mocks nor a plugin;
* builders: :func:`make_envelope`, :func:`make_inbound`, :func:`make_status`,
  :func:`make_response` (a provider answer), :func:`webhook_request`;
* fixtures: ``plugin_host`` (built-ins only; register what the test needs), ``fake_adapter``,
  ``router``, and ``anyio_backend`` (asyncio);
* :class:`~omnichannel.testing.contract.AdapterContract`: the conformance suite a plugin
  subclasses in its ``tests/test_contract.py``;
* :class:`LoopbackRig`: an adapter, its simulator and the webhook app on loopback ports, the
  production path for a plugin's own tests; :class:`ScriptedServer`: a provider stand-in that
  fails on cue (a reset after the request, a close mid-answer, no answer).
"""

from __future__ import annotations

from omnichannel.testing.builders import (
    make_envelope,
    make_inbound,
    make_response,
    make_status,
    webhook_request,
)
from omnichannel.testing.contract import AdapterContract
from omnichannel.testing.fake import FakeAdapter, FakeSettings
from omnichannel.testing.loopback import LoopbackRig
from omnichannel.testing.standin import (
    CLOSE_MID_ANSWER,
    NO_ANSWER,
    RESET_AFTER_REQUEST,
    Reply,
    ScriptedServer,
)

__all__ = [
    "CLOSE_MID_ANSWER",
    "NO_ANSWER",
    "RESET_AFTER_REQUEST",
    "AdapterContract",
    "FakeAdapter",
    "FakeSettings",
    "LoopbackRig",
    "Reply",
    "ScriptedServer",
    "make_envelope",
    "make_inbound",
    "make_response",
    "make_status",
    "webhook_request",
]
