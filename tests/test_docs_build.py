"""The manual builds: ``mkdocs build --strict`` fails on a broken link or anchor between the
pages under ``docs/`` and on a page left out of the navigation, so the suite fails with it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.docs_pages import DOCS, REPO


def test_the_manual_builds_strictly(tmp_path: Path) -> None:
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    # Every page became a page of the site (the home page is the site's index).
    for source in DOCS.glob("*.md"):
        built = "index.html" if source.stem == "index" else f"{source.stem}/index.html"
        assert (site / built).is_file(), built
