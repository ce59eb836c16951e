"""The content the bot offers, reloaded without a restart.

Specs, persona, party and lore are polled by their file stamps (as `mardonar play --watch`
does, see mardonar/content/watch.py) and on SIGHUP. A changed file is linted before it is
used: a spec that fails keeps its previous version in play and its findings go to the log.
New encounters take the newest good version; running encounters keep the bundle they started
with (they hold their own reference to it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from mardonar.content.bundle import Bundle, load_bundle
from mardonar.content.repo import LORE_DIR, PARTY_FILE, PERSONA_FILE, SPECS_DIR
from mardonar.errors import UsageError

log = logging.getLogger(__name__)

Stamp = tuple[float, int]


@dataclass(frozen=True)
class ReloadNote:
    """What one refresh did to one spec file."""

    path: Path
    spec_id: str | None
    ok: bool
    findings: tuple[str, ...] = ()
    """`path:line:col: error[CODE] message` lines when the reload failed lint."""


def _stamp(path: Path) -> Stamp | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_mtime, info.st_size)


class ContentLibrary:
    """Every spec of one repository, each with its persona, party and lore."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._bundles: dict[str, Bundle] = {}
        self._stamps: dict[Path, Stamp | None] = {}

    # ------------------------------------------------------------------ reading

    def ids(self) -> list[str]:
        return sorted(self._bundles)

    def bundles(self) -> list[Bundle]:
        return [self._bundles[spec_id] for spec_id in self.ids()]

    def get(self, spec_id: str) -> Bundle:
        """The newest good version of a spec; `UsageError` naming the known ones otherwise."""
        found = self._bundles.get(spec_id)
        if found is None:
            known = ", ".join(self.ids()) or "none"
            raise UsageError(f"There is no encounter '{spec_id}' (known: {known}).")
        return found

    # ------------------------------------------------------------------ loading

    def spec_paths(self) -> list[Path]:
        folder = self.root / SPECS_DIR
        if not folder.is_dir():
            return []
        return sorted(
            path
            for pattern in ("*.yaml", "*.yml")
            for path in folder.glob(pattern)
            if not path.name.endswith((".test.yaml", ".test.yml"))
        )

    def _watched(self) -> list[Path]:
        lore = self.root / LORE_DIR
        shared = [self.root / PERSONA_FILE, self.root / PARTY_FILE]
        return [*shared, *(sorted(lore.glob("*.md")) if lore.is_dir() else []), *self.spec_paths()]

    def load(self) -> list[ReloadNote]:
        """Load every spec (at start-up); specs that fail lint are left out and logged."""
        self._stamps = {path: _stamp(path) for path in self._watched()}
        return [self._load(path) for path in self.spec_paths()]

    def refresh(self) -> list[ReloadNote]:
        """Reload what changed on disk since the last look; nothing changed → no notes."""
        now = {path: _stamp(path) for path in self._watched()}
        changed = {p for p in set(now) | set(self._stamps) if now.get(p) != self._stamps.get(p)}
        self._stamps = now
        if not changed:
            return []
        specs = self.root / SPECS_DIR
        if any(path.parent != specs for path in changed):
            # Persona, party or lore: every spec is built on them.
            targets = set(self.spec_paths()) | {p for p in changed if p.parent == specs}
        else:
            targets = changed
        return [self._load(path) for path in sorted(targets)]

    def _load(self, path: Path) -> ReloadNote:
        previous = next((b for b in self._bundles.values() if b.spec_path == path), None)
        if not path.exists():
            if previous is not None:
                del self._bundles[previous.spec.id]
                log.info("spec %s was removed; it is no longer offered", previous.spec.id)
            return ReloadNote(path, previous.spec.id if previous else None, ok=True)
        try:
            fresh = load_bundle(str(path), cwd=self.root)
        except UsageError as error:
            findings = self._findings(path) or (str(error),)
            kept = "keeping the previous version" if previous else "it is not offered"
            log.warning("content %s failed lint; %s: %s", path.name, kept, " | ".join(findings))
            return ReloadNote(path, previous.spec.id if previous else None, False, findings)
        if previous is not None and previous.spec.id != fresh.spec.id:
            del self._bundles[previous.spec.id]
        changed = previous is not None and (
            previous.spec_sha256 != fresh.spec_sha256
            or previous.persona_sha256 != fresh.persona_sha256
            or previous.lore != fresh.lore
        )
        self._bundles[fresh.spec.id] = fresh
        if changed:
            log.info("content %s reloaded; new encounters use the new version", fresh.spec.id)
        return ReloadNote(path, fresh.spec.id, ok=True)

    def _findings(self, path: Path) -> tuple[str, ...]:
        from mardonar.content.lint.runner import run_lint

        targets = [path, self.root / PERSONA_FILE, self.root / PARTY_FILE]
        if (self.root / LORE_DIR).is_dir():
            targets.append(self.root / LORE_DIR)
        try:
            report = run_lint([t for t in targets if t.exists()])
        except UsageError:
            return ()
        return tuple(
            f"{f.path}:{f.line}:{f.col}: {f.severity}[{f.code}] {f.message}"
            for f in report.findings
            if f.severity == "error"
        )
