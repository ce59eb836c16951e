"""Strict replay of recorded sessions (issue #6, item 1) and recording golden transcripts.

`replay(path)` reads a transcript, loads its spec from the repository around the transcript
(or the working folder), and plays the recorded player lines, `/roll`s and `/end` on a fresh
engine (real SQLite store and memory, private databases in RAM, thrown away after) with the
recorded seed and a `CassetteLLM` that answers with the recorded `llm` events. The events
the engine produces are compared, turn by turn, with the recorded ones (tool calls and
results, narration, corrections, resolve, end); latency, usage, timestamps and session ids
are not compared. The result names the first divergent turn with a per-field diff and the
end-state diff (outcome, XP, items). Hash differences in the header are information.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mardonar import safetext
from mardonar.content.repo import find_root
from mardonar.errors import UsageError, UserError
from mardonar.safetext import visible
from mardonar.transcript import event_record, read_transcript
from mardonar.wording import plural

if TYPE_CHECKING:
    from mardonar.content.bundle import Bundle
    from mardonar.content.lint.runner import LintMemo
    from mardonar.content.models import Lore as LoreDoc
    from mardonar.engine.events import Event
    from mardonar.llm.base import LLM
    from mardonar.memory.sqlite import SqliteMemory
    from mardonar.store.sqlite import SqliteStore

__all__ = [
    "COMPARED",
    "ReplayResult",
    "ReplayRun",
    "discover_transcripts",
    "play_actions",
    "play_lines",
    "record_session",
    "replay",
    "replay_all",
    "replay_run",
    "replay_sync",
]

COMPARED = ("tool", "narration", "correction", "resolve", "end")
"""The record types compared between the recording and the replay."""


def display_path(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- results


@dataclass
class ReplayResult:
    path: str
    spec: str
    seed: int
    turns: int
    notes: list[str] = field(default_factory=list)
    """Information: hashes changed since recording, `/roll`s that could not be replayed."""
    turn: int | None = None
    """The first divergent turn, or None when the replay is identical."""
    diff: list[str] = field(default_factory=list)
    """What differs in that turn, one line per field."""
    end_diff: list[str] = field(default_factory=list)
    """Outcome, XP and items at the end, where they differ."""
    misses: list[str] = field(default_factory=list)
    """Turns where the engine asked the model something the cassette had no answer for."""
    error: str | None = None
    """Why the transcript could not be replayed to its end (its worker process died)."""
    unreadable: str | None = None
    """Why the transcript could not be replayed at all: `FILE:LINE: what is wrong` (a bad
    line, or a spec that cannot be loaded). The other transcripts of the run are still
    replayed; the run exits 2."""
    seconds: float = 0.0

    @property
    def identical(self) -> bool:
        return (
            self.turn is None
            and not self.end_diff
            and not self.misses
            and not self.error
            and not self.unreadable
        )

    @property
    def verdict(self) -> str:
        if self.unreadable:
            return "unreadable"
        return "identical" if self.identical else "diverged"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "spec": self.spec,
            "seed": self.seed,
            "turns": self.turns,
            "result": self.verdict,
            "notes": self.notes,
            "turn": self.turn,
            "diff": self.diff,
            "end_diff": self.end_diff,
            "misses": self.misses,
            "error": self.error,
            "unreadable": self.unreadable,
            "seconds": round(self.seconds, 4),
        }


# --------------------------------------------------------------------------- finding files


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


# --------------------------------------------------------------------------- playing lines


def _roll_expression(detail: str) -> str:
    """The expression behind a recorded `/roll` detail (`d20 [15] + 2 = 17` → `d20 + 2`)."""
    shown = detail.rsplit(" = ", 1)[0]
    return re.sub(r" \[[^\]]*\]", "", shown).strip()


async def play_lines(
    engine: Any, session: Any, speaker: str, lines: Sequence[str], who: Callable[[str], str]
) -> None:
    """Play lines as `mardonar play` would: `/as NAME`, `/roll [DICE]`, `/end`, or speech."""
    from mardonar.engine.session import Status

    for line in lines:
        if session.status is not Status.active and not line.lower().startswith("/as"):
            break
        if line.startswith("/"):
            name, _, rest = line.partition(" ")
            name = name.lower()
            if name == "/as":
                speaker = who(rest)
            elif name == "/roll":
                await engine.player_roll(session, speaker, rest.strip() or "d20")
            elif name == "/end":
                await engine.end(session)
            else:
                raise UsageError(f"{name}: not supported in a recorded script", exit_code=2)
            continue
        async for _ in engine.run_turn(session, [(speaker, line)]):
            pass


async def record_session(
    bundle: Bundle,
    *,
    seed: int,
    lines: Sequence[str],
    path: Path,
    speaker: str | None = None,
    llm: LLM | None = None,
) -> Path:
    """Play `lines` on a real engine (temporary data folder) and record the transcript at
    `path` (overwritten): how the golden transcripts are made."""
    from mardonar.engine.loop import Engine
    from mardonar.llm.offline import OfflineNarrator
    from mardonar.memory.sqlite import SqliteMemory
    from mardonar.store.sqlite import SqliteStore
    from mardonar.transcript import TranscriptWriter

    def who(name: str) -> str:
        found = bundle.party.find(name)
        if found is None:
            raise UsageError(f"no party member '{name.strip()}'", exit_code=2)
        return found.player

    first = who(speaker) if speaker else bundle.party.characters[0].player
    if path.exists():
        path.unlink()
    writer = TranscriptWriter(path)
    with tempfile.TemporaryDirectory(prefix="mardonar-record-") as folder:
        data = Path(folder) / "data"
        store = SqliteStore(data / "mardonar.db")
        memory = SqliteMemory(data / "mardonar.db")
        engine = Engine(
            bundle,
            llm=llm or OfflineNarrator(bundle, seed),
            store=store,
            memory=memory,
            data_dir=data,
            subscribers=[writer],
        )
        try:
            session = await engine.start(seed=seed, transcript=path)
            writer.header(**engine.header(session))
            engine.opening(session)
            await play_lines(engine, session, first, lines, who)
        finally:
            writer.close()
            await memory.close()
            await store.close()
    return path


# --------------------------------------------------------------------------- comparing


def _by_turn(records: Sequence[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    turns: dict[int, list[dict[str, Any]]] = {}
    for record in records:
        if record.get("type") in COMPARED:
            turns.setdefault(int(record.get("turn", 0)), []).append(record)
    return turns


def _short(value: Any, width: int = 60) -> str:
    """Strings quoted, other values as JSON, cut to `width`."""
    if isinstance(value, str):
        text = value.replace("\n", " ")
        return repr(text[: width - 3] + "...") if len(text) > width else repr(text)
    text = json.dumps(value, ensure_ascii=False)
    return text[: width - 3] + "..." if len(text) > width else text


def _parse(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _check_diff(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """`check intimidate-grukk: dc 13 → 15, total 14: success → failure`."""
    args = old.get("args") or {}
    label = args.get("check") or args.get("skill") or "(improvised)"
    if old.get("ok") and not new.get("ok"):
        was = "success" if (old.get("result") or {}).get("success") else "failure"
        return f"check {label}: {was} → refused: {new.get('error')}"
    if not old.get("ok") and new.get("ok"):
        return f"check {label}: refused ({old.get('error')}) → rolled"
    a, b = old.get("result"), new.get("result")
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return None
    parts: list[str] = []
    for key in ("dc", "total"):
        if key in a or key in b:
            if a.get(key) == b.get(key):
                parts.append(f"{key} {a.get(key)}")
            else:
                parts.append(f"{key} {a.get(key)} → {b.get(key)}")
    line = f"check {label}: " + ", ".join(parts)

    def verdict(result: dict[str, Any]) -> str:
        return "success" if result.get("success") else "failure"

    if a.get("success") != b.get("success"):
        line += f": {verdict(a)} → {verdict(b)}"
    others = sorted(k for k in set(a) | set(b) if k not in ("dc", "total", "success"))
    extra = [f"{k} {_short(a.get(k))} → {_short(b.get(k))}" for k in others if a.get(k) != b.get(k)]
    if extra:
        line += "; " + ", ".join(extra)
    return line


def _dict_diff(prefix: str, a: Any, b: Any) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        lines: list[str] = []
        for key in sorted(set(a) | set(b), key=str):
            if a.get(key) != b.get(key):
                lines += _dict_diff(
                    f"{prefix}.{key}" if prefix else str(key), a.get(key), b.get(key)
                )
        return lines
    return [f"{prefix}: {_short(a)} → {_short(b)}"]


def _record_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    kind = old.get("type")
    if kind != new.get("type"):
        return [f"{kind} {_describe(old)} → {new.get('type')} {_describe(new)}"]
    if kind == "tool":
        if old.get("name") == new.get("name") == "skill_check":
            line = _check_diff(old, new)
            if line:
                return [line]
        name = old.get("name")
        if old.get("name") != new.get("name") or old.get("args") != new.get("args"):
            return [f"tool {_describe(old)} → {_describe(new)}"]
        strip = {k: v for k, v in old.items() if k not in ("type", "turn", "name", "args")}
        fresh = {k: v for k, v in new.items() if k not in ("type", "turn", "name", "args")}
        return _dict_diff(f"tool {name}", strip, fresh)
    if kind == "narration":
        return [f"narration: {_short(old.get('text'))} → {_short(new.get('text'))}"]
    if kind == "resolve":
        strip = {k: v for k, v in old.items() if k not in ("type", "turn")}
        fresh = {k: v for k, v in new.items() if k not in ("type", "turn")}
        return _dict_diff("resolve", strip, fresh)
    return _dict_diff(str(kind), old, new)


def _describe(record: dict[str, Any]) -> str:
    kind = record.get("type")
    if kind == "tool":
        args = json.dumps(record.get("args"), ensure_ascii=False, sort_keys=True)
        state = "ok" if record.get("ok") else f"refused: {record.get('error')}"
        return f"{record.get('name')}({args}) {state}"
    if kind == "narration":
        return _short(record.get("text"))
    if kind == "correction":
        return _short(record.get("reason"))
    if kind == "resolve":
        return f"outcome {record.get('outcome')}"
    if kind == "end":
        return f"reason {record.get('reason')}"
    return _short(record)


def _turn_diff(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for a, b in zip(old, new, strict=False):
        if a != b:
            lines += _record_diff(a, b)
    for a in old[len(new) :]:
        lines.append(f"missing {a.get('type')}: {_describe(a)} (recorded, not produced)")
    for b in new[len(old) :]:
        lines.append(f"extra {b.get('type')}: {_describe(b)} (produced, not recorded)")
    return lines


def end_state(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    state: dict[str, Any] = {"outcome": None, "status": "active", "xp": {}, "items": {}}
    for record in records:
        if record.get("type") == "resolve":
            state["outcome"] = record.get("outcome")
            state["xp"] = dict(record.get("xp") or {})
            granted = record.get("items") or {}
            state["items"] = {str(p): sorted(map(str, v)) for p, v in granted.items() if v}
        elif record.get("type") == "end":
            state["status"] = record.get("reason")
    return state


def _end_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for key in ("outcome", "status"):
        if old[key] != new[key]:
            lines.append(f"{key}: {old[key] or '(none)'} → {new[key] or '(none)'}")
    for player in sorted(set(old["xp"]) | set(new["xp"])):
        a, b = old["xp"].get(player, 0), new["xp"].get(player, 0)
        if a != b:
            lines.append(f"xp {player}: {a} → {b}")
    for player in sorted(set(old["items"]) | set(new["items"])):
        a, b = old["items"].get(player, []), new["items"].get(player, [])
        if a != b:
            lines.append(f"items {player}: [{', '.join(a)}] → [{', '.join(b)}]")
    return lines


# --------------------------------------------------------------------------- replaying


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
    """What the table did, in order: ("turn", n, [(player, text)]), ("roll", n, record),
    ("end", n, reason)."""
    actions: list[tuple[str, int, Any]] = []
    for record in records:
        kind, turn = record.get("type"), int(record.get("turn", 0))
        if kind == "player":
            line = (str(record.get("player")), str(record.get("text")))
            if actions and actions[-1][0] == "turn" and actions[-1][1] == turn:
                actions[-1][2].append(line)
            else:
                actions.append(("turn", turn, [line]))
        elif kind == "roll":
            actions.append(("roll", turn, record))
        elif kind == "end" and record.get("reason") not in ("resolved", "max_turns"):
            actions.append(("end", turn, str(record.get("reason"))))
    return actions


def scratch_root() -> str | None:
    """Where the throwaway summary and tally files go: RAM (/dev/shm) when there is one,
    since each is written with an fsync and then thrown away; else the system temp folder."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


