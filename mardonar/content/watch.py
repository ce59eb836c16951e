"""Noticing that an author edited the files an encounter is built from, and reloading them.

Polling file stamps (mtime and size) every half second costs a few stat calls and needs no
dependency or OS notification API, which editors defeat anyway by writing a new file and
renaming it over the old one. A reload lints the files first: a broken edit yields its
findings and keeps the previous version in play, never a crash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mardonar.content.bundle import Bundle, load_bundle
from mardonar.content.lint.findings import Finding
from mardonar.content.repo import LORE_DIR, PERSONA_FILE
from mardonar.errors import UsageError

Stamp = tuple[float, int] | None


def _stamp(path: Path) -> Stamp:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_mtime, info.st_size)


def watched_paths(bundle: Bundle) -> list[Path]:
    """The spec, persona, party and every lore file (new lore files count too)."""
    lore = bundle.root / LORE_DIR
    paths = [bundle.spec_path, bundle.root / PERSONA_FILE, bundle.party_path]
    if lore.is_dir():
        paths += sorted(lore.glob("*.md"))
    return paths


@dataclass
class ContentWatcher:
    """Reports which of a bundle's files changed since the last look."""

    bundle: Bundle
    _stamps: dict[Path, Stamp] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._stamps = {path: _stamp(path) for path in watched_paths(self.bundle)}

    def changed(self) -> list[Path]:
        now = {path: _stamp(path) for path in watched_paths(self.bundle)}
        paths = sorted(set(now) | set(self._stamps))
        moved = [path for path in paths if now.get(path) != self._stamps.get(path)]
        self._stamps = now
        return moved

    def follow(self, bundle: Bundle) -> None:
        """Watch a newly loaded bundle from here on (its stamps as they are now)."""
        self.bundle = bundle
        self._stamps = {path: _stamp(path) for path in watched_paths(bundle)}


@dataclass(frozen=True)
class Reload:
    bundle: Bundle | None
    """The new content, or None when it does not lint (the old one stays in play)."""
    findings: tuple[Finding, ...] = ()
    error: str | None = None


def reload_bundle(current: Bundle) -> Reload:
    """Load the encounter's files again, as `play` did at start."""
    from mardonar.content.lint.runner import run_lint

    try:
        fresh = load_bundle(str(current.spec_path), cwd=current.root, party=current.party_path)
    except UsageError as error:
        targets = [current.spec_path, current.root / PERSONA_FILE, current.party_path]
        if (current.root / LORE_DIR).is_dir():
            targets.append(current.root / LORE_DIR)
        try:
            report = run_lint([t for t in targets if t.exists()])
            findings = tuple(f for f in report.findings if f.severity == "error")
        except UsageError:
            findings = ()
        return Reload(None, findings, str(error))
    return Reload(fresh)
