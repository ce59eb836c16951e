"""The spec's links between checks, outcomes and items, enforced against the model.

An outcome reached only through checks resolves only after one of them produced it; an
outcome's `requires` checks must have succeeded; an item an outcome lists comes with that
outcome and never by hand; and the summary lists exactly what the award ledger holds.
A scripted model makes the calls through the real turn loop over the real SQLite store.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from mardonar.content.bundle import Bundle
from mardonar.content.models import Item, Outcome, OutcomeResult
from mardonar.engine.dice import Dice
from mardonar.engine.events import Ended, Resolved, ToolResult
from mardonar.llm.scripted import ScriptedLLM, ScriptedReply
from tests.engine_helpers import bundle, open_table, run

Call = tuple[str, dict[str, Any]]


def seed_for(player: str, skill: str, dc: int, *, success: bool) -> int:
    """A seed whose first roll makes `player`'s `skill` check against `dc` succeed (or fail)."""
    modifier = bundle().party.find(player).modifier(skill)  # type: ignore[union-attr]
    for seed in range(1, 500):
        if (Dice(seed).roll(f"d20{modifier:+d}").total >= dc) is success:
            return seed
    raise AssertionError("no such seed")


def play(
    tmp_path: Path,
    turns: list[tuple[str, list[Call]]],
    *,
    seed: int = 1,
    content: Bundle | None = None,
    end: bool = False,
) -> dict[str, Any]:
    """Play one turn per (speaker, calls): the model makes the calls, then narrates. With
    `end`, the players `/end` the encounter afterwards. Returns what a user could inspect."""
    replies: list[ScriptedReply | str] = []
    for _, calls in turns:
        replies += [ScriptedReply(tool_calls=[call]) for call in calls]
        replies.append("The mist swirls.")
    llm = ScriptedLLM(replies)

    async def go() -> dict[str, Any]:
        table = await open_table(tmp_path, llm, seed=seed, content=content)
        try:
            for speaker, _ in turns:
                if table.session.status.value == "active":
                    await table.say(speaker, "We act.")
            if end:
                await table.engine.end(table.session)
            ended = [e for e in table.events if isinstance(e, Ended)]
            summary = Path(ended[0].summary_path or "").read_text() if ended else ""
            return {
                "results": [e for e in table.events if isinstance(e, ToolResult)],
                "resolved": [e for e in table.events if isinstance(e, Resolved)],
                "session": table.session,
                "ledger": await table.engine.store.awards(table.session.id),
                "summary": summary,
                "requests": llm.requests,
            }
        finally:
            await table.close()

    return run(go())


def resolve(outcome: str) -> Call:
    return ("resolve", {"outcome": outcome, "summary": "And so it ends."})


def check(player: str, check_id: str) -> Call:
    return ("skill_check", {"player": player, "check": check_id})


def grant(player: str, item: str) -> Call:
    return ("grant_item", {"player": player, "item": item})


def with_outcomes(**changes: dict[str, Any]) -> Bundle:
    """The goblin bridge with some outcomes changed (outcome id → fields)."""
    loaded = bundle()
    outcomes = [
        outcome.model_copy(update=changes.get(outcome.id.replace("-", "_"), {}))
        for outcome in loaded.spec.outcomes
    ]
    return dataclasses.replace(loaded, spec=loaded.spec.model_copy(update={"outcomes": outcomes}))


# ---------------------------------------------------------------- routes through checks


def test_an_outcome_only_checks_lead_to_cannot_be_resolved_before_they_are_rolled(
    tmp_path: Path,
) -> None:
    played = play(tmp_path, [("cyra", [resolve("debt-settled")])])
    (result,) = played["results"]
    assert not result.ok
    assert result.error is not None
    assert "'debt-settled' cannot be resolved yet" in result.error
    assert "bargain-with-knuckle succeeding (not rolled yet)" in result.error
    # The model is told why, and nothing was paid or granted.
    assert "bargain-with-knuckle" in played["requests"][1].messages[-1].content
    session = played["session"]
    assert session.status.value == "active" and session.outcome is None
    assert session.items_granted == {} and played["ledger"] == {} and not played["resolved"]


def test_the_check_that_leads_to_it_opens_the_outcome(tmp_path: Path) -> None:
    seed = seed_for("cyra", "persuasion", 15, success=True)
    played = play(
        tmp_path,
        [("cyra", [check("cyra", "bargain-with-knuckle"), resolve("debt-settled")])],
        seed=seed,
    )
    rolled, resolved = played["results"]
    assert rolled.ok and rolled.result["success"] is True
    assert resolved.ok, resolved.error
    assert played["ledger"]["cyra"]["xp"] == 100
    assert sorted(played["ledger"]["cyra"]["items"]) == ["bridge-token", "knuckle-bone-dice"]


def test_a_failed_roll_opens_only_the_outcome_its_failure_leads_to(tmp_path: Path) -> None:
    seed = seed_for("cyra", "persuasion", 15, success=False)
    played = play(
        tmp_path,
        [("cyra", [check("cyra", "bargain-with-knuckle"), resolve("debt-settled")])],
        seed=seed,
    )
    rolled, refused = played["results"]
    assert rolled.ok and rolled.result["success"] is False
    assert not refused.ok and refused.error is not None
    assert "bargain-with-knuckle succeeding (rolled: failure)" in refused.error
    assert played["ledger"] == {}


