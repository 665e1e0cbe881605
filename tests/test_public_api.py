"""Meta-tests: the public surface, the dependency direction and the provider-free core."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import omnichannel
import omnichannel.plugin

CORE = Path(omnichannel.__file__).parent
NAMESPACES = [omnichannel, omnichannel.plugin]

APPLICATION_API = {
    "Address", "AddressKind", "BlockingRouter", "Choice", "ChoiceSection", "Config",
    "ConfigurationError", "Content", "ContentRejected", "ContentTooLong", "DeliveryStatus",
    "Direction", "DuplicateEnvelope", "Envelope", "EnvelopeExpired", "FailureReason",
    "FittingPolicy", "FittingReport", "Inbound", "Interactive", "InvalidAddress",
    "InvalidEnvelope", "InvalidMediaUrl", "InvalidRecipient", "Media", "MediaPolicy",
    "MissingVariable", "OmnichannelError", "Outbound", "OutcomeUnknown", "PluginHost",
    "PluginLoadFailure", "PolicyViolation", "ProviderError", "RateLimited", "ResponseTooLarge",
    "RestrictedPublic", "Router", "RoutingPolicy", "Secret", "SendError", "SendReceipt",
    "Sensitivity", "StatusAnomaly", "StatusUpdate", "StoreError", "StoreLocked",
    "StoreSchemaOutdated", "Template",
    "TemplateButton", "TemplateButtonKind", "TemplateHeader", "TextFormat", "TransportError",
    "UnknownAdapter", "UnknownChannel", "UnsupportedFeature", "Visibility", "WebhookError",
    "WebhookParseError", "WebhookRequest", "WebhookResponse", "WebhookVerificationError",
    "__version__", "hookimpl", "load_config", "new_envelope_id",
}  # fmt: skip
PLUGIN_API = {
    "AdapterClass", "AdapterContext", "AdapterInfo", "BaseAdapter", "Capabilities",
    "ChannelAdapter", "InboundMode", "InteractiveRules", "MediaRules", "PollResult",
    "ProviderRequest", "ProviderResponse", "RetryPolicy", "SecretHeaders", "Sender",
    "SentMessage", "StandardWebhooks", "TemplateRules", "Transport", "WebhookResult",
    "WeightedLength", "basic_auth", "bearer_auth", "build_settings", "constant_time_equal",
    "default_error_for_response", "describe_settings", "describe_value", "hmac_digest",
    "html_to_plain", "mac_over_parts", "markdown_to_plain",
    "retry_after_seconds", "secret", "setting", "sign_body", "sign_url_params",
    "url_params_string", "url_port_variants", "urlencode_form", "verify_body",
    "verify_url_params", "verify_url_params_request",
}  # fmt: skip
PROVIDER_WORDS = re.compile(
    r"twilio|graph\.facebook|api\.x\.com|api\.twitter|aiosmtplib|telegram|bodySHA256"
    r"|\bmeta\b|whatsapp|\bgraph\b|\bsmtp\b|\bimap\b|x\.com|sendgrid|mailgun|postmark",
    re.IGNORECASE,
)
ROUTER_MODULES = (
    "sending", "window_rules", "signposts", "preview", "channel_moves", "receiving",
    "scheduling", "assembly", "worker",
)  # fmt: skip
# module -> modules of the package it must never import (dependencies point inward)
FORBIDDEN_IMPORTS = {
    "envelope": {"router", "plugins", "adapter", "cli", "web", "sandbox", "capabilities"},
    "events": {"router", "plugins", "adapter", "cli", "web", "sandbox", "envelope"},
    "errors": {"router", "plugins", "adapter", "cli", "web", "sandbox"},
    "capabilities": {"router", "plugins", "adapter", "cli", "web", "sandbox"},
    "fitting": {"router", "plugins", "adapter", "cli", "web", "sandbox"},
    "adapter": {"router", "plugins", "cli", "web", "sandbox"},
    "plugins": {"router", "cli", "web", "sandbox"},
    "router": {"cli", "web", "sandbox"},
    "serving": {"router", "plugins", "adapter", "cli", "sandbox"},
    "forwarding": {"router", "plugins", "adapter", "cli", "web", "sandbox", "config"},
    "media_urls": {"router", "plugins", "adapter", "cli", "web", "sandbox", "config"},
    "addresses": {"router", "plugins", "adapter", "cli", "web", "sandbox", "envelope"},
    "inbound": {"router", "plugins", "adapter", "cli", "web", "sandbox", "http"},
    "provider_requests": {"router", "plugins", "adapter", "cli", "web", "sandbox", "http"},
    "http": {"router", "plugins", "adapter", "cli", "web", "sandbox"},
    # The router's own modules: below the processes, never reaching out to them.
    **{module: {"cli", "web", "sandbox", "serving"} for module in ROUTER_MODULES},
}


def _is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test) in (
        "TYPE_CHECKING",
        "typing.TYPE_CHECKING",
    )


def _imports(path: Path) -> set[str]:
    """The modules ``path`` imports at run time (imports only type checkers see create no
    cycle and are left out)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if _is_type_checking_block(node):
            assert isinstance(node, ast.If)
            node.body = []
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_applications_and_plugin_authors_each_get_their_own_namespace() -> None:
    assert set(omnichannel.__all__) == APPLICATION_API
    assert set(omnichannel.plugin.__all__) == PLUGIN_API
    internals = {"StatusTracker", "apply_status", "FrozenMap", "AdapterEntry", "fit"}
    assert not internals & (APPLICATION_API | PLUGIN_API)


