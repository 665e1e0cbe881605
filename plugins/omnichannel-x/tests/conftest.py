"""Fixtures of the X plugin's tests: the provider-shaped samples in ``payloads/``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

PAYLOADS = Path(__file__).parent / "payloads"

Loader = Callable[[str], dict[str, Any]]


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="session")
def sample() -> Loader:
    """Load a sample file from ``payloads/`` by name."""
    return _load


@pytest.fixture(scope="session")
def sample_response() -> Callable[[str], httpx.Response]:
    """A sample answer (``status``, ``headers``, ``body``) as an ``httpx.Response``."""

    def build(name: str) -> httpx.Response:
        data = _load(name)
        return httpx.Response(data["status"], headers=data["headers"], json=data["body"])

    return build
