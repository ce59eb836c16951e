"""Every shipped spec can be played to each of its outcomes by some input script with the
offline narrator (a test per spec per outcome).

The (spec, outcome) pairs are read from specs/*.yaml, so a new spec or outcome shows up here
by itself, and fails until someone writes a script that reaches it. Dice decide checks, so a
script is played with seeds 1, 2, 3 … until the outcome is reached: finding such a seed is
the behaviour under test (the outcome is reachable by that script), and the seed found is
deterministic for today's engine. Nothing is mocked: the real engine, SQLite store and
memory run in a temp folder, with the real offline narrator.

The authors' test plans (specs/<id>.test.yaml) are also played here, with the runner of
`mardonar test` (mardonar.harness.testplans): each case's expectations must hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from mardonar.content.bundle import Bundle, load_bundle
from mardonar.engine.events import Ended, Event, Resolved
from mardonar.engine.session import Status
from mardonar.files import read_tally
from mardonar.harness.testplans import load_plan, play_case, unmet
from mardonar.llm.offline import OfflineNarrator
from tests.engine_helpers import REPO, Table, open_table, run

SPECS_DIR = REPO / "specs"
MAX_SEED = 200

Script = list[tuple[str, str]]
"""(player id, line) pairs, one turn each, as players would type them."""

SCRIPTS: dict[tuple[str, str], Script] = {
    # ------------------------------------------------------------------ goblin-toll-bridge
    ("goblin-toll-bridge", "debt-settled"): [
        ("cyra", "Grukk, what is wrong? You look nervous."),
        ("cyra", "Then I will climb down, talk to the troll and settle the debt myself."),
    ],
    ("goblin-toll-bridge", "crossed-free"): [
        ("bram", "I threaten Grukk with my axe. Out of the way, little one!"),
        ("aria", "I pretend to be the baron's toll inspector, here to audit his sign."),
    ],
    ("goblin-toll-bridge", "paid-toll"): [
        ("cyra", "Five silver is robbery. Let us haggle, Grukk."),
        ("cyra", "Fine. We pay the toll."),
    ],
    ("goblin-toll-bridge", "turned-back"): [
        ("aria", "Grukk, who built this bridge?"),
        ("bram", "This is not worth the trouble. We turn back and find another way."),
    ],
    # ------------------------------------------------------------------ haunted-lighthouse
    ("haunted-lighthouse", "truth-revealed"): [
        ("aria", "I search the lamp room and examine the shutter."),
        ("aria", "Tonight I hide behind the lens and keep watch for whoever comes at midnight."),
    ],
    ("haunted-lighthouse", "wenna-flees"): [
        ("cyra", "I watch her closely while Osric talks. Is she lying?"),
        ("cyra", "Wenna, I accuse you of dimming the lamp."),
    ],
    ("haunted-lighthouse", "blamed-the-ghost"): [
        ("bram", "Osric, tell us about the lamp and the storms."),
        ("bram", "It was the ghost, plain and simple. We row back to Port Varrow."),
    ],
    # ------------------------------------------------------------------ smugglers-chase
    ("smugglers-chase", "ledger-recovered"): [
        ("bram", "I sprint after him through the stalls!"),
        ("aria", "I snatch the satchel from his hip."),
    ],
    ("smugglers-chase", "ledger-lost"): [
        ("bram", "I sprint after him through the stalls!"),
        ("aria", "I snatch the satchel from his hip."),
    ],
    ("smugglers-chase", "eel-escapes"): [
        ("cyra", "Where did he go? I scan the crowd."),
        ("cyra", "Let him go. We call it off."),
    ],
}


def _spec_files() -> list[Path]:
    return sorted(p for p in SPECS_DIR.glob("*.yaml") if not p.name.endswith(".test.yaml"))


def _shipped_outcomes() -> list[tuple[str, str]]:
    """(spec id, outcome id) for every outcome of every shipped spec, in file order."""
    pairs: list[tuple[str, str]] = []
    for path in _spec_files():
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        pairs += [(data["id"], outcome["id"]) for outcome in data["outcomes"]]
    return pairs


OUTCOMES = _shipped_outcomes()
_BUNDLES: dict[str, Bundle] = {}


def content(spec_id: str) -> Bundle:
    if spec_id not in _BUNDLES:
        _BUNDLES[spec_id] = load_bundle(spec_id, cwd=REPO)
    return _BUNDLES[spec_id]


# --------------------------------------------------------------------------- playing


@dataclass
class Played:
    table: Table
    folder: Path
    seed: int

    @property
    def data(self) -> Path:
        return self.folder / "data"


async def play(bundle: Bundle, lines: Script, seed: int, folder: Path) -> Played:
    """Play `lines` (stopping when the encounter is over); the caller closes the table."""
    table = await open_table(
        folder, OfflineNarrator(bundle, seed), spec=bundle.spec.id, seed=seed, content=bundle
    )
    for player, text in lines:
        if table.session.status is not Status.active:
            break
        await table.say(player, text)
    return Played(table, folder, seed)


async def find_seed(
    bundle: Bundle, lines: Script, outcome: str, folder: Path
) -> tuple[Played | None, list[str]]:
    """The first seed in 1..MAX_SEED whose playthrough of `lines` reaches `outcome` (its
    table left open), and what the seeds before it reached instead."""
    misses: list[str] = []
    for seed in range(1, MAX_SEED + 1):
        played = await play(bundle, lines, seed, folder / f"seed-{seed}")
        if played.table.session.outcome == outcome:
            return played, misses
        misses.append(f"{seed}:{played.table.session.outcome or played.table.session.status}")
        await played.table.close()
    return None, misses


def _one(events: list[Event], kind: type[Event]) -> Event:
    found = [e for e in events if isinstance(e, kind)]
    assert len(found) == 1, f"expected one {kind.__name__}, got {found}"
    return found[0]


# --------------------------------------------------------------------------- the tests


def test_every_shipped_outcome_has_a_script() -> None:
    """A new outcome of a scripted spec must come with a script that reaches it. A spec with
    no script at all (an author's new one, from `mardonar new spec`) is checked by its test
    plan instead: it is named as skipped, with the way to add scripts."""
    assert OUTCOMES, "no specs found in specs/"
    scripted = {spec for spec, _ in SCRIPTS}
    missing = [
        f"{spec}:{outcome}"
        for spec, outcome in OUTCOMES
        if spec in scripted and (spec, outcome) not in SCRIPTS
    ]
    assert not missing, "outcomes without a script in tests/test_outcomes.py: " + ", ".join(missing)
    stale = [f"{spec}:{outcome}" for spec, outcome in SCRIPTS if (spec, outcome) not in OUTCOMES]
    assert not stale, "scripts for outcomes no spec has any more: " + ", ".join(stale)
    unscripted = sorted({spec for spec, _ in OUTCOMES} - scripted)
    if unscripted:
        pytest.skip(
            f"no outcome scripts for {', '.join(unscripted)} (its test plan checks it): to "
            "add some, put lines reaching each outcome in SCRIPTS in tests/test_outcomes.py"
        )


@pytest.mark.parametrize(("spec_id", "outcome_id"), OUTCOMES, ids=[f"{s}:{o}" for s, o in OUTCOMES])
def test_outcome_is_reachable(spec_id: str, outcome_id: str, tmp_path: Path) -> None:
    script = SCRIPTS.get((spec_id, outcome_id))
    if script is None and all(spec != spec_id for spec, _ in SCRIPTS):
        pytest.skip(f"{spec_id} has no outcome scripts: its test plan checks it")
    if script is None:
        pytest.fail(f"no script reaches {spec_id}:{outcome_id}; add one to SCRIPTS")
    bundle = content(spec_id)
    outcome = bundle.spec.outcome(outcome_id)
    assert outcome is not None

    async def scenario() -> None:
        played, misses = await find_seed(bundle, script, outcome_id, tmp_path)
        assert played is not None, (
            f"{spec_id}:{outcome_id} not reached by its script with any seed 1..{MAX_SEED} "
            f"(seed:what happened = {', '.join(misses[:20])} …)"
        )
        table = played.table
        try:
            session = table.session
            assert session.status is Status.resolved
            assert session.outcome == outcome_id

            resolved = _one(table.events, Resolved)
            assert isinstance(resolved, Resolved)
            assert resolved.outcome == outcome_id
            assert resolved.result == outcome.result.value
            party = [c.player for c in bundle.party.characters]
            took_part = [p for p in party if p in session.participants]
            assert took_part, "the script has nobody taking part"
            # XP: the outcome's xp (+ any bonus) for each participant, nobody else.
            assert resolved.xp == {p: outcome.xp + session.xp_bonus.get(p, 0) for p in took_part}, (
                resolved.xp
            )
            assert session.xp_awarded == resolved.xp
            # Party members who never spoke are listed with a reason, not silently dropped.
            for player in party:
                if player not in took_part:
                    assert resolved.skipped.get(player), (player, resolved.skipped)
            assert not set(resolved.skipped) & set(took_part)
            # Every item of the outcome is granted, once, to someone who took part.
            for item in outcome.items:
                holder = session.items_granted.get(item)
                assert holder in took_part, (item, session.items_granted)
                assert item in resolved.items.get(holder, []), resolved.items
            granted = sorted(i for items in resolved.items.values() for i in items)
            assert granted == sorted(session.items_granted)

            ended = _one(table.events, Ended)
            assert isinstance(ended, Ended) and ended.reason == "resolved"
            summary = played.data / "summaries" / f"{session.id}.txt"
            assert summary.is_file()
            assert Path(resolved.summary_path) == summary == Path(str(ended.summary_path))
            text = summary.read_text(encoding="utf-8")
            assert f"Outcome: {outcome_id} ({outcome.result.value})" in text
            assert read_tally(played.data) == {spec_id: 1}
            # Nothing more can happen once it is over.
            after = await table.say(took_part[0], "And then?")
            assert not any(isinstance(e, Resolved) for e in after)
            assert read_tally(played.data) == {spec_id: 1}
        finally:
            await table.close()

    run(scenario())


def test_dice_decide_between_outcomes_of_one_script(tmp_path: Path) -> None:
    """The same words reach a success or a failure outcome depending only on the dice."""
    bundle = content("smugglers-chase")
    script = SCRIPTS[("smugglers-chase", "ledger-recovered")]
    assert script == SCRIPTS[("smugglers-chase", "ledger-lost")]

    async def scenario() -> set[str | None]:
        reached: set[str | None] = set()
        for seed in range(1, 9):
            played = await play(bundle, script, seed, tmp_path / str(seed))
            reached.add(played.table.session.outcome)
            await played.table.close()
        return reached

    assert run(scenario()) == {"ledger-recovered", "ledger-lost"}


# --------------------------------------------------------------------------- test plans


def _test_plans() -> list[Path]:
    return sorted(SPECS_DIR.glob("*.test.yaml"))


def _plan_cases() -> list[tuple[Path, int]]:
    cases = []
    for path in _test_plans():
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        cases += [(path, index) for index in range(len(data.get("cases") or []))]
    return cases


PLAN_CASES = _plan_cases()


def test_every_shipped_spec_has_a_test_plan() -> None:
    planned = {p.name.removesuffix(".test.yaml") for p in _test_plans()}
    specs = {yaml.safe_load(p.read_text(encoding="utf-8"))["id"] for p in _spec_files()}
    missing = sorted(specs - planned)
    assert not missing, (
        f"specs without a test plan: {missing}; write specs/<id>.test.yaml for each "
        "(docs/test-plans.md; `mardonar new spec ID` writes one with every new spec), "
        "then check it with `mardonar test specs/<id>.test.yaml`"
    )


@pytest.mark.parametrize(
    ("path", "index"), PLAN_CASES, ids=[f"{p.name}#{i}" for p, i in PLAN_CASES]
)
def test_plan_case_holds(path: Path, index: int) -> None:
    """Each case, played by the product's runner (mardonar.harness.testplans, `mardonar test`)."""
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=../schemas/testplan.schema.json\n")
    loaded = load_plan(path)
    case = loaded.plan.cases[index]
    got = run(play_case(content(loaded.plan.spec), case))
    assert not unmet(case, got), (case.name, unmet(case, got))
