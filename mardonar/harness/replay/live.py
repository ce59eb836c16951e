"""Live replay (`mardonar replay --live`, issue #6 item 2): the recorded player lines against
the configured model, compared by outcome-level facts rather than text.

Each transcript's player lines, `/as` speakers, `/roll`s and `/end` are played with the
recorded seed on a fresh engine (a throwaway SQLite database, as in strict replay) whose
model is chosen exactly as `mardonar play` chooses it (`select_llm`: LITELLM_*, then
OLLAMA_*, else the offline narrator; `--model` overrides). A live model words things its own
way, so text is never compared; these facts are:

* the checks called: check id (or improvised skill), player, success or failure;
* the outcome reached (and whether the session resolved, ended or is still going);
* XP per player and the items granted per player.

Both narrations are kept per turn for reading side by side. A live session that resolves
early stops there; the recorded lines after it are not played (said in the notes).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mardonar.errors import UsageError
from mardonar.harness.replay.diff import end_state
from mardonar.harness.replay.play import play_actions
from mardonar.harness.replay.reading import (
    ReplayRun,
    actions_of,
    hash_notes,
    load_header,
    replay_run,
)
from mardonar.harness.replay.render import counts, counts_json, counts_line
from mardonar.harness.replay.results import display_path
from mardonar.safetext import visible
from mardonar.transcript import event_record
from mardonar.wording import plural

if TYPE_CHECKING:
    from mardonar.config import Settings
    from mardonar.engine.events import Event

__all__ = ["Facts", "LiveResult", "facts_of", "live_replay_all", "render_live_json"]


@dataclass
class Facts:
    """What a session did, as far as the table is concerned."""

    checks: dict[str, list[str]] = field(default_factory=dict)
    """`check-id (player)` → verdicts in the order rolled (success | failure)."""
    outcome: str | None = None
    status: str = "active"
    xp: dict[str, int] = field(default_factory=dict)
    items: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def facts_of(records: Sequence[dict[str, Any]]) -> Facts:
    """The facts of transcript records (recorded, or produced by a live run)."""
    checks: dict[str, list[str]] = defaultdict(list)
    for record in records:
        if record.get("type") != "tool" or record.get("name") != "skill_check":
            continue
        if not record.get("ok"):
            continue  # a refused call changed nothing
        result = record.get("result") or {}
        args = record.get("args") or {}
        label = result.get("check") or args.get("check") or f"improvised {result.get('skill')}"
        player = result.get("player") or args.get("player")
        checks[f"{label} ({player})"].append("success" if result.get("success") else "failure")
    state = end_state(records)
    return Facts(
        checks=dict(checks),
        outcome=state["outcome"],
        status=state["status"],
        xp=dict(state["xp"]),
        items=dict(state["items"]),
    )


def fact_differences(recorded: Facts, live: Facts) -> list[str]:
    """One line per fact that differs, recorded → live."""
    lines: list[str] = []
    for key in sorted(set(recorded.checks) | set(live.checks)):
        a, b = recorded.checks.get(key, []), live.checks.get(key, [])
        if a != b:
            was = ", ".join(a) or "not called"
            now = ", ".join(b) or "not called"
            lines.append(f"check {key}: {was} → {now}")
    if recorded.outcome != live.outcome:
        lines.append(f"outcome: {recorded.outcome or '(none)'} → {live.outcome or '(none)'}")
    if recorded.status != live.status:
        lines.append(f"status: {recorded.status} → {live.status}")
    for player in sorted(set(recorded.xp) | set(live.xp)):
        a_xp, b_xp = recorded.xp.get(player, 0), live.xp.get(player, 0)
        if a_xp != b_xp:
            lines.append(f"xp {player}: {a_xp} → {b_xp}")
    for player in sorted(set(recorded.items) | set(live.items)):
        a_items, b_items = recorded.items.get(player, []), live.items.get(player, [])
        if a_items != b_items:
            lines.append(f"items {player}: [{', '.join(a_items)}] → [{', '.join(b_items)}]")
    return lines


def narrations(records: Sequence[dict[str, Any]]) -> dict[int, str]:
    """Turn → the narration shown that turn (the opening, turn 0, left out)."""
    shown: dict[int, list[str]] = defaultdict(list)
    for record in records:
        if record.get("type") == "narration" and int(record.get("turn", 0)) > 0:
            shown[int(record["turn"])].append(str(record.get("text") or ""))
    return {turn: "\n".join(texts) for turn, texts in shown.items()}


@dataclass
class LiveResult:
    path: str
    spec: str
    seed: int
    turns: int
    model: str
    """The live backend, as `mardonar play` describes it (no key, no password)."""
    recorded: Facts
    live: Facts
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    side_by_side: list[tuple[int, str, str]] = field(default_factory=list)
    """(turn, recorded narration, live narration)."""
    errors: list[str] = field(default_factory=list)
    """What went wrong with the live model (fallbacks), one line each."""
    unreadable: str | None = None
    """Why the transcript could not be replayed at all (`FILE:LINE: what is wrong`)."""
    seconds: float = 0.0

    @property
    def agree(self) -> bool:
        return not self.differences and not self.unreadable

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "spec": self.spec,
            "seed": self.seed,
            "turns": self.turns,
            "model": self.model,
            "result": "unreadable" if self.unreadable else "agree" if self.agree else "differ",
            "differences": self.differences,
            "recorded": self.recorded.to_dict(),
            "live": self.live.to_dict(),
            "narration": [
                {"turn": turn, "recorded": old, "live": new} for turn, old, new in self.side_by_side
            ],
            "notes": self.notes,
            "errors": self.errors,
            "unreadable": self.unreadable,
            "seconds": round(self.seconds, 4),
        }


async def live_one(
    run: ReplayRun, path: Path, settings: Settings, *, model: str | None
) -> LiveResult:
    """Re-run one transcript's player lines against the configured model."""
    from mardonar.engine.events import EngineError, ModelReplied
    from mardonar.engine.limits import TurnLimits
    from mardonar.llm.select import select_llm

    started = time.perf_counter()
    try:
        records, bundle = load_header(path, run)
    except UsageError as error:  # this transcript only: the others are still replayed
        return LiveResult(
            path=display_path(path),
            spec="",
            seed=0,
            turns=0,
            model="",
            recorded=Facts(),
            live=Facts(),
            unreadable=str(error),
        )
    header = records[0]
    seed = int(header["seed"])
    llm, described = select_llm(bundle, settings, model=model, seed=seed)
    produced: list[dict[str, Any]] = []
    errors: list[str] = []
    answers = 0

    def listen(event: Event) -> None:
        nonlocal answers
        answers += isinstance(event, ModelReplied)
        if isinstance(event, EngineError):
            errors.append(f"turn {event.turn}: {event.message}")
        record = event_record(event)
        if record is not None:
            produced.append(record)

    actions = actions_of(records[1:])
    notes = hash_notes(header, bundle)
    try:
        await play_actions(
            run,
            bundle,
            seed=seed,
            actions=actions,
            llm=llm,
            listen=listen,
            notes=notes,
            limits=TurnLimits.from_settings(settings),
        )
    finally:
        await llm.aclose()

    if errors and not answers:
        # Not a difference in behaviour: the model was never reached (wrong URL, server
        # down, bad key). The engine's message names the backend without its secrets.
        raise UsageError(
            f"{display_path(path)}: the live model never answered ({errors[0]}); check the "
            "LLM settings with `mardonar doctor`",
            exit_code=2,
        )
    recorded_turns = sum(1 for action in actions if action[0] == "turn")
    played = max((int(r.get("turn", 0)) for r in produced if r.get("type") == "player"), default=0)
    if played < recorded_turns:
        notes.append(
            f"the live session ended at turn {played}; {recorded_turns - played} recorded "
            "turn(s) were not played"
        )
    old_text, new_text = narrations(records[1:]), narrations(produced)
    recorded, live = facts_of(records[1:]), facts_of(produced)
    return LiveResult(
        path=display_path(path),
        spec=bundle.spec.id,
        seed=seed,
        turns=recorded_turns,
        model=described,
        recorded=recorded,
        live=live,
        differences=fact_differences(recorded, live),
        notes=notes,
        side_by_side=[
            (turn, old_text.get(turn, ""), new_text.get(turn, ""))
            for turn in sorted(set(old_text) | set(new_text))
        ],
        errors=errors,
        seconds=time.perf_counter() - started,
    )


