"""``docs/cli.md`` documents every option of every ``omni`` command, and nothing else: each
command has a section headed by its usage, whose options table lists exactly the command's
options (as ``tests/test_plugin_docs.py`` keeps the hooks reference true to hookspecs.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from omnichannel.cli import BUILTIN_COMMANDS, omni

CLI_MD = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
# Taken by every command, documented once under "Options of every command".
COMMON = {"-v", "--verbose", "-h", "--help"}
FLAG = re.compile(r"(?<![\w-])(--?[a-z][a-z0-9-]*)")


def _commands() -> Iterator[tuple[str, click.Command]]:
    ctx = click.Context(omni)
    for name in sorted(BUILTIN_COMMANDS):
        command = omni.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            for sub_name, sub in sorted(command.commands.items()):
                yield f"{name} {sub_name}", sub
        else:
            yield name, command


COMMANDS = dict(_commands())


def _sections() -> dict[str, str]:
    text = CLI_MD.read_text(encoding="utf-8")
    return {
        match.group(1): match.group(2)
        for match in re.finditer(r"^## `omni ([^`]*)`\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    }


SECTIONS = _sections()


def _section_of(path: str) -> tuple[str, str]:
    for heading, body in SECTIONS.items():
        words = heading.split()
        if " ".join(words[: len(path.split())]) == path and (
            len(words) == len(path.split()) or not words[len(path.split())].islower()
        ):
            return heading, body
    raise AssertionError(f"docs/cli.md has no section `omni {path} ...`")


def _documented_options(body: str) -> set[str]:
    found: set[str] = set()
    for line in body.splitlines():
        if line.startswith("| `"):
            found.update(FLAG.findall(line.split("|")[1]))
    return found


def _options(command: click.Command) -> set[str]:
    return {
        opt
        for param in command.params
        if isinstance(param, click.Option)
        for opt in (*param.opts, *param.secondary_opts)
    } - COMMON


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_option_of_the_command_is_documented_in_its_section(path: str) -> None:
    _, body = _section_of(path)
    assert _documented_options(body) == _options(COMMANDS[path])


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_the_section_heading_names_the_commands_arguments(path: str) -> None:
    heading, _ = _section_of(path)
    for param in COMMANDS[path].params:
        if isinstance(param, click.Argument):
            assert param.human_readable_name in heading, (path, param.human_readable_name)


def test_every_section_is_a_command() -> None:
    known = {path for path in COMMANDS} | {"--version"}
    for heading in SECTIONS:
        words = heading.split()
        assert " ".join(words[:2]) in known or words[0] in known, heading


def test_the_common_options_are_documented_once_for_every_command() -> None:
    text = CLI_MD.read_text(encoding="utf-8")
    common = text.split("## Options of every command", 1)[1].split("\n## ", 1)[0]
    assert _documented_options(common) == COMMON
    assert "OMNICHANNEL_LOG" in common
    assert "NO_COLOR" in common
    for path, command in COMMANDS.items():
        assert {"-v", "--verbose"} <= {
            opt for param in command.params for opt in getattr(param, "opts", ())
        }, path


def test_completion_is_documented() -> None:
    assert "_OMNI_COMPLETE=bash_source omni" in CLI_MD.read_text(encoding="utf-8")
