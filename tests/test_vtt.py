"""Foundry VTT: items and XP pushed through the relay, partial grants, pending grants and
`mardonar vtt retry`, all against a real HTTP relay on 127.0.0.1 (tests/vtt_relay.py).

The engine runs for real (SQLite store and memory in a temp folder, a scripted model that
makes the GM's tool calls); the relay client speaks HTTP to the loopback relay.
"""

from __future__ import annotations

import dataclasses
import json
import socket
from pathlib import Path
from typing import Any

from mardonar.content.bundle import Bundle
from mardonar.engine.events import Resolved
from mardonar.engine.session import Session
from mardonar.llm.scripted import ScriptedLLM, ScriptedReply
from mardonar.store.sqlite import SqliteStore
from mardonar.vtt.foundry import FoundryRelay
from tests.conftest import RunCli
from tests.engine_helpers import bundle, copy_content, open_table, run
from tests.vtt_relay import API_KEY, CLIENT_ID, Actor, RelayServer, World

TOKEN_UUID = "Compendium.world.items.Item.aB3kT9xQ2mLp7Zr1"  # the spec's uuid: found as is
RECEIPT_UUID = "Compendium.world.items.Item.Tz5Rw8YkJb1Gf6Ua"


def world(*characters: str) -> World:
    """A world with actors for `characters`; the dice exist only under another uuid than
    the spec's, so they are found by name."""
    return World(
        actors={f"Actor.a{i}": Actor(name) for i, name in enumerate(characters)},
        items={
            TOKEN_UUID: "Knuckle's Bridge Token",
            "Item.dice0001": "Knuckle's Second-Best Dice",
            RECEIPT_UUID: "Grukk's Toll Receipt",
        },
    )


def receipt_by_hand() -> Bundle:
    """The goblin bridge with `paid-toll` granting no items: the receipt is the GM's to give."""
    content = bundle()
    outcomes = [
        o.model_copy(update={"items": []}) if o.id == "paid-toll" else o
        for o in content.spec.outcomes
    ]
    return dataclasses.replace(content, spec=content.spec.model_copy(update={"outcomes": outcomes}))


def resolve(
    tmp_path: Path, relay_url: str | None, speakers: tuple[str, ...] = ("aria", "bram", "cyra")
) -> tuple[Resolved, Session, str]:
    """One turn in which `speakers` speak, Aria bargains with Knuckle (a success with seed 1)
    and the GM gives Cyra the toll receipt and resolves `debt-settled` (100 XP each; its two
    items go to Aria, whose roll led to it). The receipt is no outcome's item here, so the
    GM may grant it by hand."""
    llm = ScriptedLLM(
        [
            ScriptedReply(
                tool_calls=[("skill_check", {"player": "aria", "check": "bargain-with-knuckle"})]
            ),
            ScriptedReply(
                tool_calls=[
                    ("grant_item", {"player": "cyra", "item": "toll-receipt"}),
                    ("resolve", {"outcome": "debt-settled", "summary": "Knuckle is paid."}),
                ]
            ),
            "The troll waves you across.",
        ]
    )

    async def go() -> tuple[Resolved, Session, str]:
        table = await open_table(tmp_path, llm, seed=1, content=receipt_by_hand())
        table.engine.relay = FoundryRelay(relay_url, timeout=5) if relay_url else None
        try:
            lines = [(player, "We settle the troll's debt.") for player in speakers]
            events = [e async for e in table.engine.run_turn(table.session, lines)]
            resolved = next(e for e in events if isinstance(e, Resolved))
            summary = Path(resolved.summary_path).read_text(encoding="utf-8")
            stored = await table.engine.store.load_session(table.session.id)
            assert stored is not None
            return resolved, Session.model_validate_json(stored.data), summary
        finally:
            if table.engine.relay is not None:
                await table.engine.relay.aclose()
            await table.close()

    return run(go())


def by_character(resolved: Resolved) -> dict[tuple[str, str], dict[str, Any]]:
    return {(g["character"], g["item_name"] or f"{g['xp']} XP"): g for g in resolved.vtt}


def stored_session(data: Path) -> Session:
    async def go() -> Session:
        store = SqliteStore(data / "mardonar.db")
        try:
            stored = await store.list_sessions()
            return Session.model_validate_json(stored[0].data)
        finally:
            await store.close()

    return run(go())


# ---------------------------------------------------------------------- the client


