"""`mardonar explore`: seeded automatic playthroughs that find what no session reached.

Authors write outcomes and checks that a real table may never find. Explore plays many
sessions with the offline narrator and generated player lines — drawn from the spec's check
keywords, outcome keywords, NPC names and neutral filler, said by varying party members —
and reports which outcomes were never reached, which checks never triggered, how long
resolution took, which runs ran out of turns (dead ends) and any engine error.

Everything is reproducible: run `i` of seed `S` draws from `random.Random(f"{S}:{i}")`
(never the global RNG or `hash()`, which is salted per process), and the offline narrator
is itself deterministic. An engine error is reported with its run's seed, so
`--seed S --runs i+1` replays it.

Each run is a fresh session on a headless engine (`harness/headless.py`: its own store and
memory, private SQLite databases in RAM, its files in a throwaway folder), so explore never
touches the user's data and writes no transcript.
"""

from __future__ import annotations

import json
import random
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mardonar.engine.events import Ended, EngineError, Resolved, ToolResult
from mardonar.harness.headless import Scratch, scratch

if TYPE_CHECKING:
    from mardonar.content.bundle import Bundle
    from mardonar.engine.loop import Engine

FILLER = (
    "I look around.",
    "We wait and watch for a moment.",
    "I ask what this place is.",
    "Hello there.",
    "I keep my hands where everyone can see them.",
    "What do we see?",
    "I listen carefully.",
)
"""Neutral lines: they trigger nothing, so runs also exercise the plain narration path."""

_CHECK_TEMPLATES = ("I {kw}.", "{name}, I {kw}.", "{kw}!", "I try to {kw} {name}.")
_OUTCOME_TEMPLATES = ("We {kw}.", "Let's {kw}.", "{kw}, {name}.")
_NPC_TEMPLATES = ("{name}, tell me about yourself.", "I walk up to {name}.", "{name}?")


@dataclass
class RunResult:
    """One playthrough: what it reached and how it ended."""

    run: int
    seed: int
    turns: int = 0
    outcome: str | None = None
    ended: str = ""  # resolved | max_turns (dead end) | error
    checks: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class SpecReport:
    """What `runs` playthroughs of one spec found (no timings: reports are deterministic)."""

    spec: str
    path: str
    runs: int
    seed: int
    max_turns: int
    outcomes: dict[str, int]
    checks: dict[str, int]
    turns: list[int]
    dead_ends: list[dict[str, int]]
    errors: list[dict[str, Any]]

    @property
    def never_reached(self) -> list[str]:
        return [name for name, count in self.outcomes.items() if count == 0]

    @property
    def never_triggered(self) -> list[str]:
        return [name for name, count in self.checks.items() if count == 0]

    @property
    def ok(self) -> bool:
        """Unreachable outcomes and engine errors fail; dead ends are only reported."""
        return not self.never_reached and not self.errors

    def turn_stats(self) -> dict[str, float | int | None]:
        if not self.turns:
            return {"min": None, "median": None, "max": None}
        return {
            "min": min(self.turns),
            "median": statistics.median(self.turns),
            "max": max(self.turns),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "path": self.path,
            "runs": self.runs,
            "seed": self.seed,
            "max_turns": self.max_turns,
            "ok": self.ok,
            "outcomes": dict(self.outcomes),
            "never_reached": self.never_reached,
            "checks": dict(self.checks),
            "never_triggered": self.never_triggered,
            "turns_to_resolution": self.turn_stats(),
            "dead_ends": list(self.dead_ends),
            "errors": list(self.errors),
        }


def run_seed(seed: int, run: int) -> tuple[random.Random, int]:
    """The RNG of one run and the session seed it draws first (dice and narrator)."""
    rng = random.Random(f"{seed}:{run}")
    return rng, rng.randrange(2**31)


class LineMaker:
    """Generates player lines for one spec from a run's RNG."""

    def __init__(self, bundle: Bundle) -> None:
        spec = bundle.spec
        self.check_words = [kw for check in spec.checks for kw in check.keywords]
        self.outcome_words = [kw for outcome in spec.outcomes for kw in outcome.keywords]
        self.names = [npc.name for npc in spec.npcs]
        self.players = [character.player for character in bundle.party.characters]

    def line(self, rng: random.Random) -> tuple[str, str]:
        """(player, text): mostly check keywords, so checks (and their `leads_to`) get rolled
        many times; outcome keywords less often, since they end the run at once."""
        player = rng.choice(self.players)
        name = rng.choice(self.names)
        kinds = ["filler", "npc"]
        weights = [2, 1]
        if self.check_words:
            kinds.append("check")
            weights.append(5)
        if self.outcome_words:
            kinds.append("outcome")
            weights.append(2)
        kind = rng.choices(kinds, weights)[0]
        if kind == "check":
            text = rng.choice(_CHECK_TEMPLATES).format(kw=rng.choice(self.check_words), name=name)
        elif kind == "outcome":
            text = rng.choice(_OUTCOME_TEMPLATES).format(
                kw=rng.choice(self.outcome_words), name=name
            )
        elif kind == "npc":
            text = rng.choice(_NPC_TEMPLATES).format(name=name)
        else:
            text = rng.choice(FILLER)
        return player, text[0].upper() + text[1:]


