"""The offline narrator's English: sentences, verbs and clauses from the spec's own prose.

A check's trigger is written "A player <verb>s …" and a nudge needs "someone could <verb> …";
a fact may follow "mutters that" only when it is a clause; a proper noun keeps its capital.
Rough rules, each erring on the harmless side (the docstrings say which side that is).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mardonar.content.models import Spec


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Words that end in -s but are not third-person verbs (trigger paraphrase, voice clauses).
_NOT_VERBS = _wordset(
    "its was hers ours yours theirs always perhaps sometimes as yes news lens towards "
    "afterwards besides whereas whereabouts series means species odds stairs"
)

_IRREGULAR = {"has": "have", "is": "be", "does": "do", "goes": "go"}

# A fact or secret may be lower-cased after "that …" only when it starts with one of these;
# a proper noun ("Grukk …", "Dwarves …" is fine either way) keeps its capital.
_LOWERABLE = _wordset(
    "the a an he she they it his her their its this that these those every each some no "
    "nobody everyone someone there we you one"
)

_SUBJECT = re.compile(
    r"^(?:(?:when|if|whenever)\s+)?(?:(?:a|an|any|one|the|some)\s+)?"
    r"(?:player|character|pc|party member|hero|adventurer|traveller|traveler|someone|anyone|"
    r"somebody|party)s?\s+",
    re.IGNORECASE,
)

# A `knows` fact with one of these (or an -ed word) reads as a clause after "mutters that";
# without, it is probably a noun phrase and goes after "… of knowing" instead.
_FINITE = _wordset(
    "is are was were be been has have had will would can could may might must shall should "
    "do does did never always once still lives knows owns keeps built made came went took "
    "gave knew saw lost left kept sold told found stole fell ran won paid held brought bought "
    "fought thought drank sank hid led met said sent spent stood swore wrote began"
)

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[.!?…][\"'”’)])\s+")


def _words(text: str) -> int:
    """Word count as the reply checker counts it (whitespace-separated)."""
    return len(text.split())


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    if text and text[-1] not in ".!?…\"'”’)":
        text += "."
    return text


def _lower_first(text: str, vocabulary: frozenset[str] = frozenset()) -> str:
    """Lower-case a leading common word so the text can follow "that"; keep proper nouns.
    A word is common when it is a function word or the author writes it in lower case
    somewhere in the spec ("dwarves" yes, "Grukk" never)."""
    first = text.split(" ", 1)[0]
    bare = first.lower().strip(",;:")
    if (bare in _LOWERABLE or bare in vocabulary) and first != "I":
        return text[0].lower() + text[1:]
    return text


def _is_clause(text: str) -> bool:
    """Whether `text` has a finite verb, roughly: misjudging a clause as a noun phrase is
    harmless ("… speaks of knowing dwarves built it"), the other way round is not."""
    words = [_bare(word) for word in text.split()]
    return any(w in _FINITE or (len(w) > 3 and w.endswith("ed")) for w in words)


def _bare(word: str) -> str:
    return word.strip(",;:.!?\"'()").lower()


def _looks_like_verb(word: str) -> bool:
    """A third-person singular verb ("threatens", "tries") as triggers are written."""
    return (
        word.isalpha()
        and len(word) > 2
        and word.endswith("s")
        and not word.endswith(("ss", "us", "is"))
        and word not in _NOT_VERBS
    ) or word in _IRREGULAR


def _base_form(word: str) -> str:
    """threatens → threaten, tries → try, searches → search, lies → lie, has → have."""
    core = word.rstrip(",;:")
    tail = word[len(core) :]
    low = core.lower()
    if low in _IRREGULAR:
        low = _IRREGULAR[low]
    elif low.endswith("ies") and len(low) > 4:
        low = low[:-3] + "y"
    elif low.endswith(("sses", "shes", "ches", "xes", "zzes")):
        low = low[:-2]
    elif low.endswith("s"):
        low = low[:-1]
    return low + tail


def nudge_clause(trigger: str) -> tuple[str, str] | None:
    """A check's trigger as something the players could do: "A player within reach tries to
    snatch the satchel" → ("within reach", "try to snatch the satchel"). None when the trigger
    is not written as "A player <verb>s …" (then a generic nudge is used)."""
    text = " ".join(trigger.split()).rstrip(".!? ")
    match = _SUBJECT.match(text)
    if not match:
        return None
    words = text[match.end() :].split()
    verb_at = next((i for i, w in enumerate(words[:4]) if _looks_like_verb(_bare(w))), None)
    if verb_at is None:
        return None
    out: list[str] = []
    for index in range(verb_at, len(words)):
        word = words[index]
        before = words[index - 1] if index > verb_at else ""
        joined = before.lower() in ("or", "and") or before.endswith(",")
        if index == verb_at or (joined and _looks_like_verb(_bare(word))):
            word = _base_form(word)
        out.append(word)
    return " ".join(words[:verb_at]), " ".join(out)


def voice_clause(voice: str) -> str:
    """An NPC's `voice` as a stage direction between dashes: "Speaks of himself in the third
    person, squeaky (…); …" → "who speaks of himself in the third person, squeaky"."""
    head = re.sub(r"\s*\([^)]*\)", "", voice.split(";")[0])
    head = " ".join(head.split()).strip(" .,:;")
    if not head:
        return ""
    if _words(head) > 14:
        head = head.split(",")[0].strip()
    first = head.split(" ", 1)[0]
    head = head[0].lower() + head[1:] if first[1:].islower() or len(first) == 1 else head
    return f"who {head}" if _looks_like_verb(_bare(first)) else head


def text_chunks(text: str) -> list[str]:
    """Split on sentence boundaries; the chunks join back to exactly `text`."""
    parts = [p for p in _SENTENCE_END.split(text) if p]
    if not parts:
        return []
    return [p + " " for p in parts[:-1]] + [parts[-1]]


def _prose_vocabulary(spec: Spec) -> frozenset[str]:
    """Words the author writes in lower case somewhere in the spec's prose."""
    texts = [spec.summary, spec.setting, spec.opening, spec.gm_notes]
    for npc in spec.npcs:
        texts += [npc.role, npc.voice, *npc.knows]
    for check in spec.checks:
        texts += [check.trigger, check.on_success, check.on_failure]
    texts += [outcome.when for outcome in spec.outcomes]
    texts += [item.description for item in spec.items]
    return frozenset(re.findall(r"(?<![\w'-])[a-z][a-z'-]*", " ".join(texts)))
