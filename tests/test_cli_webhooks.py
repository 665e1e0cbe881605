"""``omni listen`` (banner, filters, long texts, refused requests, ``--record``), ``omni
replay`` and ``omni simulate``, through the real entry point.

``omni listen`` runs in process with its server replaced by one that feeds the webhook app
scripted requests over ASGI and returns; ``omni simulate`` and ``omni replay`` post to a real
listener on a loopback thread.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from click.testing import CliRunner

from omnichannel.adapter import WebhookRequest
from omnichannel.cli import omni

PUBLIC = "https://hooks.example.com"
SMS_TOKEN = "0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f6"
SMS_ACCOUNT = "AC5a4dbe1c0ffee0ddba11ca7fe5eed5a1"


def run_omni(*args: str) -> Any:
    result = CliRunner().invoke(omni, list(args))
    result.code, result.out, result.err = result.exit_code, result.stdout, result.stderr
    return result


def _inbound(url: str, text: str, sender: str = "+14155550199") -> WebhookRequest:
    from omnichannel_twilio.messaging.webhooks import inbound_params
    from omnichannel_twilio.webhooks import signed_request

    params = inbound_params(
        sender=sender, to="+14155550100", text=text, account_sid=SMS_ACCOUNT,
        messaging_service_sid=None,
    )  # fmt: skip
    return signed_request(SMS_TOKEN, url, params)


def _status(url: str, status: str = "delivered", sid: str = "SM" + "a" * 32) -> WebhookRequest:
    from omnichannel_twilio.webhooks import signed_request

    params = [
        ("MessageSid", sid),
        ("MessageStatus", status),
        ("AccountSid", SMS_ACCOUNT),
        ("To", "+14155550199"),
        ("From", "+14155550100"),
    ]
    return signed_request(SMS_TOKEN, f"{url}?envelope_id=01TESTENVELOPE", params)


Script = Callable[[httpx.AsyncClient], Awaitable[None]]


class ScriptedServer:
    """Stands in for uvicorn in ``omni listen``: posts the script's requests to the app."""

    script: ClassVar[list[WebhookRequest]] = []
    answers: ClassVar[list[int]] = []

    def __init__(self, app: Any, **options: Any) -> None:
        self.app = app

    async def serve(self, sockets: list[Any]) -> None:
        for sock in sockets:
            sock.close()
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport) as client:
            for request in self.script:
                response = await client.request(
                    request.method, request.url, headers=list(request.headers), content=request.body
                )
                self.answers.append(response.status_code)


@pytest.fixture
def listen_on(
    twilio_plugins: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Any]:
    """Run ``omni listen`` (public URL ``PUBLIC``) with the requests given."""
    config = cli.sandbox_config(
        twilio_plugins / "omnichannel.toml", "http://127.0.0.1:9", public_url=PUBLIC
    )
    monkeypatch.setattr("omnichannel.cli.listen.build_server", ScriptedServer)

    def listen(*requests: WebhookRequest, args: tuple[str, ...] = ()) -> Any:
        ScriptedServer.script = list(requests)
        ScriptedServer.answers = []
        return run_omni("listen", "--config", str(config), "--port", "0", *args)

    return listen


SMS_URL = f"{PUBLIC}/webhooks/sms"


def test_the_banner_names_the_bound_address_and_the_url_signatures_use(listen_on: Any) -> None:
    ran = listen_on()
    bound, checked = ran.out.splitlines()[:2]
    assert bound.startswith("listening on http://127.0.0.1:")
    assert bound.endswith(" for: sms, voice")
    assert checked == f"signatures checked against {PUBLIC}/webhooks/{{channel}}"
    assert f"omni: warning: the public URL {PUBLIC} is not this listener's address" in ran.err


def test_type_and_channel_filters_print_only_what_matches(listen_on: Any) -> None:
    def requests(run: str) -> tuple[WebhookRequest, ...]:
        # Fresh ids each run: the store next to the configuration drops repeats of earlier runs.
        return (_inbound(SMS_URL, "hello"), _status(SMS_URL, sid="SM" + run * 32))

    everything = listen_on(*requests("a"), args=("--json",))
    statuses = listen_on(*requests("b"), args=("--json", "--type", "status"))
    voice_only = listen_on(*requests("c"), args=("--json", "--channel", "voice"))
    kinds = [
        [json.loads(line)["type"] for line in ran.out.splitlines()]
        for ran in (everything, statuses, voice_only)
    ]
    assert kinds == [["listening", "message", "status"], ["listening", "status"], ["listening"]]