async def play_one(
    bundle: Bundle, run: int, seed: int, max_turns: int, folder: Scratch
) -> RunResult:
    """One playthrough on a fresh headless engine of `folder`; exceptions become errors,
    not crashes."""
    from mardonar.llm.offline import OfflineNarrator

    rng, session_seed = run_seed(seed, run)
    result = RunResult(run=run, seed=session_seed)
    maker = LineMaker(bundle)
    llm = OfflineNarrator(bundle, seed=session_seed)
    async with folder.engine(bundle, llm=llm) as (engine, data):
        try:
            await _play(engine, data, maker, rng, result, max_turns)
        except Exception as error:  # an engine crash is a finding, not a reason to stop
            result.errors.append(f"turn {result.turns}: {type(error).__name__}: {error}")
            result.ended = "error"
    return result


async def _play(
    engine: Engine,
    data: Path,
    maker: LineMaker,
    rng: random.Random,
    result: RunResult,
    max_turns: int,
) -> None:
    """Player lines from `maker` until the session ends or `max_turns` are played; what
    happened goes into `result`."""
    session = await engine.start(seed=result.seed, transcript=data / "transcript.jsonl")
    while not result.ended:
        if result.turns >= max_turns:
            result.ended = "max_turns"
            break
        result.turns += 1
        async for event in engine.run_turn(session, [maker.line(rng)]):
            if isinstance(event, ToolResult) and event.name == "skill_check" and event.ok:
                result.checks.append(str(event.args.get("check", "")))
            elif isinstance(event, Resolved):
                result.outcome = event.outcome
            elif isinstance(event, EngineError):
                result.errors.append(f"turn {event.turn}: {event.message}")
            elif isinstance(event, Ended):
                result.ended = event.reason


async def explore_bundle(
    bundle: Bundle, *, runs: int, seed: int, max_turns: int | None = None
) -> SpecReport:
    """Play `runs` sessions of one spec and summarise them."""
    limit = bundle.spec.limits.max_turns
    if max_turns is not None:
        limit = min(limit, max_turns)
    results: list[RunResult] = []
    # Every run starts from the same migrated memory with the lore indexed (one image).
    with scratch("mardonar-explore-") as folder:
        for run in range(runs):
            results.append(await play_one(bundle, run, seed, limit, folder))
    outcomes = Counter(r.outcome for r in results if r.outcome)
    checks = Counter(name for r in results for name in set(r.checks))
    return SpecReport(
        spec=bundle.spec.id,
        path=str(bundle.spec_path),
        runs=runs,
        seed=seed,
        max_turns=limit,
        outcomes={o.id: outcomes.get(o.id, 0) for o in bundle.spec.outcomes},
        checks={c.id: checks.get(c.id, 0) for c in bundle.spec.checks},
        turns=sorted(r.turns for r in results if r.outcome),
        dead_ends=[
            {"run": r.run, "seed": r.seed, "turns": r.turns}
            for r in results
            if r.ended == "max_turns" and not r.outcome
        ],
        errors=[
            {"run": r.run, "seed": r.seed, "message": message}
            for r in results
            for message in r.errors
        ],
    )


def spec_targets(args: Sequence[str], cwd: Path) -> list[str]:
    """Spec ids or paths; a directory stands for its specs (*.yaml, not *.test.yaml).
    No argument stands for the specs/ of the repository around `cwd`, as `mardonar lint`
    and `mardonar test` default to the repository."""
    if not args:
        from mardonar.content.repo import SPECS_DIR, find_root
        from mardonar.errors import UsageError

        root = find_root(cwd)
        if root is None:
            raise UsageError(
                f"no persona.yaml in {cwd} or any folder above it: run `mardonar explore` "
                "inside a Mardonar repository or name the specs to explore",
                exit_code=2,
            )
        args = [str(root / SPECS_DIR)]
    targets: list[str] = []
    for arg in args:
        path = Path(arg)
        if path.is_dir():
            targets += [
                str(p)
                for p in sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
                if ".test." not in p.name
            ]
        else:
            targets.append(arg)
    return targets


# --------------------------------------------------------------------------- rendering


def render_text(reports: Sequence[SpecReport]) -> str:
    lines: list[str] = []
    for report in reports:
        stats = report.turn_stats()
        lines.append(
            f"{report.spec}: {report.runs} runs (seed {report.seed}, max {report.max_turns} "
            f"turns) — {'ok' if report.ok else 'FAILED'}"
        )
        reached = ", ".join(f"{k} ×{v}" for k, v in report.outcomes.items() if v) or "none"
        lines.append(f"  outcomes reached: {reached}")
        lines.append(f"  never reached: {', '.join(report.never_reached) or '-'}")
        lines.append(f"  checks never triggered: {', '.join(report.never_triggered) or '-'}")
        if report.turns:
            lines.append(
                f"  turns to resolution: min {stats['min']}, median {stats['median']:g}, "
                f"max {stats['max']}"
            )
        else:
            lines.append("  turns to resolution: no run resolved")
        # Run numbers, not session seeds: `--seed S --runs i+1` replays run i exactly.
        which = ", ".join(str(d["run"]) for d in report.dead_ends[:8])
        more = "…" if len(report.dead_ends) > 8 else ""
        lines.append(
            f"  dead ends: {len(report.dead_ends)}" + (f" (runs {which}{more})" if which else "")
        )
        lines.append(f"  engine errors: {len(report.errors)}")
        for error in report.errors[:10]:
            lines.append(f"    run {error['run']} (seed {error['seed']}): {error['message']}")
    failed = [r.spec for r in reports if not r.ok]
    lines.append(
        f"{len(reports)} spec(s), {len(failed)} failed"
        + (f": {', '.join(failed)}" if failed else "")
    )
    return "\n".join(lines)


def render_json(reports: Sequence[SpecReport]) -> str:
    payload = {
        "ok": all(r.ok for r in reports),
        "specs": [r.to_dict() for r in reports],
    }
    return json.dumps(payload, indent=2, ensure_ascii=False)
