"""The echo guard: a reply that repeats GM-only text word for word is never shown.

Small models echo their instructions: Gemma 3 270M answered its first turn with the
system prompt ("You are Mardonar, the game master of a tabletop role-playing encounter.
You are Mardonar, an old road-warden who…"), and a player who asks for "debug mode" can
get the same from a bigger one. What may not be repeated is the GM-only text of the turn:
the persona prompt (voice, rules, the engine's rules), the spec's setting, GM notes and the
rest of its GM view (check lines with their DCs, the outcome rules), the outcome texts of
checks nobody has rolled yet, the NPC secrets not yet revealed, and the tool descriptions.

A reply echoes when it shares a run of `RUN_WORDS` consecutive words with one of them
(lower-cased, punctuation and spacing ignored), or holds a whole short secret or outcome
text of at least `MIN_WORDS` words. Runs that also occur in text the players may hear
(the opening, the NPCs' voices and what they know, triggers, outcomes, items, lore) never
count, nor does a check's text once it was rolled or a secret once it was revealed.

`RUN_WORDS` is measured (tests/test_echo.py; docs/architecture.md has the numbers): the
longest run a narration of the golden transcripts shares with GM-only text is 7 words, and
all 7 are also in text the players may hear (the opening, what an NPC knows); leaving that
out, 4. The real model's echo repeats 19 words and more at once.

The word runs are hashed once per bundle (`EchoGuard.of`, 2-7 ms); a reply is checked in
one pass over its words, a set lookup each (~60 µs for a 170-word reply).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mardonar.content.render import persona_prompt, spec_gm_view
from mardonar.engine.tools import TOOL_SPECS

if TYPE_CHECKING:
    from mardonar.content.bundle import Bundle
    from mardonar.engine.session import Session

RUN_WORDS = 8
"""A shared run of this many words is an echo (golden narration peaks at 4, or 7 counting
runs that are also in text the players may hear)."""
MIN_WORDS = 5
"""A secret or outcome text shorter than RUN_WORDS counts whole from this many words."""

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")

Source = tuple[str, str]
"""What a GM-only text is: ("persona" | "setting" | "gm_notes" | "spec" | "tools", "") or
("check", check id) or ("secret", the secret's text)."""


def _word(found: str) -> str:
    return found.lower().replace("’", "'")


def words_of(text: str) -> list[str]:
    """The words of `text`, lower-cased, apostrophes inside a word kept (curly ones made
    straight), everything else dropped."""
    return [_word(found) for found in _WORD.findall(text)]


def _runs(words: Sequence[str], length: int) -> Iterable[int]:
    for start in range(len(words) - length + 1):
        yield hash(tuple(words[start : start + length]))


@dataclass(frozen=True)
class Echo:
    """A reply's first verbatim run of GM-only text."""

    source: Source
    words: int
    """How many words the matched run has (RUN_WORDS, or a short text's whole length)."""

    @property
    def what(self) -> str:
        """What was repeated, in words for the model's correction (never the text itself)."""
        kind, key = self.source
        return {
            "persona": "your instructions",
            "setting": "the GM-only setting",
            "gm_notes": "the GM notes",
            "spec": "the encounter's GM-only notes",
            "tools": "the tool descriptions",
            "check": f"the outcome text of check '{key}' before it was rolled",
            "secret": "an NPC's secret that no check has revealed",
        }[kind]


@dataclass
class EchoGuard:
    """The hashed word runs of one bundle's GM-only texts."""

    runs: dict[int, tuple[Source, ...]] = field(default_factory=dict)
    lengths: frozenset[int] = frozenset({RUN_WORDS})
    """The run lengths to look for: RUN_WORDS and the lengths of the short texts."""

    @classmethod
    def of(cls, bundle: Bundle) -> EchoGuard:
        """The guard of `bundle`, built on first use and kept with it."""
        cached = _GUARDS.get(id(bundle))
        if cached is not None and cached[0] is bundle:
            return cached[1]
        guard = cls.build(bundle)
        if len(_GUARDS) >= 16:  # bundles are few (one per spec, reloads); keep the newest
            _GUARDS.pop(next(iter(_GUARDS)))
        _GUARDS[id(bundle)] = (bundle, guard)
        return guard

    @classmethod
    def build(cls, bundle: Bundle) -> EchoGuard:
        spec = bundle.spec
        texts: list[tuple[Source, str]] = [
            (("persona", ""), persona_prompt(bundle.persona)),
            (("setting", ""), spec.setting),
            (("gm_notes", ""), spec.gm_notes),
        ]
        for tool in TOOL_SPECS:
            texts.append((("tools", ""), tool.description))
            for prop in tool.parameters.get("properties", {}).values():
                texts.append((("tools", ""), str(prop.get("description", ""))))
        for check in spec.checks:
            texts += [
                (("check", check.id), check.on_success),
                (("check", check.id), check.on_failure),
            ]
        for npc in spec.npcs:
            texts += [(("secret", secret), secret) for secret in npc.secrets]
        # Last, so that a run also in a text above is named after that text: the rest of
        # the GM view (check lines with their DCs, the outcome rules).
        texts.append((("spec", ""), spec_gm_view(spec)))
        public = _public_runs(bundle)
        guard = cls()
        lengths = {RUN_WORDS}
        for source, text in texts:
            words = words_of(text)
            if len(words) < RUN_WORDS:
                if source[0] not in ("check", "secret") or len(words) < MIN_WORDS:
                    continue
                lengths.add(len(words))
                found = [hash(tuple(words))]
            else:
                found = list(_runs(words, RUN_WORDS))
            for run in found:
                if run in public:
                    continue
                had = guard.runs.get(run, ())
                if source not in had:
                    guard.runs[run] = (*had, source)
        guard.lengths = frozenset(lengths)
        return guard

    def find(self, text: str, *, rolled: Iterable[str], revealed: Iterable[str]) -> Echo | None:
        """The first GM-only run `text` repeats, given the checks rolled and the secrets
        revealed so far (their texts may be narrated now); None when it repeats none."""
        words = words_of(text)
        said = set(rolled), set(revealed)
        for length in sorted(self.lengths, reverse=True):
            for run in _runs(words, length):
                echo = self._echo(run, length, said)
                if echo is not None:
                    return echo
        return None

    def find_in(self, text: str, session: Session) -> Echo | None:
        """`find` with the state of play of `session`."""
        return self.find(text, rolled=_rolled(session), revealed=_revealed(session))

    def _echo(self, run: int, length: int, said: tuple[set[str], set[str]]) -> Echo | None:
        sources = self.runs.get(run)
        if sources is None or any(_told(s, said) for s in sources):
            return None  # a run shared with a rolled text or a revealed secret is fine
        return Echo(sources[0], length)


class EchoHold:
    """Streamed text held back until no echo can be in it, so that an echo never reaches
    a screen, not even for the moment before the reply is checked (the plain terminal
    cannot take back what it printed).

    The last `max(lengths) - 1` words (and a word still being written) are held: a run
    ending in a word not yet streamed could start in them. Once a run is found, nothing
    more is released; the reply check then finds the same echo and corrects it. Each
    delta costs a look-up per new word and run length."""

    def __init__(self, guard: EchoGuard, session: Session) -> None:
        self.guard = guard
        self.said = set(_rolled(session)), set(_revealed(session))
        self.hold = max(guard.lengths) - 1
        self.reset()

    def reset(self) -> None:
        """Start over (the backend restarted the answer)."""
        self.text = ""
        self.words: list[str] = []
        self.starts: list[int] = []
        """Where each complete word starts in `text`."""
        self.scanned = 0
        """Where the first word not yet complete may start."""
        self.released = 0
        self.echo: Echo | None = None

    def feed(self, delta: str) -> str:
        """The text that may be shown now, of all streamed so far."""
        self.text += delta
        if self.echo is not None:
            return ""
        for found in _WORD.finditer(self.text, self.scanned):
            if found.end() == len(self.text):
                break  # the word may go on in the next delta
            self.words.append(_word(found.group()))
            self.starts.append(found.start())
            self.scanned = found.end()
            if self._ends_echo():
                return ""
        safe = len(self.words) - self.hold
        if safe <= 0:
            return ""
        return self._release(self.starts[safe] if safe < len(self.words) else self.scanned)

    def end(self) -> str:
        """The rest, once the answer is complete (nothing when it echoed)."""
        if self.echo is None:
            tail = self.text[self.scanned :]
            for found in _WORD.finditer(tail):
                self.words.append(_word(found.group()))
                if self._ends_echo():
                    return ""
        return self._release(len(self.text)) if self.echo is None else ""

    def _ends_echo(self) -> bool:
        words = self.words
        for length in self.guard.lengths:
            if len(words) >= length:
                run = hash(tuple(words[len(words) - length :]))
                self.echo = self.guard._echo(run, length, self.said)
                if self.echo is not None:
                    return True
        return False

    def _release(self, upto: int) -> str:
        if upto <= self.released:
            return ""
        out, self.released = self.text[self.released : upto], upto
        return out


def _rolled(session: Session) -> list[str]:
    return [roll.check for roll in session.checks_rolled if roll.check]


def _revealed(session: Session) -> list[str]:
    return [secret for secrets in session.revealed_secrets.values() for secret in secrets]


def _told(source: Source, said: tuple[set[str], set[str]]) -> bool:
    kind, key = source
    rolled, revealed = said
    return (kind == "check" and key in rolled) or (kind == "secret" and key in revealed)


def _public_runs(bundle: Bundle) -> set[int]:
    """Word runs of the text the players may hear: GM-only text sharing one is no echo."""
    spec = bundle.spec
    public: list[str] = [spec.title, spec.summary, spec.opening]
    for npc in spec.npcs:
        public += [npc.name, npc.role, npc.voice, *npc.knows]
    for check in spec.checks:
        public += [check.trigger, *check.keywords]
    for outcome in spec.outcomes:
        public.append(outcome.when)
    for item in spec.items:
        public += [item.name, item.description]
    public += [doc.body for doc in bundle.lore]
    public += bundle.persona.fallback_lines
    runs: set[int] = set()
    for text in public:
        words = words_of(text)
        for length in range(MIN_WORDS, RUN_WORDS + 1):
            runs.update(_runs(words, length))
    return runs


_GUARDS: dict[int, tuple[Bundle, EchoGuard]] = {}
"""Guards by bundle id, holding the bundle so an id is never reused while cached."""