@pytest.mark.parametrize("namespace", NAMESPACES, ids=lambda module: module.__name__)
def test_all_is_sorted_and_every_name_resolves_from_the_module_that_defines_it(
    namespace: object,
) -> None:
    exported: list[str] = namespace.__all__  # type: ignore[attr-defined]
    table: dict[str, tuple[str, ...]] = namespace._EXPORTS_BY_MODULE  # type: ignore[attr-defined]
    assert exported == sorted(exported)
    lazy = {name for names in table.values() for name in names}
    assert lazy == set(exported) - {"__version__"}
    for module, names in table.items():
        for name in names:
            assert getattr(namespace, name) is getattr(importlib.import_module(module), name)
    assert set(exported) <= set(dir(namespace))


@pytest.mark.parametrize("namespace", NAMESPACES, ids=lambda module: module.__name__)
def test_the_type_checking_imports_match_the_lazy_exports(namespace: object) -> None:
    table: dict[str, tuple[str, ...]] = namespace._EXPORTS_BY_MODULE  # type: ignore[attr-defined]
    tree = ast.parse(Path(namespace.__file__).read_text())  # type: ignore[attr-defined]
    guarded = next(node for node in tree.body if isinstance(node, ast.If))
    imported = {
        (node.module, alias.name)
        for node in guarded.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    lazy = {(module, name) for module, names in table.items() for name in names}
    assert imported == lazy


@pytest.mark.parametrize("namespace", NAMESPACES, ids=lambda module: module.__name__)
def test_every_public_name_has_a_docstring(namespace: object) -> None:
    missing = [
        name
        for name in namespace.__all__  # type: ignore[attr-defined]
        if name != "__version__" and not inspect.getdoc(getattr(namespace, name))
    ]
    assert missing == []


def test_the_core_names_no_provider() -> None:
    hits = [
        f"{path.relative_to(CORE)}:{number}"
        for path in CORE.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if PROVIDER_WORDS.search(line)
    ]
    assert hits == []


def test_dependencies_point_inward() -> None:
    for module, forbidden in FORBIDDEN_IMPORTS.items():
        imported = _imports(CORE / f"{module}.py")
        wrong = {
            name
            for name in imported
            for bad in forbidden
            if name == f"omnichannel.{bad}" or name.startswith(f"omnichannel.{bad}.")
        }
        assert wrong == set(), f"{module} imports {wrong}"


def test_the_core_never_imports_a_plugin() -> None:
    for path in CORE.rglob("*.py"):
        assert not any(name.startswith("omnichannel_") for name in _imports(path)), path


def test_omni_help_imports_no_command_module() -> None:
    # Only the output helpers every run needs (the log handler) may load; no command module,
    # and not importlib.metadata, which only --version and plugin discovery need.
    code = (
        "import sys\n"
        "from omnichannel.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('omnichannel.cli.')))\n"
        "print('importlib.metadata' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-2:] == ["['omnichannel.cli._output']", "False"]


def test_listing_channels_imports_no_http_client_phone_parser_or_tls() -> None:
    # Plugin discovery imports every plugin's adapter and simulator modules: their import
    # chains must leave httpx, aiohttp and phonenumbers (and ssl, asyncio) to the first send.
    code = (
        "import io, sys, contextlib\n"
        "from omnichannel.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        main(['channels', '--json'])\n    except SystemExit:\n        pass\n"
        "heavy = ('httpx', 'aiohttp', 'phonenumbers', 'ssl', 'asyncio', 'anyio', 'uvicorn')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"