class ReplayRun:
    """What the transcripts of one `mardonar replay` run share: loaded bundles, database
    images and one throwaway folder.

    Loading a bundle lints it, so each spec is loaded once per run (a run is one command:
    its files are read once, as `mardonar lint` would), and the loads share one `LintMemo`
    (the lint cache file read once; the persona, party and lore parsed once). Each transcript
    still gets a fresh engine with its own store and memory — NPC memory would otherwise leak
    between sessions of one spec — as private SQLite databases in RAM, each a copy of an
    image: the migrated store (made once per process), and the migrated memory with the
    repository's lore indexed (once per run). Only the summary and tally files go to a
    folder, one per transcript. Forked workers (`replay_all(jobs=...)`) each use their own
    copy of the run, as the parent left it when it forked."""

    def __init__(self, folder: Path, *, cwd: Path | None = None) -> None:
        self.folder = folder
        self.cwd = cwd
        self._bundles: dict[Path, Bundle] = {}
        self._spec_paths: dict[tuple[str, Path], Path] = {}
        self._memo: LintMemo | None = None
        self._roots: dict[Path, Path | None] = {}
        self._memory_images: dict[tuple[LoreDoc, ...], bytes] = {}
        self._count = 0

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

    async def tables(self, bundle: Bundle | None = None) -> tuple[Path, SqliteStore, SqliteMemory]:
        """A fresh data folder with its store and memory (the caller closes both); with a
        `bundle`, its lore is already in the memory's index."""
        from mardonar.memory.sqlite import SqliteMemory
        from mardonar.store.sqlite import SqliteStore

        image = await self.memory_image(bundle)
        self._count += 1
        # Forked workers share the folder and each counts from where the parent was.
        data = self.folder / f"session-{os.getpid()}-{self._count}"
        data.mkdir()
        return (
            data,
            SqliteStore.in_memory(),
            SqliteMemory.in_memory(image),
        )

    async def memory_image(self, bundle: Bundle | None) -> bytes:
        """The migrated memory with `bundle`'s lore indexed (made once per lore)."""
        from mardonar.memory.sqlite import SqliteMemory

        # The specs of one repository share its lore, hence its memory image.
        key = bundle.lore if bundle is not None else ()
        if key not in self._memory_images:
            self._memory_images[key] = await SqliteMemory.lore_image(key)
        return self._memory_images[key]


