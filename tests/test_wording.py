"""`clip` and `one_line`: the one way long text is cut to a width (Discord fields, replay
diffs, cassette digests, server errors)."""

from __future__ import annotations

from mardonar.wording import clip, one_line, plural


def test_text_within_the_width_is_unchanged() -> None:
    assert clip("hello", 5) == "hello"
    assert clip("", 0) == ""


def test_longer_text_is_cut_to_exactly_the_width_with_the_ellipsis() -> None:
    assert clip("hello world", 8) == "hello w…"
    assert len(clip("x" * 5000, 4000)) == 4000
    assert clip("hello world", 8, ellipsis="...") == "hello..."


def test_one_character_over_is_cut() -> None:
    assert clip("hello!", 5) == "hell…"


def test_a_width_smaller_than_the_ellipsis_cuts_without_one() -> None:
    assert clip("hello", 2, ellipsis="...") == "he"
    assert clip("hello", 3, ellipsis="...") == "hel"
    assert clip("hello", 1) == "h"
    assert clip("hello", 0) == ""
    assert clip("hello", -4) == ""


def test_trim_drops_the_space_before_the_ellipsis() -> None:
    assert clip("one two three", 5) == "one …"
    assert clip("one two three", 5, trim=True) == "one…"


def test_clip_keeps_newlines_and_one_line_folds_them() -> None:
    text = "first line\n\n  second\tline  "
    assert clip(text, 100) == text
    assert one_line(text, 100) == "first line second line"
    assert one_line("a\nb\nc\nd", 5) == "a b …"
    assert one_line("a\nb\nc\nd", 5, trim=True) == "a b…"
    assert one_line("a\nb\nc\nd", 6, ellipsis="...") == "a b..."


def test_plural() -> None:
    assert plural(1, "turn") == "1 turn"
    assert plural(0, "turn") == "0 turns"
    assert plural(2, "entry", "entries") == "2 entries"
