"""The XP awarder: who is paid, who is not and why, paying once, and the registry; plus the
previous bot's DATA_DIR (tally.json, summaries/) carried on.

The engine runs for real over the SQLite store in a temp folder; Foundry pushes go to the
loopback relay of tests/vtt_relay.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mardonar.engine.events import Resolved
from mardonar.engine.resolution import Resolution, finish
from mardonar.files import read_tally
from mardonar.llm.scripted import ScriptedLLM, ScriptedReply
from mardonar.vtt.foundry import FoundryRelay
from tests.conftest import RunCli
from tests.engine_helpers import open_table, run
from tests.vtt_relay import Actor, RelayServer, World

RESOLVE = ScriptedReply(
    tool_calls=[("resolve", {"outcome": "paid-toll", "summary": "They pay five silver."})]
)


def play(tmp_path: Path, speakers: list[str], *, registered: dict[str, dict[str, Any]]) -> Any:
    """One turn in which `speakers` speak and the GM resolves `paid-toll` (40 XP each).
    Returns the Resolved event, the summary text, the registry and the award ledger."""

    async def go() -> tuple[Resolved, str, dict[str, Any], dict[str, Any]]:
        table = await open_table(tmp_path, ScriptedLLM([RESOLVE, "Grukk bows."]))
        store = table.engine.store
        try:
            for player, character in registered.items():
                await store.set_character(player, character)
            lines = [(player, "Fine, we pay.") for player in speakers]
            events = [e async for e in table.engine.run_turn(table.session, lines)]
            resolved = next(e for e in events if isinstance(e, Resolved))
            summary = Path(resolved.summary_path).read_text(encoding="utf-8")
            return (
                resolved,
                summary,
                await store.list_characters(),
                await store.awards(table.session.id),
            )
        finally:
            await table.close()

    return run(go())


def test_each_player_is_paid_or_told_why_not(tmp_path: Path) -> None:
    resolved, summary, registry, ledger = play(
        tmp_path,
        ["aria", "zed", "u-4242"],
        registered={"u-4242": {"name": "Dana Quill", "foundry_actor": "Actor.dana"}},
    )
    # aria is in the party; u-4242 only in the registry (a Discord player); zed in neither
    assert resolved.xp == {"aria": 40, "u-4242": 40}
    assert resolved.skipped == {
        "bram": "never took part",
        "cyra": "never took part",
        "zed": "no registered character",
    }
    assert "  Dana Quill: 40" in summary
    assert "  zed: none — no registered character" in summary
    assert "  Bram Ironfoot: none — never took part" in summary
    # the ledger holds what was paid, the item with it
    assert ledger == {
        "aria": {"xp": 40, "items": ["toll-receipt"]},
        "u-4242": {"xp": 40, "items": []},
    }
    # the registry keeps the total, and what it already had
    assert registry["u-4242"]["xp"] == 40
    assert registry["u-4242"]["foundry_actor"] == "Actor.dana"
    assert registry["aria"]["name"] == "Aria Swiftwind" and registry["aria"]["xp"] == 40
    assert "zed" not in registry and "bram" not in registry


def test_the_registry_adds_up_across_encounters(tmp_path: Path) -> None:
    first = play(tmp_path / "one", ["aria"], registered={"aria": {"name": "Aria", "xp": 500}})
    assert first[2]["aria"]["xp"] == 540

    async def second() -> dict[str, Any]:
        # the same DATA_DIR, a new encounter
        table = await open_table(tmp_path / "one", ScriptedLLM([RESOLVE, "Again."]))
        try:
            await table.say("aria", "We pay again.")
            character = await table.engine.store.get_character("aria")
            assert character is not None
            return character
        finally:
            await table.close()

    assert run(second())["xp"] == 580


def test_a_resolve_retried_after_a_crash_pays_once(tmp_path: Path) -> None:
    """The process dies after the resolution paid out but before the session was saved;
    on resume the resolution runs again from the saved (pre-resolution) session."""
    relay_world = World(
        actors={"Actor.a": Actor("Aria Swiftwind"), "Actor.c": Actor("Cyra Vell")},
        items={"Compendium.world.items.Item.Tz5Rw8YkJb1Gf6Ua": "Grukk's Toll Receipt"},
    )

    async def go() -> tuple[Resolution, Resolution, dict[str, Any], dict[str, Any]]:
        table = await open_table(tmp_path, ScriptedLLM([]))
        engine, session = table.engine, table.session
        session.add_participant("aria")
        session.add_participant("cyra")
        saved = session.model_copy(deep=True)  # what the store still holds after the crash
        relay = FoundryRelay(server.url)
        try:
            args: dict[str, Any] = {
                "data_dir": engine.data_dir,
                "memory": engine.memory,
                "store": engine.store,
                "outcome_id": "paid-toll",
                "narrative": "They pay.",
                "reason": "resolved",
                "turn": 3,
                "relay": relay,
            }
            first = await finish(engine.bundle, session, **args)
            again = await finish(engine.bundle, saved, **args)
            return (
                first,
                again,
                await engine.store.list_characters(),
                await engine.store.awards(session.id),
            )
        finally:
            await relay.aclose()
            await table.close()

    with RelayServer(relay_world) as server:
        first, again, registry, ledger = run(go())

    assert first.xp == {"aria": 40, "cyra": 40}
    assert again.xp == {}
    assert again.skipped == {
        "aria": "already awarded for this encounter",
        "bram": "never took part",
        "cyra": "already awarded for this encounter",
    }
    assert again.vtt == []  # nothing pushed a second time
    assert ledger == {
        "aria": {"xp": 40, "items": ["toll-receipt"]},
        "cyra": {"xp": 40, "items": []},
    }
    assert registry["aria"]["xp"] == 40 and registry["cyra"]["xp"] == 40
    assert relay_world.actor("Aria Swiftwind").xp == 40
    assert relay_world.actor("Aria Swiftwind").items == ["Grukk's Toll Receipt"]
    assert relay_world.actor("Cyra Vell").xp == 40
    assert read_tally(tmp_path / "data") == {"goblin-toll-bridge": 1}  # counted once too
    summary = first.summary_path.read_text(encoding="utf-8")
    assert "Aria Swiftwind: none — already awarded for this encounter" in summary


def test_an_old_data_dir_keeps_working_and_is_updated(tmp_path: Path, run_cli: RunCli) -> None:
    """The previous bot's DATA_DIR: tally.json ({spec_id: runs}, its own formatting) and
    summaries/<encounter-id>.txt. A new encounter adds to both and rewrites neither."""
    data = tmp_path / "data"
    (data / "summaries").mkdir(parents=True)
    (data / "tally.json").write_text('{"goblin-toll-bridge":7,"old-spec":3}', encoding="utf-8")
    old_summary = data / "summaries" / "goblin-toll-bridge-20240301T200000Z.txt"
    old_summary.write_text("The old bot's summary.\n", encoding="utf-8")

    resolved, summary, _, _ = play(tmp_path, ["cyra"], registered={})

    assert json.loads((data / "tally.json").read_text(encoding="utf-8")) == {
        "goblin-toll-bridge": 8,
        "old-spec": 3,
    }
    assert old_summary.read_text(encoding="utf-8") == "The old bot's summary.\n"
    new_summary = Path(resolved.summary_path)
    assert new_summary.parent == data / "summaries" and new_summary.suffix == ".txt"
    assert new_summary.name != old_summary.name
    assert "Outcome: paid-toll (partial)" in summary
    assert new_summary.read_text(encoding="utf-8") == summary
    tally = run_cli("tally", "--json", env={"DATA_DIR": str(data)})
    assert tally.returncode == 0, tally.stderr
    assert json.loads(tally.stdout) == {"goblin-toll-bridge": 8, "old-spec": 3}