def test_items_are_found_by_uuid_else_by_name_and_actors_by_name() -> None:
    relay_world = world("Aria Swiftwind")
    relay_world.actors["Compendium.world.heroes.Actor.x1"] = Actor("Bram Ironfoot")
    relay_world.actors["Actor.b"] = Actor("Bram Ironfoot")

    async def go() -> dict[str, Any]:
        with RelayServer(relay_world) as server:
            relay = FoundryRelay(server.url)
            try:
                return {
                    "uuid": await relay.find_item(uuid=TOKEN_UUID, name="whatever"),
                    "stale uuid": await relay.find_item(
                        uuid="Compendium.world.items.Item.gone", name="Knuckle's Second-Best Dice"
                    ),
                    "name": await relay.find_item(uuid=None, name="grukk's toll receipt"),
                    "missing": await relay.find_item(uuid=None, name="The Moon"),
                    "aria": await relay.find_actor("Aria Swiftwind"),
                    "bram": await relay.find_actor("Bram Ironfoot"),
                    "cyra": await relay.find_actor("Cyra Vell"),
                }
            finally:
                await relay.aclose()

    found = run(go())
    assert found["uuid"].uuid == TOKEN_UUID
    assert found["stale uuid"].uuid == "Item.dice0001"
    assert found["name"].uuid == RECEIPT_UUID
    assert (
        not found["missing"].ok and found["missing"].reason == "no item named 'The Moon' in Foundry"
    )
    assert found["aria"].uuid == "Actor.a0"
    assert found["bram"].uuid == "Actor.b"  # the world actor, not the compendium copy
    assert found["cyra"].reason == "no actor named 'Cyra Vell' in Foundry"
    assert not found["cyra"].relay_down
    # The key travels as a header and the world as clientId, on every request
    assert relay_world.requests
    assert all(r["api_key"] == API_KEY for r in relay_world.requests)
    assert all(r["query"]["clientId"] == CLIENT_ID for r in relay_world.requests)


def test_a_wrong_key_is_a_relay_problem_named_without_the_key() -> None:
    async def go() -> Any:
        with RelayServer(world("Aria Swiftwind")) as server:
            relay = FoundryRelay(server.url.replace(API_KEY, "not-the-key-123"))
            try:
                return await relay.find_actor("Aria Swiftwind")
            finally:
                await relay.aclose()

    result = run(go())
    assert result.relay_down
    assert "refused the API key (HTTP 401: Invalid API key)" in result.reason
    assert "not-the-key-123" not in result.reason and CLIENT_ID not in result.reason


# ---------------------------------------------------------------------- resolution


def test_items_and_xp_reach_the_characters_actors(tmp_path: Path) -> None:
    relay_world = world("Aria Swiftwind", "Bram Ironfoot", "Cyra Vell")
    with RelayServer(relay_world) as server:
        resolved, session, summary = resolve(tmp_path, server.url)

    assert relay_world.actor("Aria Swiftwind").items == [
        "Knuckle's Bridge Token",
        "Knuckle's Second-Best Dice",
    ]
    assert relay_world.actor("Cyra Vell").items == ["Grukk's Toll Receipt"]
    assert [relay_world.actor(n).xp for n in ("Aria Swiftwind", "Bram Ironfoot", "Cyra Vell")] == [
        100,
        100,
        100,
    ]
    assert all(g["done"] for g in resolved.vtt) and len(resolved.vtt) == 6
    assert session.vtt_pending == []
    assert "✓ Aria Swiftwind: Knuckle's Bridge Token — granted" in summary
    assert "✓ Bram Ironfoot: 100 XP — added" in summary
    assert "pending" not in summary


def test_partial_grants_are_reported_per_character(tmp_path: Path) -> None:
    relay_world = world("Aria Swiftwind", "Cyra Vell")  # no actor for Bram
    relay_world.fail_gives_to.add("Cyra Vell")  # and gives to Cyra fail with HTTP 500
    with RelayServer(relay_world) as server:
        resolved, session, summary = resolve(tmp_path, server.url)

    grants = by_character(resolved)
    assert grants[("Aria Swiftwind", "Knuckle's Bridge Token")]["done"]
    assert grants[("Aria Swiftwind", "100 XP")]["done"]
    assert grants[("Cyra Vell", "100 XP")]["done"]
    bram = grants[("Bram Ironfoot", "100 XP")]
    assert not bram["done"] and bram["detail"] == "no actor named 'Bram Ironfoot' in Foundry"
    receipt = grants[("Cyra Vell", "Grukk's Toll Receipt")]
    assert not receipt["done"]
    assert "HTTP 500: Internal server error during give request" in receipt["detail"]
    # what the players see in the summary, one line per character and grant
    assert "✓ Aria Swiftwind: Knuckle's Second-Best Dice — granted" in summary
    assert (
        "✗ Bram Ironfoot: 100 XP — pending — no actor named 'Bram Ironfoot' in Foundry" in summary
    )
    assert "✗ Cyra Vell: Grukk's Toll Receipt — pending — the relay answered HTTP 500" in summary
    assert "2 grant(s) pending: `mardonar vtt retry`" in summary
    # the XP the players earned does not depend on Foundry
    assert resolved.xp == {"aria": 100, "bram": 100, "cyra": 100}
    assert [(g.character, g.label()) for g in session.vtt_pending] == [
        ("Bram Ironfoot", "100 XP"),
        ("Cyra Vell", "Grukk's Toll Receipt"),
    ]


