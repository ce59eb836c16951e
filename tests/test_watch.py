"""Live reload's content side: noticing edits and reloading without ever crashing."""

from __future__ import annotations

import os
from pathlib import Path

from mardonar.content.bundle import load_bundle
from mardonar.content.watch import ContentWatcher, reload_bundle
from tests.engine_helpers import copy_content


def touch(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    # Some filesystems keep mtime in whole seconds: move it on explicitly.
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 2))


def test_edits_to_spec_persona_and_lore_are_noticed_once(tmp_path: Path) -> None:
    repo = copy_content(tmp_path / "repo")
    watcher = ContentWatcher(load_bundle("goblin-toll-bridge", cwd=repo))
    assert watcher.changed() == []
    spec = repo / "specs" / "goblin-toll-bridge.yaml"
    touch(spec, spec.read_text().replace("dc: 13", "dc: 15"))
    touch(repo / "lore" / "new-lore.md", "---\nkeywords: [moss]\n---\n# Moss\nIt grows.\n")
    assert set(watcher.changed()) == {spec, repo / "lore" / "new-lore.md"}
    assert watcher.changed() == []


def test_a_good_edit_reloads_and_a_broken_one_keeps_the_old_content(tmp_path: Path) -> None:
    repo = copy_content(tmp_path / "repo")
    bundle = load_bundle("goblin-toll-bridge", cwd=repo)
    spec = repo / "specs" / "goblin-toll-bridge.yaml"
    touch(spec, spec.read_text().replace("dc: 13", "dc: 15", 1))
    good = reload_bundle(bundle)
    assert good.bundle is not None
    assert good.bundle.spec.check("intimidate-grukk").dc == 15  # type: ignore[union-attr]

    touch(spec, spec.read_text().replace("dc: 15", "dc: 45", 1))
    broken = reload_bundle(good.bundle)
    assert broken.bundle is None
    assert broken.error and "M203" in broken.error
    assert any(f.code == "M203" for f in broken.findings)
