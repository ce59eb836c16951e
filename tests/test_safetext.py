"""safetext: what a model or a player writes reaches no terminal as a control sequence.

The attacks are the ones issue #12 found printed raw by the plain REPL: a window title
(OSC 0), a screen clear, an OSC 52 clipboard write, the alternate screen, and the 8-bit C1
forms of CSI and OSC. The properties hold for any text and any way of cutting it into
streamed pieces.
"""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mardonar.safetext import SafeStream, json_safe, safe, visible, without_controls

FORBIDDEN = {chr(c) for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)]} - {"\n", "\t"}
"""C0 controls but newline and tab, DEL, C1: what no output of safe() may hold."""

ATTACKS = {
    "window title (OSC 0, BEL)": ("Grukk \x1b]0;pwned\x07grins.", "Grukk grins."),
    "window title (OSC 2, ST)": ("Grukk \x1b]2;pwned\x1b\\grins.", "Grukk grins."),
    "screen clear": ("\x1b[2J\x1b[HGrukk grins.", "Grukk grins."),
    "clipboard write (OSC 52)": ("Grukk\x1b]52;c;cm0gLXJmIH4=\x07 grins.", "Grukk grins."),
    "alternate screen": ("\x1b[?1049hGrukk grins.\x1b[?1049l", "Grukk grins."),
    "colour": ("\x1b[1;31mGrukk\x1b[0m grins.", "Grukk grins."),
    "C1 CSI": ("Grukk \x9b2Jgrins.", "Grukk grins."),
    "C1 OSC to C1 ST": ("Grukk \x9d0;pwned\x9cgrins.", "Grukk grins."),
    "DCS": ("Grukk \x1bP1$qm\x1b\\grins.", "Grukk grins."),
    "reset (RIS)": ("Grukk \x1bcgrins.", "Grukk grins."),
    "charset (ESC ( 0)": ("Grukk \x1b(0grins.", "Grukk grins."),
    "carriage return overwrite": ("You win 0 XP\rYou win 900 XP", "You win 0 XPYou win 900 XP"),
    "backspace, bell, NUL, DEL": ("Gr\x08u\x07kk\x00 gr\x7fins.", "Grukk grins."),
    "unterminated title": ("Grukk grins.\x1b]0;pwned", "Grukk grins."),
    "unterminated title ends with its line": ("\x1b]0;pwned\nGrukk grins.", "\nGrukk grins."),
    "lone ESC": ("Grukk grins.\x1b", "Grukk grins."),
}


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=list(ATTACKS))
def test_each_attack_is_dropped_whole(attack: tuple[str, str]) -> None:
    text, shown = attack
    assert safe(text) == shown


def test_newlines_tabs_and_any_printable_text_are_kept() -> None:
    text = "Grukk:\tgrins.\nKnuckle — « très » 🪨 laughs\r\n"
    assert safe(text) == "Grukk:\tgrins.\nKnuckle — « très » 🪨 laughs\n"
    plain = "Nothing to do here.\n"
    assert safe(plain) is plain  # no copy in the common case


def test_visible_shows_what_a_file_holds() -> None:
    assert visible("title: \x1b]0;x\x07 ok\n") == "title: \\x1b]0;x\\x07 ok\n"
    assert visible("\x9b2J\tfine") == "\\x9b2J\tfine"


def test_without_controls_keeps_every_column() -> None:
    assert without_controls("Grukk \x1b]0;x\x07grins\x9b.") == "Grukk ]0;xgrins."


def test_json_safe_is_the_same_json_with_nothing_raw() -> None:
    data = [{"message": "bad value '\x9b2J\x1b]0;x\x07\x7f' é"}]
    dumped = json_safe(json.dumps(data, ensure_ascii=False))
    assert json.loads(dumped) == data
    assert not FORBIDDEN & set(dumped)
    assert "é" in dumped  # only the controls are escaped


texts = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("\x1b\x9b\x9d\x9c\x90\x07\\[]();?0123JmhP_^X\n\r\t ")),
        st.characters(),
    ),
    max_size=60,
)


@settings(max_examples=400, deadline=None)
@given(texts)
@example("\x1b]0;pwned\x07")
def test_nothing_a_terminal_acts_on_survives(text: str) -> None:
    assert not FORBIDDEN & set(safe(text))
    assert not FORBIDDEN & set(visible(text))
    assert not FORBIDDEN & set(without_controls(text))
    assert safe(safe(text)) == safe(text)


@settings(max_examples=400, deadline=None)
@given(texts, st.lists(st.integers(min_value=0, max_value=60), max_size=6))
@example("Grukk \x1b]0;you have been pwned\x07 grins.", [8, 20])
@example("ab\x1b[31mcd\x1b[0", [3, 6, 10])
def test_streamed_pieces_show_exactly_what_the_whole_text_shows(text: str, cuts: list[int]) -> None:
    bounds = sorted({0, len(text), *(min(c, len(text)) for c in cuts)})
    pieces = [text[a:b] for a, b in itertools.pairwise(bounds)]
    stream = SafeStream()
    shown = [stream.feed(piece) for piece in pieces] + [stream.end()]
    for part in shown:
        assert not FORBIDDEN & set(part)
    assert "".join(shown) == safe(text)


def test_a_title_cut_across_two_pieces_leaves_no_residue() -> None:
    stream = SafeStream()
    first = stream.feed("Grukk \x1b]0;you have ")
    second = stream.feed("been pwned\x07grins.")
    assert (first, second, stream.end()) == ("Grukk ", "grins.", "")


def test_a_sequence_still_open_at_the_end_shows_nothing() -> None:
    stream = SafeStream()
    assert stream.feed("Grukk grins.\x1b[3") == "Grukk grins."
    assert stream.end() == ""
    assert stream.feed("next reply") == "next reply"  # ended: nothing carried over
