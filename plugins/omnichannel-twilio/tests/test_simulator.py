"""Tests for omnichannel_twilio.simulator: what both Twilio simulators do the same way: Basic
auth with the account's credentials, the account in the path, Twilio's error bodies, and the
list reads (filters, newest first, pages linked by ``next_page_uri``) a lookup makes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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
from omnichannel_twilio.payloads import parse_time, rfc2822

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
    listed = await sim.handle(request(sim, "GET", authorization=basic_auth(account, secondary)))
    assert listed.status_code == 200


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


# --- lists ----------------------------------------------------------------------------------------


@SIMULATORS
async def test_the_list_is_newest_first_and_filtered_by_to_and_from(simulator_class: Any) -> None:
    sim = simulator(simulator_class)
    first = await create(sim)
    other = await create(sim, to="+14155550111")
    second = await create(sim)
    # Whole-second dates: order them as Twilio's clock would have.
    for offset, item in enumerate((first, other, second)):
        sim.resources[item["sid"]]["date_created"] = rfc2822(
            datetime.now(UTC) + timedelta(seconds=offset)
        )
    listed = json_of(await sim.handle(request(sim, "GET", [("To", "+14155550199")])))
    assert [item["sid"] for item in listed[sim.resource.key]] == [second["sid"], first["sid"]]
    assert listed["page"] == 0
    assert listed["next_page_uri"] is None
    from_elsewhere = json_of(await sim.handle(request(sim, "GET", [("From", "+14155550177")])))
    assert from_elsewhere[sim.resource.key] == []


@SIMULATORS
async def test_the_date_filter_takes_a_day_or_an_inequality(simulator_class: Any) -> None:
    sim = simulator(simulator_class)
    created = await create(sim)
    # Not sent (or started) yet: listed under the day it was created.
    day = parse_time(created["date_created"])
    assert day is not None
    today = day.date().isoformat()
    tomorrow = (day + timedelta(days=1)).date().isoformat()
    yesterday = (day - timedelta(days=1)).date().isoformat()
    name = sim.resource.date_filter
    cases = [
        ([(name, today)], True),
        ([(f"{name}>", yesterday)], True),
        ([(f"{name}>", today)], True),
        ([(f"{name}>", tomorrow)], False),
        ([(f"{name}<", yesterday)], False),
        ([(f"{name}<", today)], True),
        ([(f"{name}>", "not a date")], False),
    ]
    for query, listed in cases:
        page = json_of(await sim.handle(request(sim, "GET", query)))
        assert ([item["sid"] for item in page[sim.resource.key]] == [created["sid"]]) is listed, (
            query
        )


@SIMULATORS
async def test_pages_are_linked_by_next_page_uri_relative_to_the_api_root(
    simulator_class: Any,
) -> None:
    sim = simulator(simulator_class)
    sids = {(await create(sim))["sid"] for _ in range(3)}
    first = json_of(await sim.handle(request(sim, "GET", [("PageSize", "2")])))
    assert len(first[sim.resource.key]) == 2
    uri = first["next_page_uri"]
    account = sim.settings.account_sid
    assert uri.startswith(f"/2010-04-01/Accounts/{account}/{sim.resource.name}.json?")
    assert "Page=1" in uri
    second = json_of(await sim.handle(request(sim, "GET", path=uri)))
    assert second["next_page_uri"] is None
    assert second["previous_page_uri"] is not None
    assert {item["sid"] for item in first[sim.resource.key] + second[sim.resource.key]} == sids


@SIMULATORS
async def test_a_bad_page_size_gets_a_400(simulator_class: Any) -> None:
    sim = simulator(simulator_class)
    response = await sim.handle(request(sim, "GET", [("PageSize", "many")]))
    assert response.status_code == 400
