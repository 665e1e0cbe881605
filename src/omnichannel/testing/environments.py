"""Throwaway virtual environments for install tests.

A plugin's install test wants what a newcomer gets: ``pip install`` the plugin, then ``omni
channels`` lists it. Installing into the test run's own environment would leak into the other
tests, and building a complete environment needs the network. :func:`overlay_venv` creates an
empty virtual environment that also sees the packages of the running one (omnichannel, pytest,
the build backend), so one ``pip install --no-deps --no-build-isolation -e PLUGIN`` is all a
test adds, offline.

``python -m venv --system-site-packages`` is not enough: it exposes the *base* interpreter's
packages, not those of the virtual environment the tests run in (as in CI).
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

__all__ = ["overlay_venv", "pip_install_editable"]


def overlay_venv(directory: Path) -> Path:
    """Create a virtual environment in ``directory`` layered over the running environment's
    packages; return its python executable."""
    subprocess.run([sys.executable, "-m", "venv", str(directory)], check=True, capture_output=True)
    python = directory / ("Scripts" if os.name == "nt" else "bin") / "python"
    own_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    parents = dict.fromkeys([sysconfig.get_paths()["purelib"], *site.getsitepackages()])
    # addsitedir (not a plain path line) so the parents' own .pth files, editable installs
    # among them, are processed too.
    lines = [f"import site; site.addsitedir({parent!r})" for parent in parents]
    (Path(own_site) / "_omnichannel_overlay.pth").write_text("\n".join(lines) + "\n")
    return python


def pip_install_editable(python: Path, project: Path) -> subprocess.CompletedProcess[str]:
    """``pip install -e project`` into ``python``'s environment, offline and without
    dependencies (they come from the overlaid environment)."""
    return subprocess.run(
        [
            str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-index", "--no-deps", "--no-build-isolation", "-e", str(project),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
