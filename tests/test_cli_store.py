"""``omni store upgrade`` and ``omni store status``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from omnichannel.cli import omni
from omnichannel.store import SCHEMA_VERSION


@pytest.fixture
def workdir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("OMNICHANNEL_PLUGINS", "none-selected")
    monkeypatch.delenv("OMNICHANNEL_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(omni, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_upgrade_creates_the_schema_then_says_it_is_up_to_date(workdir: Path) -> None:
    url = f"sqlite:///{workdir / 'x.db'}"
    code, out, _ = _run("store", "upgrade", "--url", url)
    assert code == 0
    assert out.strip() == (
        f"Upgraded the store at {url} from an empty database to version {SCHEMA_VERSION}."
    )
    code, out, _ = _run("store", "upgrade", "--url", url)
    assert (code, out.strip()) == (
        0,
        f"The store at {url} is up to date (version {SCHEMA_VERSION}).",
    )
    code, out, _ = _run("store", "upgrade", "--url", url, "--json")
    assert json.loads(out) == {
        "url": url,
        "from": SCHEMA_VERSION,
        "to": SCHEMA_VERSION,
        "changed": False,
    }


def test_upgrade_reads_the_store_url_from_the_configuration(workdir: Path) -> None:
    (workdir / "conf").mkdir()
    config = workdir / "conf" / "omnichannel.toml"
    config.write_text('[store]\nurl = "sqlite:///state.db"\n')
    code, out, _ = _run("store", "upgrade", "--config", str(config))
    assert code == 0, out
    assert (workdir / "conf" / "state.db").exists()


def test_upgrade_without_configuration_makes_omnichannel_db_here(workdir: Path) -> None:
    code, _, _ = _run("store", "upgrade")
    assert code == 0
    assert (workdir / "omnichannel.db").exists()


def test_status_shows_the_version_and_the_counts_or_asks_for_the_upgrade(workdir: Path) -> None:
    url = f"sqlite:///{workdir / 'x.db'}"
    code, out, _ = _run("store", "status", "--url", url)
    assert code == 2
    assert "Run `omni store upgrade`." in out
    assert not (workdir / "x.db").exists()
    _run("store", "upgrade", "--url", url)
    code, out, _ = _run("store", "status", "--url", url, "--json")
    assert code == 0
    report = json.loads(out)
    assert (report["version"], report["up_to_date"]) == (SCHEMA_VERSION, True)
    assert report["outbox"]["queued"] == 0
    assert report["inbox"]["dead"] == 0


def test_a_bad_or_unreachable_store_is_one_line_and_exit_code_2(workdir: Path) -> None:
    code, _, err = _run("store", "upgrade", "--url", "mysql://db/omni")
    assert code == 2
    assert err.startswith("omni: error: store url mysql://db/omni")
    code, _, err = _run("store", "upgrade", "--url", f"sqlite:///{workdir / 'no' / 'x.db'}")
    assert code == 2
    assert "is not a directory" in err
    assert "Traceback" not in err


def test_a_password_in_the_url_is_never_printed(workdir: Path) -> None:
    code, out, err = _run(
        "store", "upgrade", "--url", "postgresql+psycopg://app:hunter2@127.0.0.1:1/omni"
    )
    assert code == 2
    assert "hunter2" not in out + err
    assert "cannot open the store at postgresql+psycopg://app:***@127.0.0.1:1/omni" in err


def test_a_store_at_a_version_no_release_wrote_is_one_clear_line(workdir: Path) -> None:
    import sqlite3
    from contextlib import closing

    url = f"sqlite:///{workdir / 'x.db'}"
    _run("store", "upgrade", "--url", url)
    with closing(sqlite3.connect(workdir / "x.db")) as connection, connection:
        connection.execute("UPDATE omnichannel_schema_version SET version_num = '0000'")
    code, _, err = _run("store", "upgrade", "--url", url)
    assert code == 2
    assert err.startswith(f"omni: error: cannot migrate the store at {url}: ")
    assert "not written by a release of omnichannel" in err