def test_without_a_relay_items_are_recorded_not_pushed(tmp_path: Path) -> None:
    resolved, session, summary = resolve(tmp_path, None)
    assert resolved.items == {
        "aria": ["bridge-token", "knuckle-bone-dice"],
        "cyra": ["toll-receipt"],
    }
    assert resolved.vtt == () and session.vtt_grants == []
    assert "Foundry" not in summary
    assert "Cyra Vell: Grukk's Toll Receipt" in summary


def test_relay_down_keeps_grants_pending_until_vtt_retry_pushes_them(
    tmp_path: Path, run_cli: RunCli
) -> None:
    relay_world = world("Aria Swiftwind", "Bram Ironfoot", "Cyra Vell")
    server = RelayServer(relay_world)  # not started: the relay is down
    resolved, _, summary = resolve(tmp_path, server.url)

    assert not any(g["done"] for g in resolved.vtt) and len(resolved.vtt) == 6
    reason = resolved.vtt[0]["detail"]
    assert reason == f"relay http://127.0.0.1:{server.port}/: cannot reach it (connection refused)"
    assert "6 grant(s) pending" in summary
    data = tmp_path / "data"
    assert len(stored_session(data).vtt_pending) == 6  # in the store, not only in memory
    env = {"VTT_RELAY_URL": server.url, "DATA_DIR": str(data)}

    still_down = run_cli("vtt", "retry", env=env)
    assert still_down.returncode == 1, still_down.stderr
    assert still_down.stdout.count("✗") == 6
    assert "0 grant(s) pushed, 6 still pending" in still_down.stdout

    with server:
        other_spec = run_cli("vtt", "retry", "--spec", "haunted-lighthouse", env=env)
        pushed = run_cli("vtt", "retry", env=env)
        again = run_cli("vtt", "retry", env=env)

    assert other_spec.returncode == 0 and "Nothing pending" in other_spec.stdout
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    lines = pushed.stdout.splitlines()
    assert f"✓ {resolved_session_id(resolved)}: Cyra Vell ← Grukk's Toll Receipt" in lines
    assert sum(line.startswith("✓") for line in lines) == 6
    assert lines[-1] == "6 grant(s) pushed, 0 still pending."
    assert relay_world.actor("Cyra Vell").items == ["Grukk's Toll Receipt"]
    assert relay_world.actor("Bram Ironfoot").xp == 100
    assert stored_session(data).vtt_pending == []
    assert again.returncode == 0
    assert again.stdout.strip() == "Nothing pending: every grant has reached Foundry."
    assert relay_world.actor("Aria Swiftwind").items == [
        "Knuckle's Bridge Token",
        "Knuckle's Second-Best Dice",
    ]  # the second retry gave nothing twice
    for result in (still_down, other_spec, pushed, again):
        output = result.stdout + result.stderr
        assert API_KEY not in output and CLIENT_ID not in output
    assert API_KEY not in summary and CLIENT_ID not in summary


def resolved_session_id(resolved: Resolved) -> str:
    return Path(resolved.summary_path).stem


def test_retry_still_failing_exits_1_with_the_reason(tmp_path: Path, run_cli: RunCli) -> None:
    relay_world = world("Aria Swiftwind", "Cyra Vell")  # Bram has no actor
    with RelayServer(relay_world) as server:
        resolve(tmp_path, server.url)
        result = run_cli(
            "vtt", "retry", env={"VTT_RELAY_URL": server.url, "DATA_DIR": str(tmp_path / "data")}
        )
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"✗ {stored_session(tmp_path / 'data').id}: Bram Ironfoot ← 100 XP: "
        "no actor named 'Bram Ironfoot' in Foundry",
        "0 grant(s) pushed, 1 still pending (run `mardonar vtt retry` again once fixed).",
    ]


def test_retry_without_a_relay_names_the_setting(run_cli: RunCli) -> None:
    result = run_cli("vtt", "retry")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "VTT_RELAY_URL is not set" in result.stderr


# ---------------------------------------------------------------------- doctor


def relay_row(run_cli: RunCli, tmp_path: Path, url: str) -> tuple[dict[str, str], str]:
    result = run_cli(
        "doctor", "--format", "json", env={"VTT_RELAY_URL": url, "DATA_DIR": str(tmp_path / "d")}
    )
    assert "Traceback" not in result.stderr, result.stderr
    (row,) = [row for row in json.loads(result.stdout) if row["part"] == "Foundry relay"]
    return row, result.stdout + result.stderr


