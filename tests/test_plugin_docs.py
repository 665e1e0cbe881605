"""The plugin author's kit stays true to the code.

``docs/plugins/hooks.md`` documents every hook of ``hookspecs.py`` with its exact signature and
docstring, and nothing else; the Python examples in the plugin docs compile; and every bundled
plugin (and example plugin) has the shape of ``plugins/_template``.
"""

from __future__ import annotations

import ast
import inspect
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from omnichannel import hookspecs
from omnichannel.cli._scaffold import template_files

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "plugins"
HOOKS_MD = DOCS / "hooks.md"
TEMPLATE = ROOT / "plugins" / "_template"
# The channels DESIGN.md plans as bundled plugins: each is checked once it exists.


@attrs.frozen
class HookSpec:
    name: str
    declaration: str
    """The decorator and the ``def`` line, as written in hookspecs.py."""
    doc: str
    firstresult: bool


def _hookspecs() -> list[HookSpec]:
    tree = ast.parse(Path(hookspecs.__file__).read_text(encoding="utf-8"))
    found = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or not node.decorator_list:
            continue
        decorator = ast.unparse(node.decorator_list[0])
        if not decorator.startswith("hookspec"):
            continue
        returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
        function = getattr(hookspecs, node.name)
        options = getattr(function, f"{hookspecs.PROJECT_NAME}_spec")
        found.append(
            HookSpec(
                name=node.name,
                declaration=f"@{decorator} def {node.name}({ast.unparse(node.args)}){returns}",
                doc=inspect.getdoc(function) or "",
                firstresult=bool(options["firstresult"]),
            )
        )
    return found


HOOKS = _hookspecs()
HOOK_NAMES = {hook.name for hook in HOOKS}


def _markdown(docstring: str) -> str:
    """A docstring as the docs render it: ``:role:`~a.b.C``` -> `C`, ``x`` -> `x`."""
    text = re.sub(r":\w+:`~[\w.]*?(\w+)`", r"`\1`", docstring)
    text = re.sub(r":\w+:`([\w.]+)`", r"`\1`", text)
    return text.replace("``", "`")


def _flat(text: str) -> str:
    return " ".join(text.split())


def _sections(markdown: str) -> dict[str, str]:
    """Each ``### `name` `` section of a page, up to the next heading of level 3 or less."""
    sections: dict[str, str] = {}
    for match in re.finditer(r"^### `(\w+)`\n(.*?)(?=^#{1,3} |\Z)", markdown, re.M | re.S):
        sections[match.group(1)] = match.group(2)
    return sections


def _python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", markdown, re.M | re.S)


HOOKS_PAGE = HOOKS_MD.read_text(encoding="utf-8")
SECTIONS = _sections(HOOKS_PAGE)


def test_the_hookspec_reader_finds_the_hooks() -> None:
    assert {"omnichannel_adapters", "omnichannel_outbound"} <= HOOK_NAMES
    assert len(HOOKS) == len(HOOK_NAMES)


@pytest.mark.parametrize("hook", HOOKS, ids=lambda hook: hook.name)
def test_every_hook_is_documented_with_its_exact_signature(hook: HookSpec) -> None:
    assert hook.name in SECTIONS, f"hooks.md has no '### `{hook.name}`' section"
    code = " ".join(_flat(block) for block in _python_blocks(SECTIONS[hook.name]))
    assert _flat(hook.declaration) in code, (
        f"hooks.md shows a different signature for {hook.name}; hookspecs.py has:\n"
        f"{hook.declaration}"
    )


@pytest.mark.parametrize("hook", HOOKS, ids=lambda hook: hook.name)
def test_every_hook_is_documented_with_its_docstring(hook: HookSpec) -> None:
    assert hook.name in SECTIONS, f"hooks.md has no '### `{hook.name}`' section"
    assert _flat(_markdown(hook.doc)) in _flat(SECTIONS[hook.name]), (
        f"hooks.md does not carry the docstring of {hook.name} as hookspecs.py has it:\n"
        f"{_markdown(hook.doc)}"
    )


@pytest.mark.parametrize("hook", HOOKS, ids=lambda hook: hook.name)
def test_first_result_hooks_and_only_those_say_so(hook: HookSpec) -> None:
    says = "firstresult=True" in SECTIONS.get(hook.name, "")
    assert says == hook.firstresult


def test_hooks_md_documents_no_hook_that_does_not_exist() -> None:
    assert set(SECTIONS) <= HOOK_NAMES, f"not hooks: {sorted(set(SECTIONS) - HOOK_NAMES)}"
    table = set(re.findall(r"^\| `(\w+)` \|", HOOKS_PAGE, re.M))
    assert table == HOOK_NAMES


