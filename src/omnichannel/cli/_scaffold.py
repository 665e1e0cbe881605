"""Create a channel plugin from the template: what ``omni plugin new`` does.

The template (``plugins/_template`` in a checkout, ``omnichannel/_template`` inside the
installed wheel) holds the plugin shape every omnichannel plugin has, with placeholders:

=================  =====================================================  ===========
placeholder        what it becomes                                         ``fax``/``acme``
=================  =====================================================  ===========
``{{name}}``       the plugin name: ``omnichannel-NAME``, ``omnichannel_NAME``  ``fax``
``{{channel}}``    the channel                                             ``fax``
``{{provider}}``   the provider                                            ``acme``
``{{Channel}}``    the channel in CamelCase, for class names               ``Fax``
``{{Provider}}``   the provider in CamelCase, for class names              ``Acme``
``{{PROVIDER}}``   the provider in capitals, for environment variables     ``ACME``
=================  =====================================================  ===========

Placeholders are filled in file contents and in paths. Everything is rendered in memory
before the first file is written, so a failure leaves nothing half-made behind.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Final

import attrs

__all__ = [
    "NAME_PATTERN",
    "PluginNames",
    "TemplateMissing",
    "create_plugin",
    "render",
    "template_files",
    "template_root",
]

NAME_PATTERN: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")
PLACEHOLDER: Final = re.compile(r"\{\{(name|channel|provider|Channel|Provider|PROVIDER)\}\}")

# Files of the template directory that are not part of a plugin.
_TEMPLATE_ONLY: Final = frozenset({"conftest.py"})
_SKIPPED_PARTS: Final = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})


class TemplateMissing(Exception):
    """Neither the installed package nor a checkout holds the plugin template."""


def check_name(value: str, what: str) -> str:
    """``value`` when it can name a plugin, channel or provider; ValueError says why not."""
    if not NAME_PATTERN.fullmatch(value):
        raise ValueError(
            f"{what} {value!r} must start with a lower-case letter and hold only lower-case "
            "letters, digits and underscores (at most 32 characters), such as 'fax' or 'acme'"
        )
    return value


def _camel(value: str) -> str:
    return "".join(part.capitalize() for part in value.split("_"))


@attrs.frozen(kw_only=True)
class PluginNames:
    """The names a new plugin is made of, checked."""

    name: str
    channel: str
    provider: str

    def __attrs_post_init__(self) -> None:
        check_name(self.name, "plugin name")
        check_name(self.channel, "channel")
        check_name(self.provider, "provider")

    @property
    def distribution(self) -> str:
        """The distribution and directory name: ``omnichannel-NAME``."""
        return f"omnichannel-{self.name}"

    @property
    def package(self) -> str:
        """The import package: ``omnichannel_NAME``."""
        return f"omnichannel_{self.name}"

    @property
    def adapter_name(self) -> str:
        """The adapter's name: ``CHANNEL.PROVIDER``."""
        return f"{self.channel}.{self.provider}"

    @property
    def adapter_class(self) -> str:
        """The adapter's class name: ``<Provider><Channel>Adapter``."""
        return f"{_camel(self.provider)}{_camel(self.channel)}Adapter"

    def placeholders(self) -> dict[str, str]:
        """The value of every placeholder."""
        return {
            "name": self.name,
            "channel": self.channel,
            "provider": self.provider,
            "Channel": _camel(self.channel),
            "Provider": _camel(self.provider),
            "PROVIDER": self.provider.upper(),
        }


def render(text: str, values: Mapping[str, str]) -> str:
    """``text`` with every placeholder filled in; other braces are left alone."""
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


def template_root() -> Path:
    """The template directory: packaged in the wheel, else the checkout's ``plugins/_template``."""
    package = Path(__file__).resolve().parent.parent
    candidates = (package / "_template", package.parent.parent / "plugins" / "_template")
    for candidate in candidates:
        if (candidate / "pyproject.toml").is_file():
            return candidate
    raise TemplateMissing(
        "the plugin template is not installed with omnichannel (looked in "
        f"{', '.join(str(candidate) for candidate in candidates)}); reinstall omnichannel"
    )


def template_files(root: Path) -> Iterator[Path]:
    """The template's files, relative to ``root``, in a stable order."""
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if not path.is_file() or _SKIPPED_PARTS.intersection(relative.parts):
            continue
        if str(relative) in _TEMPLATE_ONLY or path.suffix in (".pyc", ".pyo"):
            continue
        yield relative


def create_plugin(names: PluginNames, parent: Path, *, root: Path | None = None) -> Path:
    """Create ``parent/omnichannel-NAME`` from the template; return its path.

    Raises :class:`FileExistsError` when that directory exists (nothing is overwritten) and
    :class:`TemplateMissing` when there is no template.
    """
    source = root if root is not None else template_root()
    target = parent / names.distribution
    if target.exists():
        raise FileExistsError(str(target))
    values = names.placeholders()
    rendered = {
        Path(render(str(relative), values)): render(
            (source / relative).read_text(encoding="utf-8"), values
        )
        for relative in template_files(source)
    }
    for relative, text in rendered.items():
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(text, encoding="utf-8")
    return target
