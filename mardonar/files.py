"""Files under DATA_DIR (CONTRACT.md §10), written atomically.

Every write goes to a temporary file in the same folder, is flushed to disk, then renamed
over the target: a crash leaves the old file or the new one, never half of either.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

TALLY_FILE = "tally.json"
SUMMARIES_DIR = "summaries"


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An advisory lock so two processes bumping the tally never lose a count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read_tally(data_dir: Path) -> dict[str, int]:
    path = data_dir / TALLY_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        from mardonar.errors import UserError

        raise UserError(
            f"{path}: not a valid tally file ({error}); fix or delete it (it only holds run counts)"
        ) from None
    if not isinstance(data, dict):
        return {}
    return {str(k): int(v) for k, v in data.items() if isinstance(v, int)}


def bump_tally(data_dir: Path, spec_id: str) -> int:
    """Add one run for `spec_id`; returns the new count."""
    path = data_dir / TALLY_FILE
    with _locked(path):
        tally = read_tally(data_dir)
        tally[spec_id] = tally.get(spec_id, 0) + 1
        atomic_write_text(path, json.dumps(tally, indent=2, sort_keys=True) + "\n")
        return tally[spec_id]


def summary_path(data_dir: Path, encounter_id: str) -> Path:
    return data_dir / SUMMARIES_DIR / f"{encounter_id}.txt"
