"""The data of YAML files already parsed, kept by content as JSON beside the lint cache.

Every `mardonar play`, `replay` and `test` loads the same persona, party, specs and lore
front matter, which lint has already checked: parsing them is most of a load (~1 ms for a
spec with libyaml and the positioned builder; reading its JSON back takes ~50 us). An entry
is named by a digest of the text and of the content code (`cache_version`: a change to the
YAML reader invalidates every entry), so an edited file is simply a new entry.

Only data that JSON gives back exactly is kept (strings, numbers, booleans, null, lists,
mappings with string keys); anything else — a date, an integer key — is parsed every time.
The cache is an optimisation only: a missing, unreadable, torn or foreign entry, or a cache
folder that cannot be written, means the text is parsed, never an error. `MAX_ENTRIES`
bounds the folder: past it, the older half is removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from mardonar.content.lint.cache import cache_dir, cache_version
from mardonar.content.yamlpos import load_yaml
from mardonar.files import atomic_write_text

__all__ = ["MAX_ENTRIES", "load_plain", "parse_cache_dir"]

MAX_ENTRIES = 2000
"""Entries kept (a few KB each): every edited version of every file loaded adds one."""


def parse_cache_dir() -> Path | None:
    """The cache's folder; None where there is no cache folder at all (`cache_dir`)."""
    folder = cache_dir()
    return folder / "parsed" if folder is not None else None


def load_plain(text: str) -> Any:
    """`load_yaml(text, positions=False).data`, from the cache when this text was parsed
    before. Raises `YamlSyntaxError` as `load_yaml` does for text that is not YAML."""
    folder = parse_cache_dir()
    if folder is None:
        return load_yaml(text, positions=False).data
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=16)
    digest.update(cache_version().encode())
    path = folder / f"{digest.hexdigest()}.json"
    with contextlib.suppress(OSError, ValueError):
        return json.loads(path.read_bytes())
    data = load_yaml(text, positions=False).data
    _keep(path, data)
    return data


def _keep(path: Path, data: Any) -> None:
    try:
        encoded = json.dumps(data, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):  # a date, bytes, NaN: not JSON
        return
    if json.loads(encoded) != data:  # an integer key would come back as a string
        return
    with contextlib.suppress(OSError):
        # Not durable: an entry lost or torn by a power cut is unreadable JSON, parsed again.
        atomic_write_text(path, encoded, durable=False)
        _prune(path.parent)


def _prune(folder: Path) -> None:
    """Past `MAX_ENTRIES`, remove the older half (by modification time)."""
    entries = list(os.scandir(folder))
    if len(entries) <= MAX_ENTRIES:
        return
    aged: list[tuple[float, str]] = []
    for entry in entries:
        with contextlib.suppress(OSError):  # another process may prune at the same time
            aged.append((entry.stat().st_mtime, entry.path))
    aged.sort()
    for _, path in aged[: len(aged) // 2]:
        with contextlib.suppress(OSError):
            os.unlink(path)
