"""Tests for omnichannel_twilio.simulator: what both Twilio simulators do the same way: Basic
auth with the account's credentials, the account in the path, Twilio's error bodies and the
fetch of what they created."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from omnichannel_twilio import (
    TwilioSmsSettings,
    TwilioSmsSimulator,
    TwilioVoiceSettings,
    TwilioVoiceSimulator,
)

from omnichannel import WebhookRequest, WebhookResponse
from omnichannel.plugin import basic_auth, build_settings
from omnichannel.sandbox import SimulatorContext

pytestmark = pytest.mark.anyio

SANDBOX = "http://sandbox.test"


def simulator(simulator_class: Any, **changes: Any) -> Any:
    values = {**simulator_class.sample_settings(f"{SANDBOX}/{simulator_class.prefix}"), **changes}
    settings_class = (
        TwilioSmsSettings if simulator_class is TwilioSmsSimulator else TwilioVoiceSettings
    )
    settings = build_settings(settings_class, values, where="test")
    return simulator_class(settings, SimulatorContext(public_url=None))


def request(
    sim: Any,
    method: str,
    query: list[tuple[str, str]] | None = None,
    form: list[tuple[str, str]] | None = None,
    *,
    authorization: str | None = None,
    path: str | None = None,
) -> WebhookRequest:
    account = sim.settings.account_sid
    url = f"{SANDBOX}/{sim.prefix}" + (
        path or f"/2010-04-01/Accounts/{account}/{sim.resource.name}.json"
    )
    if query:
        url += f"?{urlencode(query)}"
    token = sim.settings.auth_token.reveal()
    return WebhookRequest(
        method=method,
        url=url,
        headers={
            "Authorization": authorization or basic_auth(account, token),
            "Content-Type": "application/x-www-form-urlencoded",
        },
        body=urlencode(form or []).encode(),
    )


def json_of(response: WebhookResponse) -> Any:
    return httpx.Response(response.status_code, content=response.body).json()


async def create(sim: Any, to: str = "+14155550199", text: str = "hi") -> dict[str, Any]:
    if isinstance(sim, TwilioSmsSimulator):
        form = [("To", to), ("From", "+14155550100"), ("Body", text)]
    else:
        form = [
            ("To", to),
            ("From", "+14155550100"),
            ("Twiml", f"<Response><Say>{text}</Say></Response>"),
        ]
    response = await sim.handle(request(sim, "POST", form=form))
    assert response.status_code == 201
    created: dict[str, Any] = json_of(response)
    return created


SIMULATORS = pytest.mark.parametrize(
    "simulator_class", [TwilioSmsSimulator, TwilioVoiceSimulator], ids=["messages", "calls"]
)


# --- auth and routes ------------------------------------------------------------------------------


@SIMULATORS
async def test_the_secondary_auth_token_authenticates_too(simulator_class: Any) -> None:
    secondary = "fedcba9876543210fedcba9876543210"
    sim = simulator(simulator_class, secondary_auth_token=secondary)
    account = sim.settings.account_sid
    created = await create(sim)
    path = f"/2010-04-01/Accounts/{account}/{sim.resource.name}/{created['sid']}.json"
    fetched = await sim.handle(
        request(sim, "GET", path=path, authorization=basic_auth(account, secondary))
    )
    assert fetched.status_code == 200


@SIMULATORS
async def test_a_request_without_credentials_gets_twilios_401(simulator_class: Any) -> None:
    sim = simulator(simulator_class)
    response = await sim.handle(request(sim, "GET", authorization="Basic"))
    assert response.status_code == 401
    assert json_of(response) == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }
    assert ("WWW-Authenticate", 'Basic realm="Twilio API"') in response.headers


@SIMULATORS
async def test_a_method_the_resource_does_not_take_gets_405(simulator_class: Any) -> None:
    sim = simulator(simulator_class)
    response = await sim.handle(request(sim, "DELETE"))
    assert (response.status_code, json_of(response)["code"]) == (405, 20004)


@SIMULATORS
async def test_a_created_resource_can_be_fetched(simulator_class: Any) -> None:
    sim = simulator(simulator_class)
    created = await create(sim)
    account = sim.settings.account_sid
    path = f"/2010-04-01/Accounts/{account}/{sim.resource.name}/{created['sid']}.json"
    fetched = await sim.handle(request(sim, "GET", path=path))
    assert fetched.status_code == 200
    assert json_of(fetched)["sid"] == created["sid"]
    assert json_of(fetched)["uri"] == path
