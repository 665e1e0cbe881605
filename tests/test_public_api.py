"""Meta-tests: the public surface, the dependency direction and the provider-free core."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import omnichannel

CORE = Path(omnichannel.__file__).parent
PROVIDER_WORDS = re.compile(
    r"twilio|graph\.facebook|api\.x\.com|api\.twitter|aiosmtplib|telegram", re.IGNORECASE
)
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
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_all_is_sorted_and_every_name_resolves_from_the_module_that_defines_it() -> None:
    assert omnichannel.__all__ == sorted(omnichannel.__all__)
    lazy = {name for names in omnichannel._EXPORTS_BY_MODULE.values() for name in names}
    assert lazy == set(omnichannel.__all__) - {"__version__"}
    for module, names in omnichannel._EXPORTS_BY_MODULE.items():
        for name in names:
            assert getattr(omnichannel, name) is getattr(importlib.import_module(module), name)
    assert set(omnichannel.__all__) <= set(dir(omnichannel))


def test_the_type_checking_imports_match_the_lazy_exports() -> None:
    tree = ast.parse(Path(omnichannel.__file__).read_text())
    guarded = next(node for node in tree.body if isinstance(node, ast.If))
    imported = {
        (node.module, alias.name)
        for node in guarded.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    lazy = {
        (module, name) for module, names in omnichannel._EXPORTS_BY_MODULE.items() for name in names
    }
    assert imported == lazy


def test_every_public_name_has_a_docstring() -> None:
    missing = [
        name
        for name in omnichannel.__all__
        if name != "__version__" and not inspect.getdoc(getattr(omnichannel, name))
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
    code = (
        "import sys\n"
        "from omnichannel.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('omnichannel.cli.')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"
