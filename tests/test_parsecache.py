"""The parse cache: YAML already parsed is read back as JSON, and is never wrong or in the way.

Every load after the first reads the data from the cache; what it gives must be exactly
what parsing gives — for the shipped content, for edited files, for values JSON cannot
hold — and a broken, foreign or unwritable cache must only cost a parse.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest

from mardonar.content import parsecache
from mardonar.content.parsecache import load_plain, parse_cache_dir
from mardonar.content.yamlpos import YamlSyntaxError, load_yaml
from tests.engine_helpers import REPO


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("MARDONAR_CACHE_DIR", str(cache))
    return cache


def _entries() -> list[Path]:
    folder = parse_cache_dir()
    assert folder is not None
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def test_the_shipped_content_reads_back_exactly_as_parsed() -> None:
    files = [*REPO.glob("*.yaml"), *(REPO / "specs").glob("*.yaml")]
    assert len(files) >= 5
    for path in files:
        text = path.read_text(encoding="utf-8")
        parsed = load_yaml(text, positions=False).data
        assert load_plain(text) == parsed  # parsed, then kept
        assert load_plain(text) == parsed  # read back
    assert len(_entries()) == len({p.read_text(encoding="utf-8") for p in files})


def test_an_edited_file_is_never_served_its_old_data() -> None:
    assert load_plain("name: Grukk\ndc: 12\n") == {"name": "Grukk", "dc": 12}
    assert load_plain("name: Grukk\ndc: 15\n") == {"name": "Grukk", "dc": 15}
    assert load_plain("name: Grukk\ndc: 12\n") == {"name": "Grukk", "dc": 12}


def test_values_json_cannot_hold_are_parsed_every_time() -> None:
    for text, key, check in (
        ("when: 2024-05-01\n", "when", lambda v: v == datetime.date(2024, 5, 1)),
        ("ratio: .nan\n", "ratio", lambda v: v != v),  # NaN is never equal to itself
        ("blob: !!binary aGVsbG8=\n", "blob", lambda v: v == b"hello"),
    ):
        for _ in range(2):
            assert check(load_plain(text)[key]), text
    assert _entries() == []


def test_a_damaged_entry_is_parsed_again_and_replaced() -> None:
    text = "npcs:\n  - id: grukk\n    knows: [the toll]\n"
    expected = {"npcs": [{"id": "grukk", "knows": ["the toll"]}]}
    assert load_plain(text) == expected
    (entry,) = _entries()
    entry.write_text('{"npcs": [{"id": "gru', encoding="utf-8")  # torn
    assert load_plain(text) == expected
    assert load_plain(text) == expected
    assert entry.read_text(encoding="utf-8").startswith('{"npcs": [{"id": "grukk"')


def test_an_unwritable_cache_only_costs_a_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be", encoding="utf-8")
    monkeypatch.setenv("MARDONAR_CACHE_DIR", str(blocker))
    assert load_plain("a: 1\n") == {"a": 1}
    assert load_plain("a: 1\n") == {"a": 1}


def test_text_that_is_not_yaml_still_fails_as_a_syntax_error() -> None:
    with pytest.raises(YamlSyntaxError):
        load_plain("a: [1, 2\n")
    assert _entries() == []


def test_the_cache_keeps_at_most_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parsecache, "MAX_ENTRIES", 10)
    for n in range(10):
        load_plain(f"n: {n}\n")
    oldest = _entries()
    for age, entry in enumerate(sorted(oldest, key=lambda p: p.stat().st_mtime)):
        os.utime(entry, (1_000_000 + age, 1_000_000 + age))  # a clear order, oldest first
    load_plain("n: 10\n")  # the eleventh: the older half goes
    assert 5 <= len(_entries()) <= 6
    assert load_plain("n: 10\n") == {"n": 10}
    assert load_plain("n: 0\n") == {"n": 0}  # a pruned one is simply parsed again


def test_without_a_home_directory_nothing_is_cached_and_everything_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HOME unset for a user with no passwd entry (some containers): Path.home() raises."""
    from mardonar.content.bundle import load_bundle
    from mardonar.content.lint.runner import run_lint

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    for name in ("MARDONAR_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert parse_cache_dir() is None
    assert load_plain("a: 1\n") == {"a": 1}
    assert run_lint([REPO / "specs"]).errors == 0
    assert load_bundle("goblin-toll-bridge", cwd=REPO).spec.id == "goblin-toll-bridge"