def test_the_plugin_docs_implement_only_hooks_that_exist() -> None:
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        named = set(re.findall(r"\bdef (omnichannel_\w+)\(", text))
        named |= set(re.findall(r'specname="(\w+)"', text))
        assert named <= HOOK_NAMES, f"{page.name} names {sorted(named - HOOK_NAMES)}"


@pytest.mark.parametrize(
    "page", sorted([*DOCS.glob("*.md"), *DOCS.parent.glob("*.md")]), ids=lambda page: page.name
)
def test_python_examples_in_the_docs_compile(page: Path) -> None:
    blocks = _python_blocks(page.read_text(encoding="utf-8"))
    for number, block in enumerate(blocks, 1):
        compile(block, f"{page.name}, python block {number}", "exec")


# -- every plugin has the template's shape ---------------------------------------------------


README_SECTIONS = (
    "Install",
    "Settings",
    "Capabilities",
    "Sending",
    "Webhooks",
    "Sandbox",
    "Limitations",
)


def _plugin_dirs() -> Iterator[object]:
    for parent in (ROOT / "plugins", ROOT / "examples"):
        for path in sorted(parent.glob("omnichannel-*")):
            if path.is_dir():
                yield pytest.param(path, id=str(path.relative_to(ROOT)))


PLUGINS = list(_plugin_dirs())


def _files(root: Path) -> set[str]:
    skipped = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
    return {
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and not skipped.intersection(path.relative_to(root).parts)
    }


def _required_files(name: str) -> set[str]:
    """The template's files with the plugin's name filled in, less its sample payloads
    (each plugin has its provider's own; only their README is required)."""
    required = set()
    for relative in template_files(TEMPLATE):
        sample = relative.parts[:2] == ("tests", "payloads") and relative.name != "README.md"
        if not sample:
            required.add(str(relative).replace("{{name}}", name))
    return required


def test_the_required_file_set_is_the_style_guide_shape() -> None:
    assert _required_files("twilio") == {
        "pyproject.toml",
        "README.md",
        "src/omnichannel_twilio/__init__.py",
        "src/omnichannel_twilio/py.typed",
        "src/omnichannel_twilio/hooks.py",
        "src/omnichannel_twilio/settings.py",
        "src/omnichannel_twilio/adapter.py",
        "src/omnichannel_twilio/payloads.py",
        "src/omnichannel_twilio/webhooks.py",
        "src/omnichannel_twilio/simulator.py",
        "tests/payloads/README.md",
        "tests/test_payloads.py",
        "tests/test_adapter.py",
        "tests/test_webhooks.py",
        "tests/test_simulator.py",
        "tests/test_contract.py",
    }


@pytest.mark.parametrize("plugin", PLUGINS)
def test_every_plugin_has_the_template_file_set(plugin: Path) -> None:
    name = plugin.name.removeprefix("omnichannel-")
    missing = sorted(_required_files(name) - _files(plugin))
    assert not missing, f"{plugin.name} lacks the template's {missing}"
    extra_packages = sorted(
        path.name for path in (plugin / "src").iterdir() if path.name != f"omnichannel_{name}"
    )
    assert not extra_packages, f"{plugin.name}/src holds more than its package: {extra_packages}"


@pytest.mark.parametrize("plugin", PLUGINS)
def test_every_plugin_names_its_distribution_and_entry_point_like_the_template(
    plugin: Path,
) -> None:
    name = plugin.name.removeprefix("omnichannel-")
    project = tomllib.loads((plugin / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == f"omnichannel-{name}"
    entry_points = project["entry-points"]["omnichannel"]
    assert f"omnichannel_{name}.hooks" in entry_points.values()


@pytest.mark.parametrize("plugin", PLUGINS)
def test_every_plugin_readme_has_the_template_sections_in_order(plugin: Path) -> None:
    readme = (plugin / "README.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+?)\s*$", readme, re.M)
    assert [heading for heading in headings if heading in README_SECTIONS] == list(README_SECTIONS)


def test_the_channel_reference_is_generated_from_the_installed_adapters() -> None:
    for plugin in ("twilio", "email", "whatsapp", "x", "telegram"):
        pytest.importorskip(f"omnichannel_{plugin}")
    from click.testing import CliRunner

    from omnichannel.cli import omni

    result = CliRunner().invoke(
        omni,
        ["channels", "--markdown"],
        env={"OMNICHANNEL_PLUGINS": "twilio,email,whatsapp,x,telegram"},
    )
    assert result.exit_code == 0, result.output
    committed = (ROOT / "docs" / "channels.md").read_text(encoding="utf-8")
    assert result.stdout == committed, (
        "docs/channels.md is out of date: regenerate it with OMNICHANNEL_PLUGINS="
        "twilio,email,whatsapp,x,telegram omni channels --markdown > docs/channels.md"
    )
