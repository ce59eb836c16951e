"""Content reload without a restart: changed files are re-linted and swapped in for new
encounters; a file that fails lint is logged with its findings and the previous version stays."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from mardonar.channels.discord.library import ContentLibrary
from mardonar.errors import UsageError
from tests.engine_helpers import copy_content

SPECS = ["goblin-toll-bridge", "haunted-lighthouse", "smugglers-chase"]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    # A distinct stamp even on file systems with coarse mtimes.
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))


@pytest.fixture
def library(tmp_path: Path) -> ContentLibrary:
    loaded = ContentLibrary(copy_content(tmp_path / "content"))
    assert all(note.ok for note in loaded.load())
    return loaded


def test_every_spec_is_offered_and_unknown_ones_are_named(library: ContentLibrary) -> None:
    assert library.ids() == SPECS
    with pytest.raises(UsageError, match=r"no encounter 'dragon'.*goblin-toll-bridge"):
        library.get("dragon")


def test_nothing_changed_means_nothing_reloaded(library: ContentLibrary) -> None:
    assert library.refresh() == []


def test_a_good_edit_is_used_by_new_encounters(library: ContentLibrary) -> None:
    before = library.get("goblin-toll-bridge")
    edit(before.spec_path, "title: The Goblin Toll Bridge", "title: The Troll Toll Bridge")
    notes = library.refresh()
    assert [(n.spec_id, n.ok) for n in notes] == [("goblin-toll-bridge", True)]
    assert library.get("goblin-toll-bridge").spec.title == "The Troll Toll Bridge"
    assert before.spec.title == "The Goblin Toll Bridge"  # held by running encounters as is


def test_a_broken_edit_keeps_the_previous_version_and_logs_findings(
    library: ContentLibrary, caplog: pytest.LogCaptureFixture
) -> None:
    spec = library.get("goblin-toll-bridge").spec_path
    edit(spec, "    dc: 13", "    dc: 99")
    with caplog.at_level(logging.WARNING):
        (note,) = library.refresh()
    assert not note.ok and note.spec_id == "goblin-toll-bridge"
    assert any(":" in f and "error[" in f and "99" in f for f in note.findings), note.findings
    assert library.get("goblin-toll-bridge").spec.checks[0].dc == 13
    assert "goblin-toll-bridge.yaml failed lint; keeping the previous version" in caplog.text

    edit(spec, "    dc: 99", "    dc: 14")  # fixed: the next refresh takes it
    (note,) = library.refresh()
    assert note.ok and library.get("goblin-toll-bridge").spec.checks[0].dc == 14


def test_a_broken_persona_keeps_every_spec_as_it_was(library: ContentLibrary) -> None:
    persona = library.root / "persona.yaml"
    persona.write_text("voice: [unclosed\n", encoding="utf-8")
    notes = library.refresh()
    assert sorted(n.spec_id for n in notes if not n.ok) == SPECS
    assert library.ids() == SPECS


def test_specs_can_be_added_and_removed(library: ContentLibrary) -> None:
    source = library.get("haunted-lighthouse").spec_path
    copy = source.with_name("second-lighthouse.yaml")
    copy.write_text(
        source.read_text(encoding="utf-8").replace(
            "id: haunted-lighthouse", "id: second-lighthouse"
        ),
        encoding="utf-8",
    )
    library.refresh()
    assert "second-lighthouse" in library.ids()
    copy.unlink()
    library.refresh()
    assert "second-lighthouse" not in library.ids()
