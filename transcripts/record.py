"""Record the golden transcripts again: `python transcripts/record.py` from the repository root.

transcripts/golden/ holds two sessions per shipped spec, both replayed by the test suite:

* `<spec>-offline.jsonl`: the offline narrator plays the lines of `OFFLINE`.
* `<spec>-scripted.jsonl`: a scripted model (`mardonar.llm.scripted.ScriptedLLM`) plays the
  answers of `SCRIPTED` — real tool calls (skill_check, recall, remember, lore_search,
  award_xp, grant_item, resolve) and narration — as a live model would, to an outcome.

After an intended change to a shipped spec, the persona or the engine, run this and review
`git diff transcripts/golden/`. The tests import `OFFLINE`, `SCRIPTED`, `scripted_model` and
`record_golden` from here (this folder is not a package; they load the file by path).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO))

from mardonar.llm.base import LLMRequest  # noqa: E402
from mardonar.llm.scripted import ScriptedLLM, ScriptedReply, ScriptItem  # noqa: E402

OFFLINE: dict[str, dict[str, Any]] = {
    "goblin-toll-bridge": {
        "seed": 1,
        "speaker": "cyra",
        "lines": [
            "Grukk, what is wrong? You look nervous.",
            "Then I will climb down, talk to the troll and settle the debt myself.",
        ],
    },
    "haunted-lighthouse": {
        "seed": 1,
        "speaker": "aria",
        "lines": [
            "I search the lamp room and examine the shutter.",
            "Tonight I hide behind the lens and keep watch for whoever comes at midnight.",
        ],
    },
    "smugglers-chase": {
        "seed": 1,
        "speaker": "bram",
        "lines": [
            "I sprint after him through the stalls!",
            "/as aria",
            "/roll d20",
            "I snatch the satchel from his hip.",
        ],
    },
}
"""The sessions behind `<spec>-offline.jsonl` (from the shipped test plans)."""


def _check_succeeded(request: LLMRequest) -> bool:
    """Whether the last skill check fed back to the model succeeded."""
    for message in reversed(request.messages):
        if message.role != "tool":
            continue
        try:
            payload = json.loads(message.content)
        except ValueError:
            continue
        result = payload.get("result") if isinstance(payload, dict) else None
        if isinstance(result, dict) and "success" in result:
            return bool(result["success"])
    return False


def after_check(success: str, failure: str) -> ScriptItem:
    """Narration that follows the dice: the model reads the check's result it was sent."""

    def narrate(request: LLMRequest) -> str:
        return success if _check_succeeded(request) else failure

    return narrate


def calls(*tool_calls: tuple[str, dict[str, Any]]) -> ScriptedReply:
    return ScriptedReply(tool_calls=list(tool_calls))


