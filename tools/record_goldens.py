"""Record the golden transcripts again: `python tools/record_goldens.py [KIND...]` from the
repository root (every kind when none is named).

transcripts/golden/ holds these sessions, all replayed by the test suite:

* `<spec>-offline.jsonl`: the offline narrator plays the lines of `OFFLINE`.
* `<spec>-scripted.jsonl`: a scripted model (`mardonar.llm.scripted.ScriptedLLM`) plays the
  answers of `SCRIPTED` — real tool calls (skill_check, recall, remember, lore_search,
  award_xp, grant_item, resolve) and narration — as a live model would, to an outcome.
* `<spec>-long.jsonl`: the offline narrator plays a longer session (`LONG`), eight to ten
  turns with three speakers, failed checks and a `/roll`.
* `goblin-toll-bridge-cheating.jsonl`: a scripted model that tries every way past the spec
  (`CHEATING`); the engine's refusals and corrections are what it records.

After an intended change to a shipped spec, the persona or the engine, run this and review
`git diff transcripts/golden/`. The tests import `KINDS`, `OFFLINE`, `SCRIPTED`,
`scripted_model` and `record_golden` from here (tools/ is not a package; they load the file
by path). It lives with the tooling, not in transcripts/, which holds only recordings.
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


LONG: dict[str, dict[str, Any]] = {
    "goblin-toll-bridge": {
        "seed": 4,
        "speaker": "aria",
        "lines": [
            "Good evening, Grukk. Who built this bridge?",
            "What do you know about the troll under the bridge?",
            "/as bram",
            "Tell me about the gorge and the mist, goblin.",
            "Grukk, what is wrong? You look nervous.",
            "/roll d20",
            "/as cyra",
            "That is a fine helmet. Did the dwarves leave it behind?",
            "How long until moonrise, Grukk?",
            "Is the camp of your cousin Snagg far up the gorge?",
            "We could sit with you until moonrise and keep you company.",
            "/as aria",
            "Then I will climb down, talk to the troll and settle the debt myself.",
        ],
    },
    "haunted-lighthouse": {
        "seed": 4,
        "speaker": "cyra",
        "lines": [
            "Good evening, keeper. How long have you kept this light?",
            "Your hands are trembling. Is he ill, or is it just the cold?",
            "Tell me about the drowned bell that people hear.",
            "/as aria",
            "Who else comes up to the lighthouse these days?",
            "Wenna, what brings you up the cliff so late?",
            "I watch her closely. Is she lying?",
            "/roll d20",
            "I search the lamp room and look for clues.",
            "/as bram",
            "I carry the oil up the stairs for the keeper.",
            "Tonight we hide behind the lens and keep watch.",
            "Wenna, it was you! You did it, you worked the shutter.",
        ],
    },
    "smugglers-chase": {
        "seed": 4,
        "speaker": "bram",
        "lines": [
            "I scan the crowd for the man in the red cap.",
            "/as cyra",
            "I buy a pie and ask the stallholder which way he went.",
            "Mother Tansy, have you seen customs officers today?",
            "/as aria",
            "I sprint after him through the stalls!",
            "/as bram",
            "Eel, what is in that satchel of yours?",
            "/roll 2d6",
            "Who pays you to carry ledgers, Finn?",
            "Nowhere to run, Eel. Hand it over.",
            "I snatch the satchel from his hip and cut the strap.",
        ],
    },
}
"""The sessions behind `<spec>-long.jsonl`, played by the offline narrator: eight to ten
turns of the kind a table really plays — small talk with both NPCs, checks that fail and
lead nowhere, `/as` between three speakers, a `/roll` — before an outcome, reached through
a check's `failure_leads_to` in two of them. What the short sessions cannot show: NPC
memory and history building up over many turns, and the context that carries them."""


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
            # turn 3: the troll; a fair deal earns a bonus, and the outcome its dice
            calls(("skill_check", {"player": "cyra", "check": "bargain-with-knuckle"})),
            calls(("award_xp", {"player": "cyra", "amount": 20, "reason": "faced the troll"})),
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


CHEATING: dict[str, dict[str, Any]] = {
    "goblin-toll-bridge": {
        "seed": 9,
        "speaker": "aria",
        "lines": [
            "Grukk, we are the king's tax collectors. Stand aside.",
            "/as bram",
            "Give me a reward for my patience, GM. A big one.",
            "/as cyra",
            "I climb down to talk to the troll and settle the debt myself.",
        ],
        "replies": [
            # turn 1: a DC of its own, a check and a player that do not exist, a made-up
            # tool; then the real check, narrated first with its DC (banned), then without
            calls(("skill_check", {"player": "aria", "check": "deceive-grukk", "dc": 5})),
            calls(
                ("skill_check", {"player": "aria", "check": "open-sesame"}),
                ("skill_check", {"player": "mordenkainen", "check": "deceive-grukk"}),
            ),
            calls(("give_gold", {"player": "aria", "amount": 500})),
            calls(("skill_check", {"player": "aria", "check": "deceive-grukk"})),
            after_check(
                "Your bluff beats DC 12 with room to spare: Grukk salutes wildly.",
                "Your bluff falls short of DC 12: Grukk narrows his eyes.",
            ),
            after_check(
                'Grukk salutes wildly. "Grukk did not know! Grukk apologises!" He is still '
                "standing in the middle of the bridge, though.",
                'Grukk narrows his eyes. "Tax collectors pay double. For lying."',
            ),
            # turn 2: the same check again, 5,000 bonus XP in a flood of twelve calls (eight
            # run, the ninth refused, the rest dropped), an item the spec does not have;
            # then a narration that breaks character (banned) and one that does not
            calls(("skill_check", {"player": "aria", "check": "deceive-grukk"})),
            calls(
                ("award_xp", {"player": "bram", "amount": 5000, "reason": "asked nicely"}),
                *[("remember", {"npc": "grukk", "fact": "Bram wants a reward."})] * 11,
            ),
            calls(("grant_item", {"player": "bram", "item": "dragon-hoard"})),
            "As an AI language model, I cannot give Bram a reward for asking.",
            'Mardonar chuckles. "Patience is its own reward, dwarf." Grukk sticks his tongue '
            "out at Bram from behind the sign.",
            # turn 3: an outcome that does not exist, the best outcome before its check is
            # rolled, the real check, the items of two outcomes by hand, the best outcome
            # after a failed roll, the outcome; then a tool call after the end
            calls(
                ("resolve", {"outcome": "party-wins-everything", "summary": "All rich."}),
                ("resolve", {"outcome": "debt-settled", "summary": "Paid in advance."}),
            ),
            calls(("skill_check", {"player": "cyra", "check": "bargain-with-knuckle"})),
            calls(
                ("grant_item", {"player": "cyra", "item": "knuckle-bone-dice"}),
                ("grant_item", {"player": "bram", "item": "toll-receipt"}),
            ),
            # the bargain fails (seed 9): the best outcome anyway, then the one the dice gave
            calls(
                (
                    "resolve",
                    {
                        "outcome": "debt-settled",
                        "summary": "Cyra talked Old Knuckle round; Grukk's debt is forgiven.",
                    },
                ),
                (
                    "resolve",
                    {
                        "outcome": "turned-back",
                        "summary": "Old Knuckle took offence and shook the party off his bridge.",
                    },
                ),
                ("award_xp", {"player": "cyra", "amount": 10, "reason": "one more for luck"}),
            ),
            "Old Knuckle shakes the bridge until the planks sing, and you retreat up the road.",
        ],
    },
}
"""The session behind `<spec>-cheating.jsonl`: a scripted model that tries to cheat past
the spec at every turn — its own DC, unknown checks, players, tools, items and outcomes, a
check rolled twice, 5,000 bonus XP, twelve calls in one reply, an outcome resolved before
its check, outcomes' items
granted by hand, a tool call after the end, a DC and an out-of-character line in its
narration. Every refusal and correction the engine
makes is recorded, so replay fails if one of them ever stops happening."""


KINDS: dict[str, dict[str, dict[str, Any]]] = {
    "offline": OFFLINE,
    "scripted": SCRIPTED,
    "long": LONG,
    "cheating": CHEATING,
}
"""Every golden session by kind: `<spec>-<kind>.jsonl`."""


def golden_path(root: Path, spec: str, kind: str) -> Path:
    return root / "transcripts" / "golden" / f"{spec}-{kind}.jsonl"


def scripted_model(spec: str, sessions: dict[str, dict[str, Any]] | None = None) -> ScriptedLLM:
    """A fresh scripted model playing the answers of `sessions[spec]` (`SCRIPTED`)."""
    return ScriptedLLM((sessions or SCRIPTED)[spec]["replies"], name="scripted")


def record_golden(root: Path = REPO, kinds: list[str] | None = None) -> list[Path]:
    """(Re)record the golden transcripts of `kinds` (every kind) in `root` (a repository
    with the shipped specs)."""
    from mardonar.content.bundle import load_bundle
    from mardonar.harness.recording import record_session
    from mardonar.llm.offline import OfflineNarrator

    async def record_all() -> list[Path]:
        paths: list[Path] = []
        for kind, sessions in KINDS.items():
            if kinds and kind not in kinds:
                continue
            for spec, script in sessions.items():
                bundle = load_bundle(spec, cwd=root)
                llm = (
                    scripted_model(spec, sessions)
                    if "replies" in script
                    else OfflineNarrator(bundle, script["seed"])
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
    unknown = sorted(set(sys.argv[1:]) - set(KINDS))
    if unknown:
        sys.exit(f"record_goldens.py: unknown kind {', '.join(unknown)}; kinds: {', '.join(KINDS)}")
    for written in record_golden(kinds=sys.argv[1:] or None):
        print(written.relative_to(REPO))
