"""Files under DATA_DIR (CONTRACT.md §10), written atomically.

Every write goes to a temporary file in the same folder, is flushed to disk, then renamed
over the target: a crash leaves the old file or the new one, never half of either.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path

TALLY_FILE = "tally.json"
SUMMARIES_DIR = "summaries"


_TEMPORARY = itertools.count()


def _create_temporary(path: Path) -> tuple[int, Path]:
    """A new file beside `path` (`.NAME.PID.N`, mode 0600), opened for writing. Cheaper than
    `tempfile.mkstemp` (a resolution writes two files); unique per process and counter, and
    O_EXCL makes a leftover of a dead process with the same pid a retry, never a reuse."""
    while True:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{next(_TEMPORARY)}")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), tmp
        except FileExistsError:
            continue


def atomic_write_text(path: Path, text: str, *, durable: bool = True) -> None:
    """Write `text` to `path` whole or not at all. `durable`: flushed to disk before the
    rename (a cache that can be rebuilt skips that)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = _create_temporary(path)
    try:
        try:
            data = memoryview(text.encode("utf-8"))
            while data:
                data = data[os.write(handle, data) :]
            if durable:
                os.fsync(handle)
        finally:
            os.close(handle)
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
