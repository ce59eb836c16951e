"""The offline narrator: a game master that reads the spec instead of calling a model.

With no LLM configured (or `--model offline`), every engine path still has to run: skill
checks, the missed-check correction, secrets revealed on success, `resolve` and the
resolution after it. This backend drives all of them from the spec alone — check keywords
become `skill_check` calls, a check's `leads_to` or an outcome's keywords become `resolve`,
and everything else is an NPC speaking in its own voice from what it `knows`.

It is deterministic: every choice among phrasings is a SHA-256 of (seed, the turn's player
message, the round, what is being chosen), never `hash()` (salted per process) and never a
global RNG, so a transcript replays byte for byte and `mardonar explore` is reproducible.

How it reads a request (the turn loop's message layout, written down in llm/turnformat.py):

- The turn starts after the LAST user message that does not start with `[correction]`; its
  lines are `[player as Name] text` (`format_player_lines`). Everything after it — assistant
  tool calls and the tool results answering them — is this turn's work so far.
- A last message that is a user `[correction] …` is the loop's one correction round.
- The round is the number of assistant messages since the turn started; tool-call ids are
  `call_{round}_{n}`, unique within a turn.
- Secrets are only ever spoken from a skill_check result's `revealed_secrets`, which the
  engine fills only after a successful check on that NPC; nothing else here reads them.

Files: reading.py (the request read back), english.py (morphology of the spec's prose),
phrases.py (what it can say), narrator.py (the GM policy).
"""

from mardonar.llm.offline.english import nudge_clause, text_chunks, voice_clause
from mardonar.llm.offline.narrator import OfflineNarrator, OfflineReply
from mardonar.llm.offline.reading import TurnResult, TurnView, is_correction
from mardonar.llm.turnformat import CORRECTION_PREFIX, PlayerLine, parse_player_lines

__all__ = [
    "CORRECTION_PREFIX",
    "OfflineNarrator",
    "OfflineReply",
    "PlayerLine",
    "TurnResult",
    "TurnView",
    "is_correction",
    "nudge_clause",
    "parse_player_lines",
    "text_chunks",
    "voice_clause",
]
