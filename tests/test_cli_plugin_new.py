"""``omni plugin new``: a working plugin from the template, with every name filled in."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from omnichannel.cli import omni
from omnichannel.cli._scaffold import PluginNames, render, template_files, template_root
from omnichannel.testing.environments import overlay_venv, pip_install_editable

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "plugins" / "_template"
# Names only the template may contain; none of them may survive into a generated plugin.
LEFTOVER = re.compile(r"\{\{\s*\w+\s*\}\}")


def _new(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(omni, ["plugin", "new", *args])
    return result.exit_code, result.output


def _files(root: Path) -> set[str]:
    return {
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def _clean_env() -> dict[str, str]:
    """The environment for child processes, without what would change what they load."""
    drop = {"PYTHONPATH", "OMNICHANNEL_PLUGINS", "OMNICHANNEL_DISABLE_PLUGINS", "PYTEST_ADDOPTS"}
    return {key: value for key, value in os.environ.items() if key not in drop}


def _run(*args: str | Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env={**_clean_env(), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# -- fast ------------------------------------------------------------------------------------


def test_new_creates_the_template_file_set_with_every_name_substituted(tmp_path: Path) -> None:
    code, output = _new("fax", "--channel", "fax", "--provider", "acme", "--dir", str(tmp_path))
    assert code == 0, output
    plugin = tmp_path / "omnichannel-fax"
    expected = {str(relative).replace("{{name}}", "fax") for relative in template_files(TEMPLATE)}
    assert _files(plugin) == expected
    assert "src/omnichannel_fax/adapter.py" in expected
    assert "conftest.py" not in expected
    for path in plugin.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert not LEFTOVER.search(text), f"placeholder left in {path}"
    pyproject = (plugin / "pyproject.toml").read_text(encoding="utf-8")
    assert 'name = "omnichannel-fax"' in pyproject
    assert '"fax" = "omnichannel_fax.hooks"' in pyproject
    adapter = (plugin / "src" / "omnichannel_fax" / "adapter.py").read_text(encoding="utf-8")
    assert "class AcmeFaxAdapter(BaseAdapter[AcmeFaxSettings]):" in adapter
    assert 'channel="fax"' in adapter
    payloads = (plugin / "src" / "omnichannel_fax" / "payloads.py").read_text(encoding="utf-8")
    assert 'ADAPTER_NAME: Final = "fax.acme"' in payloads
    webhooks = (plugin / "src" / "omnichannel_fax" / "webhooks.py").read_text(encoding="utf-8")
    assert 'SIGNATURE_HEADER: Final = "X-Acme-Signature"' in webhooks
    assert "${ACME_API_TOKEN}" in (plugin / "README.md").read_text(encoding="utf-8")


def test_new_prints_the_next_steps(tmp_path: Path) -> None:
    code, output = _new("fax", "--provider", "acme", "--dir", str(tmp_path))
    assert code == 0
    plugin = tmp_path / "omnichannel-fax"
    assert f"python -m pip install -e {plugin}" in output
    assert f"python -m pytest {plugin / 'tests'}" in output
    assert "fax.acme" in output


def test_the_channel_defaults_to_the_name_and_the_provider_to_example(tmp_path: Path) -> None:
    code, _ = _new("pager", "--dir", str(tmp_path))
    assert code == 0
    package = tmp_path / "omnichannel-pager" / "src" / "omnichannel_pager"
    assert 'ADAPTER_NAME: Final = "pager.example"' in (package / "payloads.py").read_text()
    assert "class ExamplePagerAdapter(" in (package / "adapter.py").read_text()


def test_multi_word_names_become_camel_case_class_names(tmp_path: Path) -> None:
    code, _ = _new(
        "rcs", "--channel", "rich_chat", "--provider", "acme_corp", "--dir", str(tmp_path)
    )
    assert code == 0
    package = tmp_path / "omnichannel-rcs" / "src" / "omnichannel_rcs"
    assert "class AcmeCorpRichChatAdapter(" in (package / "adapter.py").read_text()
    assert '"X-AcmeCorp-Signature"' in (package / "webhooks.py").read_text()
    for path in package.rglob("*.py"):
        compile(path.read_text(encoding="utf-8"), str(path), "exec")


@pytest.mark.parametrize(
    ("name", "channel", "provider"),
    [("fax", "fax", "acme"), ("long_name_plugin", "rich_chat_line", "acme_corporation")],
)
def test_generated_code_is_valid_python_and_passes_the_project_lint(
    tmp_path: Path, name: str, channel: str, provider: str
) -> None:
    code, _ = _new(name, "--channel", channel, "--provider", provider, "--dir", str(tmp_path))
    assert code == 0
    plugin = tmp_path / f"omnichannel-{name}"
    for path in plugin.rglob("*.py"):
        compile(path.read_text(encoding="utf-8"), str(path), "exec")
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    config = str(ROOT / "pyproject.toml")
    for command in (["check"], ["format", "--check"]):
        result = _run(ruff, *command, "--no-cache", "--config", config, ".", cwd=plugin)
        assert result.returncode == 0, result.stdout + result.stderr


def test_an_existing_directory_is_refused_and_left_alone(tmp_path: Path) -> None:
    existing = tmp_path / "omnichannel-fax"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    code, output = _new("fax", "--dir", str(tmp_path))
    assert code == 2
    assert "already exists" in output
    assert "nothing was overwritten" in output
    assert _files(existing) == {"keep.txt"}


@pytest.mark.parametrize(
    "args",
    [
        ["Fax"],
        ["1fax"],
        ["fax-plugin"],
        ["fax.acme"],
        ["fax/../../etc"],
        ["x" * 33],
        ["fax", "--channel", "Fax Line"],
        ["fax", "--provider", "acme.com"],
        ["fax", "--provider", ""],
    ],
)
def test_invalid_names_are_rejected_before_anything_is_written(
    tmp_path: Path, args: list[str]
) -> None:
    code, output = _new(*args, "--dir", str(tmp_path))
    assert code == 2
    assert output.startswith("omni: error: invalid value")
    assert "lower-case letter" in output
    assert list(tmp_path.iterdir()) == []


def test_plugin_names_fill_every_placeholder() -> None:
    names = PluginNames(name="fax", channel="fax_line", provider="acme_corp")
    text = "{{name}} {{channel}} {{provider}} {{Channel}} {{Provider}} {{PROVIDER}} {{other}}"
    assert render(text, names.placeholders()) == (
        "fax fax_line acme_corp FaxLine AcmeCorp ACME_CORP {{other}}"
    )


def test_the_template_is_found_in_a_checkout() -> None:
    assert template_root() == TEMPLATE


def test_template_files_leave_out_the_template_only_conftest_and_caches(tmp_path: Path) -> None:
    root = tmp_path / "template"
    (root / "src" / "__pycache__").mkdir(parents=True)
    (root / "src" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (root / "conftest.py").write_text("collect_ignore_glob = ['*']\n")
    (root / "pyproject.toml").write_text("")
    (root / "tests").mkdir()
    (root / "tests" / "conftest.py").write_text("")
    assert sorted(map(str, template_files(root))) == ["pyproject.toml", "tests/conftest.py"]


def test_pytest_does_not_collect_the_template_itself() -> None:
    result = _run(
        sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
        "plugins/_template",
        cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, result.stdout + result.stderr
    assert "no tests collected" in result.stdout


# -- slow: a real install in a throwaway virtual environment ---------------------------------


@pytest.fixture
def venv_python(tmp_path: Path) -> Path:
    """A virtual environment over this one's packages (omnichannel, pytest, respx, hatchling)."""
    return overlay_venv(tmp_path / "venv")


