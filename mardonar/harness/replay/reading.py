"""Reading transcripts for replay: finding them, their header and spec, the table's actions,
and what one run loads once (`ReplayRun`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mardonar.content.repo import find_root
from mardonar.errors import UsageError
from mardonar.harness.headless import Scratch, scratch
from mardonar.harness.replay.results import display_path
from mardonar.transcript import read_transcript

if TYPE_CHECKING:
    from mardonar.content.bundle import Bundle
    from mardonar.content.lint.runner import LintMemo

__all__ = [
    "ReplayRun",
    "actions_of",
    "discover_transcripts",
    "hash_notes",
    "load_header",
    "read_header",
    "replay_run",
    "without_refused",
]


def discover_transcripts(paths: Sequence[Path]) -> list[Path]:
    """The transcripts named by `paths`: files, or folders walked for `*.jsonl`."""
    if not paths:
        raise UsageError("name at least one transcript or folder of transcripts", exit_code=2)
    found: dict[Path, None] = {}
    for given in paths:
        if not given.exists():
            raise UsageError(f"{given}: no such file or directory", exit_code=2)
        if given.is_dir():
            inside = sorted(given.rglob("*.jsonl"))
            if not inside:
                raise UsageError(f"{given}: no transcripts (*.jsonl) in it", exit_code=2)
            found.update(dict.fromkeys(p.resolve() for p in inside))
        else:
            found[given.resolve()] = None
    return list(found)


def without_refused(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records without the attempts the store refused (`error` lines marked `refused`).

    Nothing of a refused attempt was applied (Redis was down, the turn lock busy): the engine
    put the session back, and the players sent the line again, which was recorded as a turn
    of its own. Its records are those after the refusal's turn number (the attempt's turn,
    one above the turn the session went back to), up to the refusal."""
    kept: list[dict[str, Any]] = []
    for record in records:
        if record.get("type") == "error" and record.get("refused"):
            back_to = int(record.get("turn", 0))
            while (
                kept and kept[-1].get("type") != "header" and int(kept[-1].get("turn", 0)) > back_to
            ):
                kept.pop()
            continue
        kept.append(record)
    return kept


def actions_of(records: Sequence[dict[str, Any]]) -> list[tuple[str, int, Any]]:
    """What the table did, in order: ("turn", n, [PlayerLine, ...]), ("roll", n, record),
    ("end", n, reason)."""
    from mardonar.llm.turnformat import PlayerLine

    actions: list[tuple[str, int, Any]] = []
    for record in records:
        kind, turn = record.get("type"), int(record.get("turn", 0))
        if kind == "player":
            line = PlayerLine(player=str(record.get("player")), text=str(record.get("text")))
            if actions and actions[-1][0] == "turn" and actions[-1][1] == turn:
                actions[-1][2].append(line)
            else:
                actions.append(("turn", turn, [line]))
        elif kind == "roll":
            actions.append(("roll", turn, record))
        elif kind == "end" and record.get("reason") not in ("resolved", "max_turns"):
            actions.append(("end", turn, str(record.get("reason"))))
    return actions


class ReplayRun:
    """What the transcripts of one `mardonar replay` run share: loaded bundles, database
    images and one throwaway folder.

    Loading a bundle lints it, so each spec is loaded once per run (a run is one command:
    its files are read once, as `mardonar lint` would), and the loads share one `LintMemo`
    (the lint cache file read once; the persona, party and lore parsed once). Each transcript
    still gets a fresh headless engine (`Scratch.engine`: databases in RAM, copies of images
    made once per run). Forked workers (`replay_all(jobs=...)`) each use their own
    copy of the run, as the parent left it when it forked."""

    def __init__(self, scratch: Scratch, *, cwd: Path | None = None) -> None:
        self.scratch = scratch
        self.cwd = cwd
        self._bundles: dict[Path, Bundle] = {}
        self._spec_paths: dict[tuple[str, Path], Path] = {}
        self._memo: LintMemo | None = None
        self._roots: dict[Path, Path | None] = {}

    def root_of(self, folder: Path) -> Path | None:
        """The repository around `folder` (`find_root`), looked up once per folder."""
        if folder not in self._roots:
            self._roots[folder] = find_root(folder)
        return self._roots[folder]

    def bundle(self, spec: str, root: Path) -> Bundle:
        from mardonar.content.bundle import load_bundle, resolve_spec_path
        from mardonar.content.lint.runner import LintMemo

        # Each transcript names its spec: found once per name and repository.
        spec_path = self._spec_paths.get((spec, root))
        if spec_path is None:
            spec_path = self._spec_paths[(spec, root)] = resolve_spec_path(spec, root)
        if spec_path not in self._bundles:
            self._memo = self._memo or LintMemo()
            self._bundles[spec_path] = load_bundle(spec, cwd=root, memo=self._memo)
        return self._bundles[spec_path]


@asynccontextmanager
async def replay_run(cwd: Path | None = None) -> AsyncIterator[ReplayRun]:
    with scratch("mardonar-replay-") as folder:
        yield ReplayRun(folder, cwd=cwd)


def load_header(path: Path, run: ReplayRun) -> tuple[list[dict[str, Any]], Bundle]:
    """The records of a transcript and the bundle of its spec; UsageError (exit 2) when the
    transcript cannot be read or its spec cannot be loaded."""
    records, spec, root = read_header(path, run)
    try:
        return records, run.bundle(spec, root)
    except UsageError as error:  # the header's line names the spec that cannot be loaded
        raise UsageError(f"{display_path(path)}:1: {error}", exit_code=2) from None


def read_header(path: Path, run: ReplayRun) -> tuple[list[dict[str, Any]], str, Path]:
    """The records of a transcript, its spec id and the repository to load it from;
    UsageError (exit 2) when the transcript cannot be read."""
    shown = display_path(path)
    records = without_refused(list(read_transcript(path)))  # each line checked: its schema
    if not records:
        raise UsageError(f"{shown}: an empty transcript (no complete header line)", exit_code=2)
    spec = str(records[0]["spec"])  # a slug (the header's schema): an id, never a path
    if records[0].get("seed") is None:
        raise UsageError(f"{shown}:1: the header has no seed; replay needs one", exit_code=2)
    root = run.root_of(path.parent) or run.root_of(run.cwd or Path.cwd())
    if root is None:
        raise UsageError(
            f"{shown}: no persona.yaml above the transcript or the working folder, so its spec "
            f"'{spec}' cannot be found",
            exit_code=2,
        )
    return records, spec, root


def hash_notes(header: dict[str, Any], bundle: Bundle) -> list[str]:
    notes: list[str] = []
    if header.get("spec_sha256") and header["spec_sha256"] != bundle.spec_sha256:
        notes.append(f"spec changed since recording ({bundle.spec.id})")
    if header.get("persona_sha256") and header["persona_sha256"] != bundle.persona_sha256:
        notes.append("persona changed since recording")
    return notes
