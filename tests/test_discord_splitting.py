"""Narration cut into Discord messages: never over the limit, nothing lost, cut where a reader
expects (paragraph, then sentence, then word)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mardonar.channels.discord.splitting import DISCORD_LIMIT, split_message

words = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)
prose = st.lists(
    st.tuples(words, st.sampled_from([" ", " ", " ", ". ", "! ", "\n", "\n\n", "  "])),
    max_size=400,
).map(lambda pairs: "".join(w + sep for w, sep in pairs))


def squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


@settings(max_examples=300, deadline=None)
@given(text=prose, limit=st.integers(min_value=1, max_value=400))
def test_pieces_fit_lose_nothing_and_are_never_blank(text: str, limit: int) -> None:
    pieces = split_message(text, limit)
    assert all(0 < len(piece) <= limit for piece in pieces)
    assert all(piece == piece.strip() for piece in pieces)
    assert squeezed("".join(pieces)) == squeezed(text)


@settings(max_examples=200, deadline=None)
@given(
    sentence_words=st.lists(
        st.text(alphabet="abcdefghij", min_size=1, max_size=12), min_size=1, max_size=300
    ),
    limit=st.integers(min_value=20, max_value=300),
)
def test_words_shorter_than_the_limit_are_never_cut(sentence_words: list[str], limit: int) -> None:
    text = " ".join(sentence_words)
    pieces = split_message(text, limit)
    assert [w for piece in pieces for w in piece.split()] == text.split()


def test_short_text_is_one_message() -> None:
    assert split_message("  Grukk waves.  ") == ["Grukk waves."]
    assert split_message("   ") == []


def test_paragraph_breaks_come_first() -> None:
    first = "A" * 900 + ". " + "B" * 500 + "."
    second = "C" * 900 + "."
    pieces = split_message(f"{first}\n\n{second}", 2000)
    assert pieces == [first, second]


def test_then_sentence_ends() -> None:
    one = "The bridge sways. " * 60  # 1,080 characters
    two = "Grukk squeaks! " * 80  # 1,200 characters
    pieces = split_message(one + two, DISCORD_LIMIT)
    assert len(pieces) == 2
    assert all(piece.endswith(("!", ".")) for piece in pieces)


def test_then_spaces_and_only_then_mid_word() -> None:
    assert split_message("aaa bbb ccc", 7) == ["aaa bbb", "ccc"]
    assert split_message("x" * 10, 4) == ["xxxx", "xxxx", "xx"]


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        split_message("text", 0)
