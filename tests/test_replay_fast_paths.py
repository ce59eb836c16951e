"""The shortcuts behind replay's throughput (issue #6) give what the plain paths give.

Replay runs each transcript on private SQLite databases in RAM copied from one image, loads
the bundles of a run with one lint memo, seeds NPC memory in one batch and tests keywords
against a text's word set; each test here compares one of those with the way it is done
without the shortcut, on real SQLite and the shipped content.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mardonar.content.bundle import load_bundle
from mardonar.content.lint.cache import cache_dir
from mardonar.content.lint.runner import LintMemo, run_lint
from mardonar.engine.context import Mentioned, mentions
from mardonar.errors import UsageError
from mardonar.harness.replay.run import replay_all
from mardonar.memory.base import NewMemory, remember_all
from mardonar.memory.sqlite import SqliteMemory
from mardonar.store.sqlite import SqliteStore
from tests.engine_helpers import REPO, copy_content, run

SPECS = ("goblin-toll-bridge", "haunted-lighthouse", "smugglers-chase")
FACTS = (
    "The toll is three silver for the bridge",
    "Grukk fears the troll under the bridge",
    "The old bridge creaks in the wind",
)


def test_a_batch_of_memories_is_recalled_like_memories_stored_one_by_one(tmp_path: Path) -> None:
    async def recalled(memory: SqliteMemory, batch: bool) -> list[tuple[str, str]]:
        try:
            memories = [
                NewMemory(scope="toll", session_id="s1", npc="grukk", fact=f, kind="seed")
                for f in FACTS
            ]
            if batch:
                await remember_all(memory, memories * 2)  # a repeated fact is kept once
            else:
                for item in memories:
                    await memory.remember(
                        scope=item.scope,
                        session_id=item.session_id,
                        npc=item.npc,
                        fact=item.fact,
                        kind=item.kind,
                    )
            hits = await memory.recall(scope="toll", session_id="s1", npc="grukk", query="troll")
            return [(hit.fact, hit.kind) for hit in hits]
        finally:
            await memory.close()

    one_by_one = run(recalled(SqliteMemory(tmp_path / "a.db"), batch=False))
    batched = run(recalled(SqliteMemory(tmp_path / "b.db"), batch=True))
    assert batched == one_by_one
    assert batched[0] == ("Grukk fears the troll under the bridge", "seed")
    assert len(batched) == 3


def test_a_batch_with_one_bad_memory_stores_none_of_it(tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        memory = SqliteMemory(tmp_path / "mardonar.db")
        try:
            good = NewMemory(scope="toll", session_id="s1", npc="grukk", fact=FACTS[0])
            with pytest.raises(ValueError, match="a fact is at most"):
                await remember_all(memory, [good, NewMemory("toll", "s1", "grukk", "x" * 501)])
            hits = await memory.recall(scope="toll", session_id="s1", npc="grukk")
            return [hit.fact for hit in hits]
        finally:
            await memory.close()

    assert run(scenario()) == []


def test_an_in_memory_copy_starts_as_the_image_and_never_changes_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        original = SqliteStore.in_memory()
        await original.save_session(
            "s1", spec_id="toll", status="active", turn=0, data="{}", expected_turn=None
        )
        copy = SqliteStore.in_memory(original.image())
        stored = await copy.load_session("s1")
        assert stored is not None and stored.turn == 0
        await copy.save_session(
            "s1", spec_id="toll", status="active", turn=1, data="{}", expected_turn=0
        )
        assert (await copy.load_session("s1")).turn == 1  # type: ignore[union-attr]
        assert (await original.load_session("s1")).turn == 0  # type: ignore[union-attr]
        for store in (original, copy):
            await store.close()
        fresh = SqliteStore.in_memory()  # a new one is empty, whatever others hold
        assert await fresh.list_sessions() == []
        await fresh.close()

    run(scenario())
    assert list(tmp_path.iterdir()) == []  # nothing was written anywhere


def test_indexing_the_same_lore_again_keeps_it_and_other_lore_replaces_it(tmp_path: Path) -> None:
    lore = load_bundle("goblin-toll-bridge", cwd=REPO).lore

    async def scenario() -> tuple[list[str], list[str], list[str]]:
        memory = SqliteMemory(tmp_path / "mardonar.db")
        try:
            await memory.index_lore(lore)
            await memory.index_lore(lore)
            again = [hit.lore_id for hit in await memory.search_lore("troll", limit=10)]
            await memory.index_lore([doc for doc in lore if doc.id != "the-troll-under-the-bridge"])
            fewer = [hit.lore_id for hit in await memory.search_lore("troll", limit=10)]
            await memory.index_lore(lore)
            back = [hit.lore_id for hit in await memory.search_lore("troll", limit=10)]
            return again, fewer, back
        finally:
            await memory.close()

    again, fewer, back = run(scenario())
    assert again[0] == "the-troll-under-the-bridge"
    assert "the-troll-under-the-bridge" not in fewer
    assert back == again


@pytest.mark.parametrize(
    "phrase",
    [
        "troll",
        "TROLL",
        "trolls",
        "troll-bridge",
        "bridge",
        "old knuckle",
        "under the bridge",
        "grukk's",
        "élan",
        "x_y",
        "-",
        "",
        " troll",
        "port varrow",
    ],
)
def test_a_word_set_finds_exactly_the_phrases_a_search_finds(phrase: str) -> None:
    for text in (
        "Old Knuckle, the troll-bridge's keeper, growls UNDER the bridge at Grukk's men.",
        "Élan-vital and x_y and port  varrow; trolls.",
        "",
        "troll",
    ):
        assert Mentioned(text)(phrase) == mentions(text, phrase), (text, phrase)


def test_bundles_loaded_with_one_memo_equal_bundles_loaded_alone(tmp_path: Path) -> None:
    repo = copy_content(tmp_path / "repo")
    memo = LintMemo()
    for spec in SPECS:
        alone = load_bundle(spec, cwd=repo)
        shared = load_bundle(spec, cwd=repo, memo=memo)
        assert shared == alone
        assert shared.persona is load_bundle(SPECS[0], cwd=repo, memo=memo).persona
    # A spec that no longer lints is still refused by a load sharing the memo.
    spec = repo / "specs" / "goblin-toll-bridge.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("dc: 13", "dc: 99"), "utf-8")
    with pytest.raises(UsageError, match=r"goblin-toll-bridge\.yaml:\d+:\d+: .*\[M"):
        load_bundle("goblin-toll-bridge", cwd=repo, memo=memo)


def test_the_lint_cache_is_found_in_any_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = copy_content(tmp_path / "repo")
    monkeypatch.setenv("MARDONAR_CACHE_DIR", str(tmp_path / "cache"))
    first = run_lint([repo / "specs", repo / "persona.yaml", repo / "lore"])
    second = run_lint([repo / "specs", repo / "persona.yaml", repo / "lore"])
    assert second.findings == first.findings
    assert second.cached == second.files - len(SPECS)  # test plans are never cached
    # Rewritten by someone else (indented): read whole, with the same hits.
    folder = cache_dir()
    assert folder is not None
    cache = folder / "lint-cache.json"
    cache.write_text(json.dumps(json.loads(cache.read_text("utf-8")), indent=2), "utf-8")
    third = run_lint([repo / "specs", repo / "persona.yaml", repo / "lore"])
    assert (third.cached, third.findings) == (second.cached, first.findings)


def test_every_golden_transcript_replays_identical_twice_in_one_run(tmp_path: Path) -> None:
    """Shared images and bundles leak nothing from one transcript into the next."""
    golden = sorted((REPO / "transcripts" / "golden").glob("*.jsonl"))
    repo = copy_content(tmp_path / "repo")
    paths = []
    for path in golden:
        paths.append(repo / "transcripts" / path.name)
        paths[-1].parent.mkdir(exist_ok=True)
        shutil.copy2(path, paths[-1])
    results = run(replay_all(paths + paths))
    assert [r.identical for r in results] == [True] * (2 * len(golden))
    assert [r.turns for r in results[: len(golden)]] == [r.turns for r in results[len(golden) :]]


def test_lint_runs_sharing_a_memo_report_what_runs_alone_report(tmp_path: Path) -> None:
    """A replay run shares its folder walks and lint contexts between its bundles' lints."""
    repo = copy_content(tmp_path / "repo")
    (repo / "lore" / "broken.md").write_text("---\nkeywords: [troll\n---\n# Broken\n", "utf-8")
    memo = LintMemo()
    for spec in SPECS:
        targets = [repo / "specs" / f"{spec}.yaml", repo / "persona.yaml", repo / "lore"]
        alone = run_lint(targets, use_cache=False)
        shared = run_lint(targets, use_cache=False, memo=memo)
        assert shared.findings == alone.findings
        assert shared.files == alone.files
        assert any(f.path.endswith("broken.md") and f.severity == "error" for f in shared.findings)
    assert len(memo.contexts) == 1  # one repository, one context
