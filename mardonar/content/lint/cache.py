"""Lint's result cache: per-file results kept by content hash, and the cache folder.

Re-linting an unchanged tree should cost a hash per file (issue #2's budget: 1,000 specs
in under 2 s on 2 cores), so results are kept in one JSON file under the cache folder,
valid only for the content code that produced them (`cache_version`). The parse cache
(`content/parsecache.py`) lives in the same folder under the same version.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mardonar import __version__
from mardonar.content.lint.findings import Finding
from mardonar.content.lint.rules import Context, FileResult, SpecSummary

if TYPE_CHECKING:
    from mardonar.content.lint.runner import Job


def cache_dir() -> Path | None:
    """Where lint's results and the parse cache live; None (no caching) where no folder
    can be named: no MARDONAR_CACHE_DIR or XDG_CACHE_HOME, and no home directory (HOME
    unset for a user with no passwd entry, as in some containers)."""
    configured = os.environ.get("MARDONAR_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:
            return None
    return Path(base) / "mardonar"


@functools.cache
def cache_version() -> str:
    """The version and the source of mardonar.content and of the dice notation lint's M203
    reads: results are only valid for the code that produced them, and a `git pull` in a
    checkout changes lint but not __version__."""
    digest = hashlib.blake2b(__version__.encode(), digest_size=8)
    content = Path(__file__).resolve().parent.parent
    for source in [*sorted(content.rglob("*.py")), content.parent / "dicenotation.py"]:
        with contextlib.suppress(OSError):
            digest.update(source.read_bytes())
    return f"{__version__}+{digest.hexdigest()}"


# How `save` starts the file: what lets `ResultCache` find an entry without parsing the rest.
_HEAD = re.compile(r'\{"version": ("(?:[^"\\]|\\.)*"), "entries": \{')
_MISSING = object()


class ResultCache:
    """Per-file results keyed by content hash, kind, name and repository context.

    The file holds up to 20,000 entries (megabytes) and a run usually wants a few, so it is
    not parsed up front: an entry is found by its key, which `save` writes as `"<key>": `
    right after `{` or `, ` (a quote inside a JSON string is always escaped, so this cannot
    match inside one), and only that entry is decoded. A file in any other layout is parsed
    whole, as is every file once something new has to be saved."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.used: dict[str, dict[str, object]] = {}
        self._text: str | None = None
        self._entries: dict[str, dict[str, object]] | None = None
        self._fresh = False  # results put since the file was read or saved
        text = None
        if path is not None:
            with contextlib.suppress(OSError, ValueError):
                text = path.read_text(encoding="utf-8")
        head = _HEAD.match(text) if text is not None else None
        if head is None:
            self._entries = _parse_cache(text)
        else:
            with contextlib.suppress(ValueError):
                if json.loads(head.group(1)) == cache_version():
                    self._text = text
            if self._text is None:
                self._entries = {}

    @property
    def entries(self) -> dict[str, dict[str, object]]:
        """Every entry in the file (parsed on first use)."""
        if self._entries is None:
            self._entries = _parse_cache(self._text)
            self._text = None
        return self._entries

    def _lookup(self, key: str) -> object:
        if self._text is None:
            return self.entries.get(key, _MISSING)
        text, needle = self._text, f'"{key}": '
        at = text.find(needle)
        while at > 0:
            if text[at - 1] in "{ ":
                try:
                    return json.JSONDecoder().raw_decode(text, at + len(needle))[0]
                except ValueError:
                    return _MISSING
            at = text.find(needle, at + 1)
        return _MISSING

    @staticmethod
    def key(job: Job, ctx: Context) -> str | None:
        try:
            content = job.path.read_bytes()
        except OSError:
            return None
        digest = hashlib.blake2b(content, digest_size=16)
        digest.update(f"|{job.kind}|{job.path.name}|{job.display}|{ctx.key()}".encode())
        return digest.hexdigest()

    def get(self, key: str) -> FileResult | None:
        entry: Any = self.used.get(key)
        if entry is None:
            entry = self._lookup(key)
            if entry is _MISSING:
                return None
        try:  # a damaged entry is a miss, never a crash
            spec = entry.get("spec")
            result = FileResult(
                [Finding.from_dict(f) for f in entry["findings"]],
                spec=SpecSummary(**spec) if isinstance(spec, dict) else None,
            )
        except (AttributeError, KeyError, TypeError):
            return None
        self.used[key] = entry
        return result

    def put(self, key: str, result: FileResult) -> None:
        if key not in self.used and self._lookup(key) is _MISSING:
            self._fresh = True
        self.used[key] = {
            "findings": [f.to_dict() for f in result.findings],
            "spec": asdict(result.spec) if result.spec else None,
        }

    def save(self) -> None:
        # Nothing new (every file a hit): leave the file alone rather than rewrite it.
        if self.path is None or not self._fresh:
            return
        # Keep what this run used plus older entries up to a bound, newest first.
        merged = dict(self.used)
        for key, value in self.entries.items():
            if len(merged) >= 20_000:
                break
            merged.setdefault(key, value)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _sweep_abandoned(self.path.parent)
            handle, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=_TEMP_PREFIX)
        except OSError:
            return  # a cache that cannot be written only costs speed next time
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump({"version": cache_version(), "entries": merged}, out)
            os.replace(tmp, self.path)
        except BaseException as error:  # Ctrl-C mid-write too: no half-written file left
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if isinstance(error, OSError):
                return
            raise
        self._entries, self._fresh = merged, False


_TEMP_PREFIX = ".lint-cache-"
_ABANDONED_AFTER_S = 3600


def _sweep_abandoned(folder: Path) -> None:
    """Remove temporary cache files over an hour old: what a process killed mid-save
    (SIGKILL, a power cut) left behind, which no later save would ever replace."""
    now = time.time()
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if entry.name.startswith(_TEMP_PREFIX):
                with contextlib.suppress(OSError):
                    if now - entry.stat().st_mtime > _ABANDONED_AFTER_S:
                        os.unlink(entry.path)


def _parse_cache(text: str | None) -> dict[str, dict[str, object]]:
    if text is None:
        return {}
    try:
        loaded = json.loads(text)
        entries = loaded.get("entries")
        if loaded.get("version") == cache_version() and isinstance(entries, dict):
            return entries
    except (ValueError, AttributeError):
        pass
    return {}