@asynccontextmanager
async def replay_run(cwd: Path | None = None) -> AsyncIterator[ReplayRun]:
    with tempfile.TemporaryDirectory(prefix="mardonar-replay-", dir=scratch_root()) as folder:
        yield ReplayRun(Path(folder), cwd=cwd)


def load_header(path: Path, run: ReplayRun) -> tuple[list[dict[str, Any]], Bundle]:
    """The records of a transcript and the bundle of its spec; UsageError (exit 2) when the
    transcript cannot be read or its spec cannot be loaded."""
    records, spec, root = read_header(path, run)
    try:
        return records, run.bundle(spec, root)
    except UsageError as error:  # the header's line names the spec that cannot be loaded
        raise UsageError(f"{display_path(path)}:1: {error}", exit_code=2) from None


def unreadable(path: Path, error: UserError) -> ReplayResult:
    """The result of a transcript that could not be replayed at all."""
    return ReplayResult(path=display_path(path), spec="", seed=0, turns=0, unreadable=str(error))


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


async def play_actions(
    run: ReplayRun,
    bundle: Bundle,
    *,
    seed: int,
    actions: Sequence[tuple[str, int, Any]],
    llm: LLM,
    listen: Callable[[Event], None],
    notes: list[str],
    before_turn: Callable[[int], None] | None = None,
    context_budget: int | None = None,
    max_tool_rounds: int | None = None,
    max_tool_calls: int | None = None,
) -> None:
    """Play recorded actions (player turns, `/roll`s, `/end`) on a fresh engine in the
    run's folder, with `llm` as the model; every event goes to `listen`."""
    from mardonar.engine.loop import Engine

    data, store, memory = await run.tables(bundle)
    engine = Engine(
        bundle, llm=llm, store=store, memory=memory, data_dir=data, subscribers=[listen]
    )
    if context_budget is not None:  # otherwise the engine's defaults, as when recorded
        engine.context_budget = context_budget
    if max_tool_rounds is not None:
        engine.max_tool_rounds = max_tool_rounds
    if max_tool_calls is not None:
        engine.max_tool_calls = max_tool_calls
    try:
        session = await engine.start(seed=seed, transcript=data / "replayed.jsonl")
        engine.opening(session)
        for kind, turn, payload in actions:
            if session.status.value != "active":
                break
            if kind == "turn":
                if before_turn is not None:
                    before_turn(session.turn + 1)
                async for _ in engine.run_turn(session, payload):
                    pass
            elif kind == "roll":
                character = bundle.party.find(str(payload.get("who")))
                expression = _roll_expression(str(payload.get("detail", "")))
                if character is None or not expression:
                    notes.append(f"turn {turn}: a /roll could not be replayed")
                    continue
                try:
                    await engine.player_roll(session, character.player, expression)
                except Exception:  # reported as a note, not fatal
                    notes.append(f"turn {turn}: /roll {expression} could not be replayed")
            else:
                await engine.end(session, payload)
    finally:
        await memory.close()
        await store.close()
        # Freed at once rather than with the run: /dev/shm is small in some containers.
        shutil.rmtree(data, ignore_errors=True)