def test_long_texts_are_cut_unless_full(listen_on: Any) -> None:
    text = "x" * 250
    cut = listen_on(_inbound(SMS_URL, text)).out.splitlines()[-1]
    full = listen_on(_inbound(SMS_URL, text), args=("--full",)).out.splitlines()[-1]
    assert (
        cut
        == f"message sms from +14155550199: {'x' * 200}… (50 more characters; --full shows them)"
    )
    assert full == f"message sms from +14155550199: {text}"


def test_refused_requests_are_shown_with_their_reason(listen_on: Any) -> None:
    forged = _inbound(SMS_URL, "hello")
    forged = WebhookRequest(
        method="POST", url=SMS_URL, headers=forged.headers, body=forged.body + b"&x=1"
    )
    huge = WebhookRequest(
        method="POST", url=SMS_URL, headers={"content-type": "text/plain"}, body=b"x" * 70_000
    )
    elsewhere = _inbound(f"{PUBLIC}/webhooks/fax", "hello")
    ran = listen_on(forged, huge, elsewhere, args=("--json",))
    assert ScriptedServer.answers == [403, 413, 404]
    events = [json.loads(line) for line in ran.out.splitlines()[1:]]
    assert [(event["type"], event["channel"], event["status_code"]) for event in events] == [
        ("rejected", "sms", 403),
        ("rejected", "sms", 413),
        ("rejected", "fax", 404),
    ]
    assert events[0]["reason"].startswith("X-Twilio-Signature does not match")
    assert events[1]["reason"] == "body over the limit of 65536 bytes"
    assert events[2]["reason"] == "no such channel"
    human = listen_on(forged).out.splitlines()[-1]
    assert human.startswith("rejected 403 sms webhook: X-Twilio-Signature does not match")
    assert "refused sms webhook" not in listen_on(forged).err  # shown once, not logged again


def test_record_writes_every_accepted_request_and_nothing_refused(
    listen_on: Any, twilio_plugins: Path
) -> None:
    recording = twilio_plugins / "hooks.jsonl"
    good, status = _inbound(SMS_URL, "keep me"), _status(SMS_URL)
    forged = WebhookRequest(method="POST", url=SMS_URL, headers=good.headers, body=b"Body=no")
    ran = listen_on(good, forged, status, args=("--record", str(recording)))
    assert ran.code == 0, ran.err
    assert f"recording accepted requests to {recording}" in ran.out
    records = [json.loads(line) for line in recording.read_text().splitlines()]
    assert [(record["channel"], record["url"]) for record in records] == [
        ("sms", SMS_URL),
        ("sms", f"{SMS_URL}?envelope_id=01TESTENVELOPE"),
    ]
    assert records[0]["v"] == 1
    assert "keep+me" in __import__("base64").b64decode(records[0]["body_base64"]).decode()
    assert SMS_TOKEN not in recording.read_text()


# -- replay and simulate against a real listener on a loopback thread -------------------------


@pytest.fixture
def listener(twilio_plugins: Path, cli: Any) -> Any:
    """A listener (signatures checked against its own address) and its configuration."""
    config = cli.sandbox_config(twilio_plugins / "omnichannel.toml", "http://127.0.0.1:9")
    with cli.served_in_thread(cli.listener_app(config)) as url:
        yield url, config


def _record(path: Path, request: WebhookRequest, channel: str = "sms") -> Path:
    from omnichannel.cli._recording import RecordedRequest

    record = RecordedRequest(
        channel=channel, received_at="2026-01-01T00:00:00+00:00", request=request
    )
    with path.open("a") as file:
        file.write(json.dumps(record.to_dict()) + "\n")
    return path


def test_replay_posts_a_request_exactly_to_the_url_it_was_recorded_at(
    listener: Any, twilio_plugins: Path
) -> None:
    url, config = listener
    recording = _record(twilio_plugins / "r.jsonl", _inbound(f"{url}/webhooks/sms", "again"))
    ran = run_omni("replay", str(recording), "--config", str(config))
    assert ran.code == 0, ran.err
    assert ran.out.splitlines() == [
        f"replayed sms request of line 1 exact to {url}/webhooks/sms: HTTP 200",
        "1 of 1 request(s) replayed and accepted",
    ]