SCRIPTED: dict[str, dict[str, Any]] = {
    "goblin-toll-bridge": {
        "seed": 5,
        "speaker": "aria",
        "lines": [
            "Good day to you. Who built this bridge, and what do you want for passage?",
            "/as bram",
            "I threaten Grukk with my axe and tell him to step aside.",
            "/as cyra",
            "I climb down to talk to the troll and settle the debt myself.",
        ],
        "replies": [
            # turn 1: what does Grukk know, what does the lore say; then narrate
            calls(
                ("recall", {"npc": "grukk", "query": "bridge toll passage"}),
                ("lore_search", {"query": "goblins bridge toll"}),
            ),
            'Grukk puffs out his chest. "Dwarves built it, Grukk keeps it! Five silver a head, '
            'or Grukk whistles for his cousins." Below, something enormous snores.',
            # turn 2: a threat is an intimidation check; Grukk will remember it
            calls(("skill_check", {"player": "bram", "check": "intimidate-grukk"})),
            calls(("remember", {"npc": "grukk", "fact": "The dwarf Bram threatened Grukk."})),
            after_check(
                "Grukk squeaks and skitters back a step, but his eyes keep darting to the "
                "planks: whatever sleeps below frightens him more than your axe.",
                "Grukk only grins and whistles. Two more goblins peer over the far railing, "
                "spears wobbling. The snoring below stops for a moment.",
            ),
            # turn 3: the troll; a fair deal earns a bonus, the dice, and the outcome
            calls(("skill_check", {"player": "cyra", "check": "bargain-with-knuckle"})),
            calls(
                ("award_xp", {"player": "cyra", "amount": 20, "reason": "faced the troll"}),
                ("grant_item", {"player": "cyra", "item": "knuckle-bone-dice"}),
            ),
            calls(
                (
                    "resolve",
                    {
                        "outcome": "debt-settled",
                        "summary": "Cyra climbed down and settled Grukk's debt with Old "
                        "Knuckle. The troll tossed her his dice and Grukk waved everyone "
                        "across.",
                    },
                )
            ),
            "Old Knuckle rumbles with laughter and rolls his knucklebone dice into your palm. "
            "Up above, Grukk bows so low his helmet falls off. The bridge is yours to cross.",
        ],
    },
    "haunted-lighthouse": {
        "seed": 5,
        "speaker": "cyra",
        "lines": [
            "Keeper, tell me about the drowned bell people hear at night.",
            "/as aria",
            "I search the lamp room and examine the shutter.",
            "Tonight I hide behind the lens and keep watch.",
        ],
        "replies": [
            # turn 1: lore and the keeper's memory
            calls(
                ("lore_search", {"query": "drowned bell"}),
                ("recall", {"npc": "osric-hale", "query": "bell ghost"}),
            ),
            'Osric Hale stares into his tea. "The bell went down with the Mary Colm, forty '
            "years back. Some nights it rings again. I don't go up after dark any more.\"",
            # turn 2: an investigation check; the keeper notices the search
            calls(("skill_check", {"player": "aria", "check": "search-lamp-room"})),
            calls(
                (
                    "remember",
                    {"npc": "osric-hale", "fact": "Aria searched the lamp room and the shutter."},
                )
            ),
            after_check(
                "Fresh oil on the shutter's hinges, and scratches where a hand pulled it "
                "closed. Someone has been signalling from up here, and recently.",
                "Dust, gull feathers and a cracked lens. If anyone has been up here, they "
                "left nothing you can find.",
            ),
            # turn 3: the vigil; a bonus, the spyglass, and the outcome
            calls(("skill_check", {"player": "aria", "check": "keep-watch"})),
            calls(
                ("award_xp", {"player": "aria", "amount": 25, "reason": "a patient vigil"}),
                ("grant_item", {"player": "aria", "item": "osrics-spyglass"}),
            ),
            calls(
                (
                    "resolve",
                    {
                        "outcome": "truth-revealed",
                        "summary": "Aria kept watch behind the lens and caught Wenna Pike "
                        "working the shutter for the wreckers. Osric lent her his spyglass.",
                    },
                )
            ),
            "At midnight the trapdoor creaks: Wenna Pike, lantern hooded, reaches for the "
            "shutter. When you step out she drops the lantern and tells you everything.",
        ],
    },
    "smugglers-chase": {
        "seed": 5,
        "speaker": "bram",
        "lines": [
            "I scan the crowd for the man in the red cap.",
            "/as cyra",
            "I buy a pie and ask the stallholder which way he went.",
            "/as bram",
            "Nowhere to run, Eel. Hand it over.",
        ],
        "replies": [
            # turn 1: perception
            calls(("skill_check", {"player": "bram", "check": "spot-the-eel"})),
            after_check(
                "There: a red knit cap bobbing past the eel barrels, heading for the piers.",
                "Caps, hoods and gulls; for a moment you lose him in the crowd.",
            ),
            # turn 2: Mother Tansy; she remembers the kind customer; the port's lore
            calls(("skill_check", {"player": "cyra", "check": "ask-tansy"})),
            calls(
                ("remember", {"npc": "mother-tansy", "fact": "Cyra bought a pie and was kind."}),
                ("lore_search", {"query": "Port Varrow piers"}),
            ),
            after_check(
                'Mother Tansy wraps your pie and leans close. "Pier nine, love. He always '
                'runs for pier nine."',
                'Mother Tansy takes your coin and shrugs. "Lots of caps in this market, love."',
            ),
            # turn 3: cornered; a bonus XP, what the Eel remembers, then the outcome
            calls(("skill_check", {"player": "bram", "check": "corner-the-eel"})),
            calls(
                ("award_xp", {"player": "bram", "amount": 15, "reason": "cornered the Eel"}),
                ("recall", {"npc": "the-eel", "query": "ledger"}),
            ),
            calls(
                (
                    "resolve",
                    {
                        "outcome": "ledger-recovered",
                        "summary": "Bram cornered the Eel at the end of pier nine and he "
                        "handed over the customs ledger.",
                    },
                )
            ),
            "The Eel looks at the water, at your fists, and back. He slaps the ledger into "
            "your hand with a curse. The customs house will pay well for this.",
        ],
    },
}
"""The sessions behind `<spec>-scripted.jsonl`: seed, speaker, player lines (with `/as`),
and the model's answers in order — two to four per turn."""


def golden_path(root: Path, spec: str, kind: str) -> Path:
    return root / "transcripts" / "golden" / f"{spec}-{kind}.jsonl"


def scripted_model(spec: str) -> ScriptedLLM:
    """A fresh scripted model playing `SCRIPTED[spec]`'s answers."""
    return ScriptedLLM(SCRIPTED[spec]["replies"], name="scripted")


def record_golden(root: Path = REPO) -> list[Path]:
    """(Re)record every golden transcript of `root` (a repository with the shipped specs)."""
    from mardonar.content.bundle import load_bundle
    from mardonar.llm.offline import OfflineNarrator
    from mardonar.replay import record_session

    async def record_all() -> list[Path]:
        paths: list[Path] = []
        for kind, sessions in (("offline", OFFLINE), ("scripted", SCRIPTED)):
            for spec, script in sessions.items():
                bundle = load_bundle(spec, cwd=root)
                llm = (
                    OfflineNarrator(bundle, script["seed"])
                    if kind == "offline"
                    else scripted_model(spec)
                )
                path = golden_path(root, spec, kind)
                await record_session(
                    bundle,
                    seed=script["seed"],
                    speaker=script["speaker"],
                    lines=script["lines"],
                    path=path,
                    llm=llm,
                )
                paths.append(path)
        return paths

    return asyncio.run(record_all())


if __name__ == "__main__":
    for written in record_golden():
        print(written.relative_to(REPO))