async def replay_one(run: ReplayRun, path: Path) -> ReplayResult:
    """Replay one transcript strictly within `run`; one that cannot be read, or whose spec
    cannot be loaded, is an `unreadable` result."""
    started = time.perf_counter()
    try:
        records, bundle = load_header(path, run)
    except UsageError as error:
        return unreadable(path, error)
    return await replay_loaded(run, path, records, bundle, started=started)


async def replay_loaded(
    run: ReplayRun,
    path: Path,
    records: list[dict[str, Any]],
    bundle: Bundle,
    *,
    started: float | None = None,
) -> ReplayResult:
    """Replay a transcript already read (`load_header`) within `run`."""
    from mardonar.llm.cassette import CassetteLLM

    started = time.perf_counter() if started is None else started
    header = records[0]
    result = ReplayResult(
        path=display_path(path), spec=bundle.spec.id, seed=int(header["seed"]), turns=0
    )
    result.notes += hash_notes(header, bundle)

    produced: list[dict[str, Any]] = []

    def listen(event: Event) -> None:
        record = event_record(event)
        if record is not None:
            produced.append(record)

    cassette = CassetteLLM(records[1:], name=str(header.get("model") or "cassette"))
    actions = actions_of(records[1:])
    result.turns = sum(1 for action in actions if action[0] == "turn")
    await play_actions(
        run,
        bundle,
        seed=result.seed,
        actions=actions,
        llm=cassette,
        listen=listen,
        notes=result.notes,
        before_turn=cassette.begin_turn,
    )

    for miss in cassette.misses:
        result.misses.append(miss.describe())
    for turn, count in cassette.unused().items():
        result.misses.append(f"turn {turn}: {count} recorded model answer(s) were never asked for")
    old, new = _by_turn(records[1:]), _by_turn(produced)
    for turn in sorted(set(old) | set(new)):
        if old.get(turn, []) != new.get(turn, []):
            result.turn = turn
            result.diff = _turn_diff(old.get(turn, []), new.get(turn, []))
            break
    if result.turn is None and result.misses:
        result.turn = int(result.misses[0].split(":")[0].split()[1])
    result.end_diff = _end_diff(end_state(records), end_state(produced))
    result.seconds = time.perf_counter() - started
    return result