def _pip_install_editable(python: Path, project: Path) -> None:
    result = pip_install_editable(python, project)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_a_new_plugin_passes_its_own_tests_and_is_listed_by_omni_channels(
    tmp_path: Path, venv_python: Path
) -> None:
    code, output = _new("fax", "--channel", "fax", "--provider", "acme", "--dir", str(tmp_path))
    assert code == 0, output
    plugin = tmp_path / "omnichannel-fax"
    _pip_install_editable(venv_python, plugin)

    tests = _run(venv_python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=plugin)
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    assert re.search(r"\b\d+ passed\b", tests.stdout)
    assert "[trio]" not in tests.stdout

    typed = _run(
        venv_python, "-m", "mypy", "--strict", "--cache-dir", tmp_path / "mypy", "src", "tests",
        cwd=plugin, MYPYPATH="src",
    )  # fmt: skip
    assert typed.returncode == 0, typed.stdout + typed.stderr

    omni_main = "from omnichannel.cli import main; main()"
    listed = _run(venv_python, "-c", omni_main, "channels", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert "fax.acme" in rows, sorted(rows)
    assert rows["fax.acme"]["distribution"] == "omnichannel-fax"
    assert rows["fax.acme"]["channel"] == "fax"


@pytest.mark.slow
def test_the_template_ships_inside_the_wheel_and_works_from_there(tmp_path: Path) -> None:
    built = _run(
        sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", tmp_path / "dist",
        cwd=ROOT,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "dist").glob("omnichannel-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(site)
    packaged = {
        name.removeprefix("omnichannel/_template/")
        for name in names
        if name.startswith("omnichannel/_template/")
    }
    assert {str(relative) for relative in template_files(TEMPLATE)} <= packaged

    script = (
        "import sys, omnichannel.cli._scaffold as s; "
        "assert s.template_root() == s.Path(sys.argv[1]) / 'omnichannel' / '_template', "
        "s.template_root(); "
        "from omnichannel.cli import main; main(sys.argv[2:])"
    )
    env = {**_clean_env(), "PYTHONPATH": str(site)}
    result = subprocess.run(
        [sys.executable, "-c", script, str(site), "plugin", "new", "fax", "--dir", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "omnichannel-fax" / "src" / "omnichannel_fax" / "adapter.py").is_file()
