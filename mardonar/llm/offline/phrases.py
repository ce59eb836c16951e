"""What the offline narrator can say: the phrasings it picks among (by SHA-256, narrator.py)."""

from __future__ import annotations

from mardonar.content.models import Disposition, OutcomeResult
from mardonar.llm.offline.english import _wordset

# Name parts too common to identify an NPC on their own ("old" in "Old Knuckle").
_NAME_STOPWORDS = _wordset(
    "old young the little big mother father sister brother aunt uncle sir lady lord "
    "master mister captain keeper doctor saint good"
)

_TONE: dict[Disposition, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    # (gestures, adverbs, reporting verbs + "that"): how an NPC of this disposition answers.
    Disposition.hostile: (
        ("glares at you", "bristles at the sight of you", "spits to one side"),
        ("coldly", "with open contempt", "through gritted teeth"),
        ("growls that", "snaps that", "sneers that"),
    ),
    Disposition.wary: (
        ("eyes you sidelong", "keeps a careful distance", "shifts from foot to foot"),
        ("warily", "guardedly", "after a careful pause"),
        ("mutters that", "allows that", "says only that"),
    ),
    Disposition.neutral: (
        ("looks you over", "considers you for a moment", "shrugs"),
        ("evenly", "plainly", "without hurry"),
        ("remarks that", "points out that", "notes that"),
    ),
    Disposition.friendly: (
        ("brightens at the sight of you", "waves you closer", "smiles at you"),
        ("warmly", "cheerfully", "with a ready smile"),
        ("explains that", "mentions that", "is glad to tell you that"),
    ),
}

_KNOWING = {
    Disposition.hostile: "boasts of knowing",
    Disposition.wary: "hints at knowing",
    Disposition.neutral: "speaks of knowing",
    Disposition.friendly: "talks cheerfully of knowing",
}

_LEAD_IN_SUCCESS = (
    "{who} pulls it off.",
    "It works.",
    "The gamble pays off for {who}.",
    "For once, luck favours the bold.",
)

_LEAD_IN_FAILURE = (
    "It does not go the way {who} hoped.",
    "The moment slips away.",
    "Not this time.",
    "The road is not kind to {who} just now.",
)

_SECRET = (
    '{name} mutters: "{secret}"',
    '{name} blurts it out: "{secret}"',
    "The truth slips out of {name}: {secret_lc}",
    "At last {name} admits that {secret_lc}",
)

_REFUSED = (
    "{name} has seen that one already; the same trick will not work twice.",
    '"Again?" {name} does not budge, and nothing changes.',
    "{name} only waits, unimpressed: that has been tried, and nothing changes.",
    "Nothing changes. {name} has seen this before and is not moved a second time.",
)

_REFUSED_OTHER = (
    "Nothing changes; the moment is not over yet.",
    "The world does not bend that way, and nothing changes.",
)

_NUDGE = (
    "Perhaps someone{mod} could {clause}.",
    "Someone{mod} might yet {clause}.",
    "Perhaps it is time for someone{mod} to {clause}.",
    "A bold traveller{mod} might {clause}.",
)

_CLOSERS = ("What do you do?", "What now?", "", "")

_CLOSING = {
    OutcomeResult.success: (
        "The road opens ahead of you, and this one ends well.",
        "It will make a fine story at the next inn.",
    ),
    OutcomeResult.partial: (
        "Not the ending anyone hoped for, but an ending all the same.",
        "It could have gone better; it could have gone much worse.",
    ),
    OutcomeResult.failure: (
        "Sometimes the road wins.",
        "It ends here, and not the way you hoped.",
    ),
}