async def replay_all(
    paths: Sequence[Path], *, cwd: Path | None = None, jobs: int | None = None
) -> list[ReplayResult]:
    """Replay transcripts strictly in one run (bundles loaded once per spec); the results in
    `paths`' order. `jobs`: worker processes (None: `auto_jobs`; 1: this process only)."""
    from mardonar.replay_parallel import replay_forked, worker_count

    async with replay_run(cwd) as run:
        workers = worker_count(jobs, len(paths))
        if workers > 1:
            return await replay_forked(run, paths, workers)
        return [await replay_one(run, path) for path in paths]


async def replay(path: Path, *, cwd: Path | None = None) -> ReplayResult:
    """Replay one transcript strictly; UsageError (exit 2) when it cannot be read."""
    result = (await replay_all([path], cwd=cwd))[0]
    if result.unreadable:
        raise UsageError(result.unreadable, exit_code=2)
    return result


def replay_sync(path: Path, *, cwd: Path | None = None) -> ReplayResult:
    import asyncio

    return asyncio.run(replay(path, cwd=cwd))


# --------------------------------------------------------------------------- rendering


def render_text(results: Sequence[ReplayResult]) -> str:
    """The report; transcript text in it passes through `visible`, so an escape sequence
    recorded in a transcript is shown, never obeyed. Unreadable transcripts are left to
    the error lines (`unreadable_lines`) but counted in the summary."""
    lines: list[str] = []
    for r in results:
        if r.unreadable:
            continue
        notes = f" ({'; '.join(r.notes)})" if r.notes else ""
        if r.identical:
            lines.append(f"{r.path}: identical, {plural(r.turns, 'turn')}{notes}")
            continue
        if r.error:
            lines.append(f"{r.path}: engine error: {r.error}{notes}")
            continue
        lines.append(f"{r.path}: diverged at turn {r.turn}{notes}")
        lines += [f"  {line}" for line in r.diff]
        lines += [f"  {line}" for line in r.misses]
        if r.end_diff:
            lines.append("  at the end:")
            lines += [f"    {line}" for line in r.end_diff]
    lines.append(summary(results))
    return "\n".join(visible(line) for line in lines)


