"""Where an author's files live (CONTRACT.md §1).

The repository root is the nearest directory, from a spec's folder (or the current
directory) upward, that holds persona.yaml; persona, party, lore, specs and transcripts
are all resolved from it.
"""

from __future__ import annotations

from pathlib import Path

from mardonar.errors import UsageError

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
        marker = folder / PERSONA_FILE
        # A link counts, wherever it leads: lint then says it leads outside (M103).
        if marker.is_file() or marker.is_symlink():
            return folder
    return None


OUTSIDE = (
    "resolves outside the repository (through a symlink); Mardonar reads no "
    "content from outside the repository it plays: copy the file in instead of linking it"
)
"""Why a content file is refused when it resolves outside its repository: lore is indexed
for the GM's `lore_search` and for `serve mcp` clients, so a link to /proc/self/environ or
/etc/shadow would hand the bot's secrets to anyone who can ask."""


def inside(root: Path, path: Path) -> bool:
    """Whether `path`, all symlinks followed, is within the repository `root` (resolved)."""
    return path.resolve().is_relative_to(root.resolve())


def require_inside(root: Path, path: Path, shown: str | None = None) -> Path:
    """`path` resolved; UsageError naming it when it resolves outside the repository."""
    if not inside(root, path):
        raise UsageError(f"{shown or path}: {OUTSIDE}", exit_code=2)
    return path.resolve()


def lore_ids(root: Path) -> frozenset[str]:
    folder = root / LORE_DIR
    if not folder.is_dir():
        return frozenset()
    return frozenset(path.stem for path in folder.glob("*.md"))