def test_doctor_names_the_connected_world(tmp_path: Path, run_cli: RunCli) -> None:
    with RelayServer(world("Aria Swiftwind")) as server:
        row, output = relay_row(run_cli, tmp_path, server.url)
    assert row["status"] == "ok", row
    assert row["detail"].endswith("; Foundry world 'Mossback Test World' connected")
    assert API_KEY not in output and CLIENT_ID not in output


def test_doctor_fails_on_a_refused_key_without_showing_it(tmp_path: Path, run_cli: RunCli) -> None:
    with RelayServer(world("Aria Swiftwind")) as server:
        row, output = relay_row(run_cli, tmp_path, server.url.replace(API_KEY, "wrong-key-77"))
    assert row["status"] == "fail"
    assert "refused the API key" in row["detail"] and "VTT_RELAY_URL" in row["fix"]
    assert "wrong-key-77" not in output and CLIENT_ID not in output


# ---------------------------------------------------------------------- end to end


def test_play_pushes_to_the_relay_of_vtt_relay_url(tmp_path: Path, run_cli: RunCli) -> None:
    """`mardonar play --plain` wires the relay from VTT_RELAY_URL (runtime.open_relay)."""
    repo = copy_content(tmp_path / "repo")
    data = tmp_path / "data"
    relay_world = world("Aria Swiftwind")
    with RelayServer(relay_world) as server:
        result = run_cli(
            "play",
            "goblin-toll-bridge",
            "--plain",
            "--seed",
            "1",
            cwd=repo,
            env={"DATA_DIR": str(data), "VTT_RELAY_URL": server.url},
            input="Fine. We pay the toll.\n",
        )
    assert result.returncode == 0, result.stderr
    assert "★ Outcome: paid-toll" in result.stdout
    assert relay_world.actor("Aria Swiftwind").items == ["Grukk's Toll Receipt"]
    assert relay_world.actor("Aria Swiftwind").xp == 40
    (summary,) = (data / "summaries").glob("*.txt")
    assert "✓ Aria Swiftwind: Grukk's Toll Receipt — granted" in summary.read_text("utf-8")
    assert "  Foundry: ✓ Aria Swiftwind: Grukk's Toll Receipt — granted" in result.stdout
    assert "  Foundry: ✓ Aria Swiftwind: 40 XP — added" in result.stdout
    assert "pending" not in result.stdout
    (transcript,) = (repo / "transcripts").glob("*.jsonl")
    (resolve,) = [
        json.loads(line)
        for line in transcript.read_text("utf-8").splitlines()
        if json.loads(line)["type"] == "resolve"
    ]
    assert [(g["character"], g["kind"], g["done"]) for g in resolve["vtt"]] == [
        ("Aria Swiftwind", "item", True),
        ("Aria Swiftwind", "xp", True),
    ]
    assert API_KEY not in result.stdout + result.stderr + transcript.read_text("utf-8")


def test_play_plain_says_which_grants_wait_when_the_relay_is_down(
    run_cli: RunCli, tmp_path: Path
) -> None:
    repo = copy_content(tmp_path / "repo")
    down = RelayServer(world("Aria Swiftwind"))  # built, never started: nothing listens
    result = run_cli(
        "play",
        "goblin-toll-bridge",
        "--plain",
        "--seed",
        "1",
        cwd=repo,
        env={"DATA_DIR": str(tmp_path / "data"), "VTT_RELAY_URL": down.url},
        input="Fine. We pay the toll.\n",
    )
    assert result.returncode == 0, result.stderr
    assert "★ Outcome: paid-toll" in result.stdout
    assert "  Foundry: ✗ Aria Swiftwind: Grukk's Toll Receipt — pending — " in result.stdout
    assert "2 Foundry grant(s) pending: `mardonar vtt retry` pushes them" in result.stdout
    assert API_KEY not in result.stdout + result.stderr


def test_a_silent_relay_is_a_timeout_result_and_the_batch_waits() -> None:
    """A relay that accepts connections and never answers: one timeout, then the rest of
    the batch is left pending with the same reason instead of each costing a timeout."""
    from mardonar.engine.grants import push_grants
    from mardonar.engine.session import VttGrant

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    grants = [
        VttGrant(kind="xp", player=p, character=name, xp=40)
        for p, name in (("aria", "Aria Swiftwind"), ("cyra", "Cyra Vell"))
    ]

    async def go() -> None:
        relay = FoundryRelay(
            f"http://:{API_KEY}@127.0.0.1:{port}/?clientId={CLIENT_ID}", timeout=0.5
        )
        try:
            await push_grants(relay, grants)
        finally:
            await relay.aclose()

    try:
        run(go())
    finally:
        silent.close()
    reason = f"relay http://127.0.0.1:{port}/: no answer within 0.5 s"
    assert [(g.done, g.detail, g.attempts) for g in grants] == [(False, reason, 1)] * 2
