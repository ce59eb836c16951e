"""Fixtures and helpers that several test modules share, each in one copy.

A module takes its `repo` fixture from `repo_fixture` (the three kinds it had differ only by
the golden transcripts); a module whose `repo` is built another way keeps its own.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.engine_helpers import REPO, copy_content

GOLDEN_DIR = REPO / "transcripts" / "golden"


def repo_fixture(*, goldens: bool = False) -> Any:
    """A `repo` fixture for a test module (`repo = repo_fixture(goldens=True)`): a Mardonar
    repository with the shipped content, as `git clone` would give it; with the golden
    transcripts inside it, in transcripts/golden/, when `goldens`."""

    @pytest.fixture(name="repo")
    def repo(tmp_path: Path) -> Path:
        root = copy_content(tmp_path / "repo")
        if goldens:
            shutil.copytree(GOLDEN_DIR, root / "transcripts" / "golden")
        return root

    return repo


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a user error; fails on a traceback or several lines."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    return lines[0]


def write(root: Path, relative: str, content: str | bytes) -> Path:
    """Write `content` to `root/relative` (UTF-8 text, or bytes as they are), making folders."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path
