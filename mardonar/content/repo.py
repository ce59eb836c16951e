"""Where an author's files live (CONTRACT.md §1).

The repository root is the nearest directory, from a spec's folder (or the current
directory) upward, that holds persona.yaml; persona, party, lore, specs and transcripts
are all resolved from it.
"""

from __future__ import annotations

from pathlib import Path

PERSONA_FILE = "persona.yaml"
PARTY_FILE = "party.yaml"
SPECS_DIR = "specs"
LORE_DIR = "lore"
TRANSCRIPTS_DIR = "transcripts"


def find_root(start: Path) -> Path | None:
    """The nearest directory from `start` (a file or folder) upward holding persona.yaml."""
    here = start.resolve()
    if not here.is_dir():
        here = here.parent
    for folder in (here, *here.parents):
        if (folder / PERSONA_FILE).is_file():
            return folder
    return None


def lore_ids(root: Path) -> frozenset[str]:
    folder = root / LORE_DIR
    if not folder.is_dir():
        return frozenset()
    return frozenset(path.stem for path in folder.glob("*.md"))
