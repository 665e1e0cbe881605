"""The conformance suite catches broken adapters: a real plugin passes it, and the same plugin
with its signature check removed, or with a secret in its settings' repr, fails it, naming the
clause that broke."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

SMS_CONTRACT = (
    Path(__file__).resolve().parents[1]
    / "plugins"
    / "omnichannel-twilio"
    / "tests"
    / "test_contract.py"
)

HEADER = f"""
import importlib.util

import attrs
from omnichannel_twilio import TwilioSmsAdapter, TwilioSmsSettings

spec = importlib.util.spec_from_file_location("sms_contract", {str(SMS_CONTRACT)!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
Conforming = module.TestTwilioSmsContract
Conforming.__test__ = False
"""

BROKEN = {
    "unchecked": """
class UncheckedAdapter(TwilioSmsAdapter):
    def verify_webhook(self, request):
        return None  # the signature check removed


class TestUnchecked(Conforming):
    __test__ = True
    adapter_class = UncheckedAdapter
""",
    "leaky": """
@attrs.frozen(kw_only=True)
class LeakySettings(TwilioSmsSettings):
    def __repr__(self):
        return f"LeakySettings(auth_token={self.auth_token.reveal()!r})"


class LeakyAdapter(TwilioSmsAdapter):
    settings_class = LeakySettings


class TestLeaky(Conforming):
    __test__ = True
    adapter_class = LeakyAdapter
""",
    "conforming": """
class TestConforming(Conforming):
    __test__ = True
""",
}


@pytest.fixture(autouse=True)
def _needs_the_twilio_plugin() -> None:
    pytest.importorskip("omnichannel_twilio")


def _run(pytester: pytest.Pytester, case: str) -> pytest.RunResult:
    pytester.makepyfile(**{f"test_{case}": HEADER + BROKEN[case]})
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", "-rf")


def test_a_conforming_adapter_passes_every_clause(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "conforming")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0
    assert outcomes["passed"] >= 10
    assert result.ret == 0


def test_an_adapter_without_its_signature_check_fails_the_403_clauses(
    pytester: pytest.Pytester,
) -> None:
    result = _run(pytester, "unchecked")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    output = result.stdout.str()
    assert "contract clause 'a missing signature is refused with 403' broke" in output
    assert "contract clause 'a wrong signature is refused with 403' broke" in output


def test_an_adapter_whose_settings_print_a_secret_fails_the_repr_clause(
    pytester: pytest.Pytester,
) -> None:
    result = _run(pytester, "leaky")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "contract clause 'no secret in repr' broke" in result.stdout.str()