def test_an_improvised_check_never_opens_an_outcome(tmp_path: Path) -> None:
    improvised = ("skill_check", {"player": "bram", "skill": "intimidation", "difficulty": "easy"})
    played = play(tmp_path, [("bram", [improvised, resolve("crossed-free")])])
    refused = played["results"][-1]
    assert not refused.ok and refused.error is not None
    assert "intimidate-grukk succeeding (not rolled yet) or deceive-grukk" in refused.error


def test_outcomes_with_keywords_or_only_a_when_stay_the_gms_judgement(tmp_path: Path) -> None:
    # turned-back has keywords (and a check's failure leads to it too).
    played = play(tmp_path / "keywords", [("aria", [resolve("turned-back")])])
    assert played["results"][0].ok
    # An outcome with only a `when` (no keywords, no check leads to it).
    loaded = bundle()
    extra = Outcome(id="befriended", result=OutcomeResult.success, when="Grukk joins the party.")
    lonely = dataclasses.replace(
        loaded,
        spec=loaded.spec.model_copy(update={"outcomes": [*loaded.spec.outcomes, extra]}),
    )
    played = play(tmp_path / "when", [("aria", [resolve("befriended")])], content=lonely)
    assert played["results"][0].ok, played["results"][0].error


# ---------------------------------------------------------------- requires


def test_requires_holds_an_outcome_until_its_checks_have_succeeded(tmp_path: Path) -> None:
    gated = with_outcomes(paid_toll={"requires": ["read-grukk"]})
    played = play(tmp_path / "early", [("aria", [resolve("paid-toll")])], content=gated)
    (refused,) = played["results"]
    assert not refused.ok and refused.error is not None
    assert "requires the check read-grukk (not rolled yet) to have succeeded" in refused.error
    assert played["ledger"] == {}

    # Any player's success counts: cyra reads Grukk, aria's resolve then goes through.
    seed = seed_for("cyra", "insight", 12, success=True)
    played = play(
        tmp_path / "after",
        [("cyra", [check("cyra", "read-grukk")]), ("aria", [resolve("paid-toll")])],
        seed=seed,
        content=gated,
    )
    rolled, resolved = played["results"]
    assert rolled.result["success"] is True
    assert resolved.ok, resolved.error


def test_a_failed_required_check_keeps_the_outcome_closed(tmp_path: Path) -> None:
    gated = with_outcomes(paid_toll={"requires": ["read-grukk"]})
    seed = seed_for("cyra", "insight", 12, success=False)
    played = play(
        tmp_path,
        [("cyra", [check("cyra", "read-grukk"), resolve("paid-toll")])],
        seed=seed,
        content=gated,
    )
    refused = played["results"][-1]
    assert not refused.ok and refused.error is not None
    assert "read-grukk (rolled: failure)" in refused.error


def test_the_gm_view_tells_the_model_what_an_outcome_requires() -> None:
    from mardonar.content.render import spec_gm_view

    gated = with_outcomes(paid_toll={"requires": ["read-grukk"]})
    assert "only after these checks succeed: read-grukk" in spec_gm_view(gated.spec)


# ---------------------------------------------------------------- items


def test_an_outcomes_item_is_granted_by_its_resolution_not_by_hand(tmp_path: Path) -> None:
    """The attack: every item of two exclusive outcomes by hand, then the failure outcome."""
    grabs = [
        grant("aria", "bridge-token"),
        grant("aria", "knuckle-bone-dice"),
        grant("aria", "toll-receipt"),
        resolve("turned-back"),
    ]
    played = play(tmp_path, [("aria", grabs)])
    *refused, resolved = played["results"]
    assert [r.ok for r in refused] == [False, False, False]
    assert (
        refused[0].error is not None and "comes with the outcome debt-settled" in refused[0].error
    )
    assert refused[2].error is not None and "comes with the outcome paid-toll" in refused[2].error
    assert resolved.ok
    assert played["session"].items_granted == {}
    assert all(award["items"] == [] for award in played["ledger"].values())
    assert "Items:" not in played["summary"]


def with_loose_item() -> Bundle:
    """The goblin bridge plus an item no outcome lists: the GM may grant it by hand."""
    loaded = bundle()
    pebble = Item(id="lucky-pebble", name="Lucky Pebble")
    spec = loaded.spec.model_copy(update={"items": [*loaded.spec.items, pebble]})
    return dataclasses.replace(loaded, spec=spec)


def test_an_item_no_outcome_lists_is_granted_by_hand_and_kept(tmp_path: Path) -> None:
    played = play(
        tmp_path,
        [("aria", [grant("aria", "lucky-pebble"), resolve("turned-back")])],
        content=with_loose_item(),
    )
    granted, resolved = played["results"]
    assert granted.ok and resolved.ok
    assert played["ledger"]["aria"]["items"] == ["lucky-pebble"]
    assert "Aria Swiftwind: Lucky Pebble" in played["summary"]


def test_an_item_goes_only_to_a_character_taking_part(tmp_path: Path) -> None:
    played = play(tmp_path, [("aria", [grant("bram", "lucky-pebble")])], content=with_loose_item())
    (refused,) = played["results"]
    assert not refused.ok and refused.error is not None
    assert "Bram Ironfoot has not taken part" in refused.error


def test_an_unresolved_end_keeps_summary_and_ledger_in_step(tmp_path: Path) -> None:
    """Granted in play, then /end: no XP and no items, in the summary as in the ledger."""
    played = play(
        tmp_path,
        [("aria", [grant("aria", "lucky-pebble")])],
        content=with_loose_item(),
        end=True,
    )
    assert played["results"][0].ok
    assert played["session"].status.value == "ended"
    assert played["ledger"] == {}
    assert "Lucky Pebble" not in played["summary"]
    assert "Items:" not in played["summary"]
