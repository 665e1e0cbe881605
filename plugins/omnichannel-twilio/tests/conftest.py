"""Fixtures every test module of the Twilio plugin uses: the copied vectors, the
provider-shaped payloads under ``tests/payloads/`` (see its README for each one's source), and
the recorder the simulators post their callbacks to."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

PAYLOADS = Path(__file__).parent / "payloads"


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """asyncio only, whichever pytest configuration runs the tests (the sandbox's callbacks
    run on asyncio tasks, as under uvicorn)."""
    return "asyncio"


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    """The shared test vectors the adapters use, by id (``payloads/vectors.json``)."""
    data = json.loads((PAYLOADS / "vectors.json").read_text(encoding="utf-8"))
    return dict(data["vectors"])


@pytest.fixture(scope="session")
def fixture() -> Callable[[str], dict[str, Any]]:
    """A payload file as a dict: ``status``, ``headers`` and ``body`` for answers; ``url``,
    ``auth_token`` and ``params`` for webhooks; always its ``source``."""

    def load(name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((PAYLOADS / name).read_text(encoding="utf-8"))
        return data

    return load


@pytest.fixture(scope="session")
def payload(fixture: Callable[[str], dict[str, Any]]) -> Callable[[str], bytes]:
    """The body of an answer file, as the bytes Twilio sends."""
    return lambda name: json.dumps(fixture(name)["body"], ensure_ascii=False).encode()


@pytest.fixture(scope="session")
def fixture_response(
    fixture: Callable[[str], dict[str, Any]], payload: Callable[[str], bytes]
) -> Callable[[str], httpx.Response]:
    """An answer file as the ``httpx.Response`` respx returns: its status, headers and body."""
    return lambda name: httpx.Response(
        fixture(name)["status"], headers=fixture(name)["headers"], content=payload(name)
    )


class CallbackRecorder:
    """Stands in for the application a simulator posts its status callbacks to: records each
    request and answers empty TwiML; records the simulator's pauses instead of sleeping."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        """The transport handler: record ``request``, answer 200."""
        self.requests.append(request)
        return httpx.Response(200, text='<?xml version="1.0" encoding="UTF-8"?><Response />')

    async def sleep(self, seconds: float) -> None:
        """The simulator's sleep: record ``seconds``, return at once."""
        self.sleeps.append(seconds)

    def forms(self) -> list[dict[str, str]]:
        """Each callback's form parameters, blanks kept."""
        return [dict(parse_qsl(r.content.decode(), keep_blank_values=True)) for r in self.requests]


@pytest.fixture
def recorder() -> CallbackRecorder:
    """A fresh :class:`CallbackRecorder`."""
    return CallbackRecorder()