def unreadable_lines(messages: Iterable[str | None]) -> list[str]:
    """`mardonar: FILE:LINE: what is wrong` for each transcript that could not be read (the
    results' `unreadable`, None for the others)."""
    return [f"mardonar: {visible(message)}" for message in messages if message]


def summary(results: Sequence[ReplayResult]) -> str:
    same = sum(1 for r in results if r.identical)
    bad = sum(1 for r in results if r.unreadable)
    line = f"{same} identical, {len(results) - same - bad} diverged"
    return line + (f", {bad} unreadable" if bad else "")


def render_json(results: Sequence[ReplayResult]) -> str:
    same = sum(1 for r in results if r.identical)
    bad = sum(1 for r in results if r.unreadable)
    return json_safe(
        {
            "identical": same,
            "diverged": len(results) - same - bad,
            "unreadable": bad,
            "transcripts": [r.to_dict() for r in results],
        }
    )


def json_safe(document: Any) -> str:
    """`document` as indented JSON that is safe to print (safetext.json_safe)."""
    return safetext.json_safe(json.dumps(document, indent=2, ensure_ascii=False))


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def render_github(results: Sequence[ReplayResult]) -> str:
    lines: list[str] = []
    for r in results:
        if r.identical:
            lines.append(f"{r.path}: identical, {plural(r.turns, 'turn')}")
            continue
        if r.unreadable:
            lines.append(
                f"::error file={r.path},title=unreadable transcript::{_escape(r.unreadable)}"
            )
            continue
        if r.error:
            lines.append(f"::error file={r.path},title=replay engine error::{_escape(r.error)}")
            continue
        body = "\n".join(r.diff + r.misses + [f"at the end: {x}" for x in r.end_diff] + r.notes)
        lines.append(
            f"::error file={r.path},title=replay diverged at turn {r.turn}::{_escape(body)}"
        )
    lines.append(summary(results))
    return "\n".join(visible(line) for line in lines)