async def live_replay_all(
    paths: Sequence[Path], settings: Settings, *, model: str | None = None
) -> list[LiveResult]:
    async with replay_run() as run:
        return [await live_one(run, path, settings, model=model) for path in paths]


# --------------------------------------------------------------------------- rendering


def _live_counts(results: Sequence[LiveResult]) -> dict[str, int]:
    return counts(results, ("agree", "differ"), lambda r: r.agree)


def live_summary(results: Sequence[LiveResult]) -> str:
    return counts_line(_live_counts(results))


def print_live_text(results: Sequence[LiveResult], width: int | None = None) -> None:
    """Per transcript: a header line, the narrations side by side (a rich table), then the
    fact differences; the summary line last."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(width=width, highlight=False, soft_wrap=False)
    for r in results:
        if r.unreadable:
            continue  # its error line follows the report
        notes = f" ({'; '.join(r.notes)})" if r.notes else ""
        verdict = "facts agree" if r.agree else "facts differ"
        console.print(
            visible(f"{r.path}: {verdict}, {plural(r.turns, 'turn')}, live: {r.model}{notes}"),
            markup=False,
            soft_wrap=True,
        )
        table = Table(show_lines=True, expand=True)
        table.add_column("turn", justify="right", no_wrap=True)
        table.add_column("recorded", ratio=1)
        table.add_column("live", ratio=1)
        for turn, old, new in r.side_by_side:
            # Text, not markup: a narration's "[aria]" is words, not a style.
            table.add_row(str(turn), Text(visible(old) or "—"), Text(visible(new) or "—"))
        console.print(table)
        for line in r.errors:
            console.print(visible(f"  live model: {line}"), markup=False, soft_wrap=True)
        for line in r.differences:
            console.print(visible(f"  {line}"), markup=False, soft_wrap=True)
    console.print(live_summary(results), markup=False)


def render_live_json(results: Sequence[LiveResult]) -> str:
    return counts_json(results, _live_counts(results))