def test_replay_to_another_url_re_signs_an_inbound_message(
    listener: Any, twilio_plugins: Path
) -> None:
    url, config = listener
    recording = _record(twilio_plugins / "r.jsonl", _inbound(SMS_URL, "from production"))
    ran = run_omni("replay", str(recording), "--config", str(config), "--url", url, "--json")
    assert ran.code == 0, ran.err
    replayed, summary = (json.loads(line) for line in ran.out.splitlines())
    assert (replayed["how"], replayed["url"], replayed["status_codes"]) == (
        "re-signed",
        f"{url}/webhooks/sms",
        [200],
    )
    assert summary == {"type": "summary", "requests": 1, "replayed": 1, "failed": 0, "exit": 0}


def test_replay_skips_a_status_callback_it_cannot_re_sign_and_exits_1(
    listener: Any, twilio_plugins: Path
) -> None:
    url, config = listener
    recording = _record(twilio_plugins / "r.jsonl", _status(SMS_URL))
    ran = run_omni("replay", str(recording), "--config", str(config), "--url", url)
    assert ran.code == 1
    assert ran.out.splitlines()[0] == (
        "skipped sms request of line 1: its signature covers the URL, and it is not an "
        "inbound message simulate() can rebuild"
    )


def test_replay_of_a_file_that_is_not_a_recording_exits_2(twilio_plugins: Path) -> None:
    bad = twilio_plugins / "bad.jsonl"
    bad.write_text('{"hello": 1}\n')
    ran = run_omni("replay", str(bad))
    assert (ran.code, ran.err) == (
        2,
        f"omni: error: {bad} line 1: not a version 1 webhook record\n",
    )


@pytest.mark.parametrize("suffix", ["", "/", "/webhooks/sms"])
def test_simulate_takes_a_base_url_or_a_full_one(listener: Any, suffix: str) -> None:
    url, config = listener
    ran = run_omni(
        "simulate", "sms", "--from", "+14155550199", "--text", "hi", "--url", url + suffix,
        "--config", str(config),
    )  # fmt: skip
    assert (ran.code, ran.out) == (0, f"posted sms message to {url}/webhooks/sms: HTTP 200\n")


def test_simulate_prints_the_reason_a_listener_refused(listener: Any) -> None:
    url, config = listener
    ran = run_omni(
        "simulate", "sms", "--from", "+14155550199", "--text", "hi",
        "--url", f"{url}/webhooks/fax", "--config", str(config),
    )  # fmt: skip
    assert ran.code == 1
    assert ran.err == (
        f"omni: error: the listener at {url}/webhooks/fax answered HTTP 404: no such channel\n"
    )


def test_simulate_validates_from_for_the_channel(listener: Any) -> None:
    url, config = listener
    ran = run_omni(
        "simulate", "sms", "--from", "12", "--text", "hi", "--url", url, "--config", str(config)
    )
    assert ran.code == 2
    assert ran.err.startswith("omni: error: invalid phone address '12': ")


def test_simulate_json_prints_what_was_posted_without_secrets(listener: Any) -> None:
    url, config = listener
    ran = run_omni(
        "simulate", "sms", "--from", "+1 415 555 0199", "--text", "hi", "--url", url,
        "--config", str(config), "--json",
    )  # fmt: skip
    assert ran.code == 0, ran.err
    report = json.loads(ran.out)
    assert report["status_code"] == 200
    assert report["posted"]["url"] == f"{url}/webhooks/sms"
    assert "X-Twilio-Signature" in report["posted"]["headers"]
    assert "From=%2B14155550199" in report["posted"]["body"]
    assert SMS_TOKEN not in ran.out


def test_simulate_to_nothing_listening_exits_1_in_one_line(twilio_plugins: Path, cli: Any) -> None:
    config = cli.sandbox_config(twilio_plugins / "omnichannel.toml", "http://127.0.0.1:9")
    ran = run_omni(
        "simulate", "sms", "--from", "+14155550199", "--text", "hi",
        "--url", "http://127.0.0.1:9", "--config", str(config),
    )  # fmt: skip
    assert ran.code == 1
    assert ran.err == (
        "omni: error: cannot reach http://127.0.0.1:9/webhooks/sms: ConnectError; is omni "
        "listen running there?\n"
    )
