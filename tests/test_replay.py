"""`mardonar replay` (issue #6, items 1, 3 and 4): strict replay of recorded sessions.

The golden transcripts in transcripts/golden/ (two per shipped spec, recorded with the
offline narrator and with a scripted model by `python tools/record_goldens.py`) must replay
identically; a spec mutated
in a copy of the content (a DC, an outcome's XP, a removed check) must make replay exit 1
and name the change. Secrets configured for the model backend never reach a transcript.
"""

# ruff: noqa: F811
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from mardonar.harness.recording import record_session
from mardonar.harness.replay.run import replay_sync
from mardonar.llm.base import Finish, LLMRequest, Message, TextDelta, ToolCall
from mardonar.llm.cassette import CassetteExhausted, CassetteLLM
from mardonar.transcript import asked_digest, read_transcript
from tests.conftest import RunCli
from tests.engine_helpers import REPO, copy_content, run
from tests.helpers import repo_fixture
from tests.llm_server import (  # noqa: F401
    ScriptedServer,
    llm_server,
    play_goblin_bridge_over_http,
)

repo = repo_fixture(goldens=True)

GOLDEN_DIR = REPO / "transcripts" / "golden"
SUMMARY = re.compile(r"^(\d+) identical, (\d+) diverged$")


def load_recorder() -> ModuleType:
    """tools/record_goldens.py: the scripts behind the golden transcripts (not a package)."""
    found = importlib.util.spec_from_file_location(
        "golden_recorder", REPO / "tools" / "record_goldens.py"
    )
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return module


recorder = load_recorder()
KINDS: dict[str, dict[str, dict[str, Any]]] = recorder.KINDS
GOLDEN_COUNT = sum(len(sessions) for sessions in KINDS.values())


def golden_path(spec: str, kind: str = "offline") -> Path:
    return GOLDEN_DIR / f"{spec}-{kind}.jsonl"


def _edit_spec(repo: Path, spec: str, edit: Any) -> None:
    path = repo / "specs" / f"{spec}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _records(path: Path) -> list[dict[str, Any]]:
    return list(read_transcript(path))


# --------------------------------------------------------------------------- golden files


def test_every_recorded_spec_has_golden_transcripts_of_every_kind() -> None:
    """The specs tools/record_goldens.py has sessions for are shipped specs, each with a
    golden transcript of every kind. A spec with no sessions there (an author's new one,
    `mardonar new spec`) has no goldens and needs none: its test plan is its check; the
    next test names it and the way to add some."""
    specs = sorted(p.stem for p in (REPO / "specs").glob("*.yaml") if ".test" not in p.name)
    assert sorted(recorder.OFFLINE) == sorted(recorder.SCRIPTED) == sorted(recorder.LONG)
    unknown = sorted(set(recorder.OFFLINE) - set(specs))
    assert not unknown, (
        f"tools/record_goldens.py has sessions for specs that do not exist: {unknown}"
    )
    assert len(list(GOLDEN_DIR.glob("*.jsonl"))) == GOLDEN_COUNT, (
        "transcripts/golden/ does not hold exactly the sessions of tools/record_goldens.py: "
        "re-record them with `python tools/record_goldens.py`"
    )
    for kind, sessions in KINDS.items():
        for spec, script in sessions.items():
            path = golden_path(spec, kind)
            assert path.is_file(), f"record it: python tools/record_goldens.py {kind} ({path})"
            records = _records(path)
            assert records[0]["spec"] == spec
            assert records[0]["model"] == ("scripted" if "replies" in script else "offline")
            assert any(r["type"] == "resolve" for r in records), f"{path}: never resolved"
            # The ignore pattern for ad-hoc transcripts must not swallow the golden ones.
            assert not re.search(r"-20", path.name)


def test_every_spec_without_goldens_is_named_with_the_way_to_record_them() -> None:
    specs = sorted(p.stem for p in (REPO / "specs").glob("*.yaml") if ".test" not in p.name)
    without = [spec for spec in specs if spec not in recorder.OFFLINE]
    if without:
        pytest.skip(
            f"no golden transcripts for {', '.join(without)} (not required): to add them, "
            "write their sessions in tools/record_goldens.py (OFFLINE, SCRIPTED, LONG) and run "
            "`python tools/record_goldens.py`"
        )


def test_long_goldens_are_long_sessions_with_failures_and_three_speakers() -> None:
    for spec in recorder.LONG:
        records = _records(golden_path(spec, "long"))
        assert sum(r["type"] == "player" for r in records) >= 8
        assert len({r["player"] for r in records if r["type"] == "player"}) == 3
        checks = [r["result"] for r in records if r.get("name") == "skill_check" and r["ok"]]
        assert any(not check["success"] for check in checks), spec
        assert any(r["type"] == "roll" for r in records), spec


def test_the_cheating_golden_records_every_refusal_and_correction() -> None:
    """The model tries every way past the spec; each is refused, as replay will insist."""
    records = _records(golden_path("goblin-toll-bridge", "cheating"))
    refusals = [r["error"] for r in records if r["type"] == "tool" and not r["ok"]]
    for said in (
        "dc: Extra inputs are not permitted",
        "unknown check 'open-sesame'",
        "unknown player 'mordenkainen'",
        "unknown tool 'give_gold'",
        "already rolled 'deceive-grukk' and it is not repeatable",
        "bonus XP for Bram Ironfoot is limited to 30 by the spec",
        "not run: at most 8 tool calls are run per reply",
        "unknown item 'dragon-hoard'",
        "unknown outcome 'party-wins-everything'",
        "bargain-with-knuckle succeeding (not rolled yet)",
        "'knuckle-bone-dice' comes with the outcome debt-settled",
        "'toll-receipt' comes with the outcome paid-toll",
        "bargain-with-knuckle succeeding (rolled: failure)",
        "the encounter is over",
    ):
        assert sum(said in refusal for refusal in refusals) == 1, said
    assert len(refusals) == 14
    corrections = [r["reason"] for r in records if r["type"] == "correction"]
    assert len(corrections) == 2 and "DC" in corrections[0] and "as an ai" in corrections[1]
    narrations = [r["text"] for r in records if r["type"] == "narration"]
    assert not any("DC 12" in text or "AI language model" in text for text in narrations)
    (resolve,) = [r for r in records if r["type"] == "resolve"]
    # The failed bargain's outcome, no bonus and no item got through.
    assert resolve["outcome"] == "turned-back"
    assert resolve["xp"] == {"aria": 0, "bram": 0, "cyra": 0} and resolve["items"] == {}


def test_scripted_goldens_make_every_kind_of_tool_call() -> None:
    used: set[str] = set()
    for spec in recorder.SCRIPTED:
        records = _records(golden_path(spec, "scripted"))
        tools = [r for r in records if r["type"] == "tool"]
        assert all(r["ok"] for r in tools), [r for r in tools if not r["ok"]]
        assert not [r for r in records if r["type"] in ("correction", "error")]
        used |= {r["name"] for r in tools}
        # Every model answer says what it was asked (the cassette's nearest request).
        assert all("asked" in r for r in records if r["type"] == "llm")
    expected = {"skill_check", "remember", "recall", "award_xp", "grant_item", "lore_search"}
    assert expected | {"resolve"} <= used


def test_golden_transcripts_replay_identically(run_cli: RunCli) -> None:
    files = sorted(GOLDEN_DIR.glob("*.jsonl"))
    assert len(files) == GOLDEN_COUNT
    result = run_cli("replay", GOLDEN_DIR, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(files) + 1
    for line in lines[:-1]:
        assert ": identical, " in line and "changed since recording" not in line, line
    assert lines[-1] == f"{len(files)} identical, 0 diverged"


def test_rerecording_gives_the_same_comparable_events(tmp_path: Path) -> None:
    root = copy_content(tmp_path / "repo")
    fresh = recorder.record_golden(root)
    assert len(fresh) == GOLDEN_COUNT
    strip = ("latency_ms", "started_at", "session")
    for path in fresh:
        old = _records(GOLDEN_DIR / path.name)
        new = _records(path)
        assert [{k: v for k, v in r.items() if k not in strip} for r in old] == [
            {k: v for k, v in r.items() if k not in strip} for r in new
        ], path.name


def test_transcripts_without_asked_digests_still_replay(tmp_path: Path, repo: Path) -> None:
    for kind in KINDS:
        path = repo / "transcripts" / "golden" / f"goblin-toll-bridge-{kind}.jsonl"
        records = [{k: v for k, v in r.items() if k != "asked"} for r in _records(path)]
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        result = replay_sync(path)
        assert result.identical, result.to_dict()


def test_an_attempt_the_store_refused_is_not_replayed(repo: Path) -> None:
    """A turn refused by the store (Redis down mid-turn) left its player line and a
    `refused` error in the transcript, then the players sent the line again: replay plays
    what was applied, once."""
    path = repo / "transcripts" / "golden" / "goblin-toll-bridge-offline.jsonl"
    records = _records(path)
    second = next(i for i, r in enumerate(records) if r.get("turn") == 2)
    retried = records[second]
    assert retried["type"] == "player"
    refused = [
        {**retried, "text": "A line that never happened."},
        {"type": "llm", "turn": 2, "model": "offline", "content": "Lost.", "tool_calls": []},
        {
            "type": "error",
            "turn": 1,
            "message": "Redis is unavailable (REDIS_URL=redis://127.0.0.1:1/0: connection "
            "refused); start Redis or fix REDIS_URL; nothing was saved (send your line again)",
            "refused": True,
        },
    ]
    records[second:second] = refused
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")

    result = replay_sync(path)
    assert result.identical, result.to_dict()
    assert result.turns == len({r["turn"] for r in records if r["type"] == "player"})

    # The same attempt without the mark is a turn like any other, and replay says so.
    del refused[-1]["refused"]
    records[second : second + 3] = refused
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    assert not replay_sync(path).identical


def test_a_roll_is_replayed() -> None:
    records = _records(golden_path("smugglers-chase"))
    assert any(r["type"] == "roll" for r in records)
    result = replay_sync(golden_path("smugglers-chase"))
    assert result.identical, result.to_dict()
    assert not result.notes


def test_two_speakers_a_roll_and_an_end_replay_identically(tmp_path: Path) -> None:
    from mardonar.content.bundle import load_bundle

    root = copy_content(tmp_path / "repo")
    loaded = load_bundle("goblin-toll-bridge", cwd=root)
    path = root / "transcripts" / "ended.jsonl"
    lines = ["Hello, Grukk.", "/as bram", "/roll 2d6+1", "We look around.", "/end"]
    run(record_session(loaded, seed=3, lines=lines, path=path, speaker="aria"))
    kinds = [r["type"] for r in _records(path)]
    assert "roll" in kinds and kinds[-1] == "end"
    result = replay_sync(path)
    assert result.identical, result.to_dict()
    assert result.turns == 2


# --------------------------------------------------------------------------- mutations


def _check(data: dict[str, Any], check_id: str) -> dict[str, Any]:
    return next(c for c in data["checks"] if c["id"] == check_id)


def _rolled_checks(spec: str) -> list[dict[str, Any]]:
    return [
        r["result"]
        for r in _records(golden_path(spec))
        if r["type"] == "tool" and r["name"] == "skill_check" and r["ok"]
    ]


def test_a_changed_dc_is_named_with_the_flipped_result(run_cli: RunCli, repo: Path) -> None:
    rolled = _rolled_checks("goblin-toll-bridge")[-1]
    check_id, dc, total = rolled["check"], rolled["dc"], rolled["total"]
    assert rolled["success"]
    new_dc = total + 5
    _edit_spec(repo, "goblin-toll-bridge", lambda d: _check(d, check_id).update(dc=new_dc))
    path = repo / "transcripts" / "golden" / "goblin-toll-bridge-offline.jsonl"
    result = run_cli("replay", path, cwd=repo)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "spec changed since recording" in out
    assert "diverged at turn 2" in out
    assert f"check {check_id}: dc {dc} → {new_dc}, total {total}: success → failure" in out
    assert out.splitlines()[-1] == "0 identical, 1 diverged"


def test_a_changed_outcome_xp_is_named(run_cli: RunCli, repo: Path) -> None:
    resolve = next(r for r in _records(golden_path("haunted-lighthouse")) if r["type"] == "resolve")
    outcome = resolve["outcome"]
    [(player, xp)] = resolve["xp"].items()

    def edit(data: dict[str, Any]) -> None:
        found = next(o for o in data["outcomes"] if o["id"] == outcome)
        found["xp"] = xp + 25

    _edit_spec(repo, "haunted-lighthouse", edit)
    result = run_cli("replay", repo / "transcripts" / "golden", "--format", "json", cwd=repo)
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)
    # The two short haunted-lighthouse sessions reach that outcome (the long one ends with
    # Wenna fleeing); every other transcript is untouched.
    assert (report["identical"], report["diverged"]) == (GOLDEN_COUNT - 2, 2)
    diverged = {
        Path(t["path"]).name: t for t in report["transcripts"] if t["result"] != "identical"
    }
    assert sorted(diverged) == [
        f"haunted-lighthouse-{kind}.jsonl" for kind in ("offline", "scripted")
    ]
    diverged = diverged["haunted-lighthouse-offline.jsonl"]
    assert f"xp {player}: {xp} → {xp + 25}" in diverged["end_diff"]
    assert any(f"xp.{player}: {xp} → {xp + 25}" in line for line in diverged["diff"])


def test_a_removed_check_is_named(run_cli: RunCli, repo: Path) -> None:
    rolled = _rolled_checks("smugglers-chase")
    check_id = rolled[-1]["check"]
    verdict = "success" if rolled[-1]["success"] else "failure"

    def edit(data: dict[str, Any]) -> None:
        data["checks"] = [c for c in data["checks"] if c["id"] != check_id]
        for outcome in data.get("outcomes", []):
            for key in ("requires", "when"):
                if isinstance(outcome.get(key), list):
                    outcome[key] = [x for x in outcome[key] if check_id not in str(x)]

    _edit_spec(repo, "smugglers-chase", edit)
    path = repo / "transcripts" / "golden" / "smugglers-chase-offline.jsonl"
    result = run_cli("replay", path, "--format", "github", cwd=repo)
    assert result.returncode in (1, 2), result.stdout + result.stderr
    if result.returncode == 2:  # the edited spec no longer lints: said in one line
        pytest.skip(f"removing {check_id} breaks the spec: {result.stderr.strip()}")
    assert result.stdout.startswith("::error file=")
    assert f"check {check_id}: {verdict} → refused: unknown check '{check_id}'" in result.stdout


# --------------------------------------------------------------------------- the cassette


def test_the_cassette_plays_recorded_answers_then_raises() -> None:
    records = [
        {
            "type": "llm",
            "turn": 1,
            "content": "Grukk",
            "tool_calls": [{"id": "c1", "name": "skill_check", "arguments": "{}"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4},
        }
    ]
    cassette = CassetteLLM(records, name="recorded")
    cassette.begin_turn(1)
    request = LLMRequest(messages=(Message(role="user", content="hi"),))

    async def chunks() -> list[Any]:
        return [c async for c in cassette.stream(request)]

    assert run(chunks()) == [
        TextDelta("Grukk"),
        ToolCall("c1", "skill_check", "{}"),
        Finish(reason="tool_calls", prompt_tokens=3, completion_tokens=4),
    ]
    with pytest.raises(CassetteExhausted, match="turn 1: the engine asked the model 2 times"):
        run(chunks())
    assert cassette.name == "recorded" and len(cassette.misses) == 1


def test_a_conversation_that_goes_elsewhere_is_reported_at_its_turn(
    tmp_path: Path, repo: Path
) -> None:
    path = repo / "transcripts" / "golden" / "goblin-toll-bridge-offline.jsonl"
    records = _records(path)
    # Drop the last model answer of turn 1: the engine asks for it and gets nothing.
    last = max(i for i, r in enumerate(records) if r["type"] == "llm" and r["turn"] == 1)
    del records[last]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    result = replay_sync(path)
    assert not result.identical
    assert result.turn == 1
    assert any("turn 1: the engine asked the model" in m for m in result.misses)


def test_a_new_question_shows_the_nearest_recorded_request(run_cli: RunCli, repo: Path) -> None:
    # A stricter persona makes the engine correct a recorded narration: it asks the model
    # again, which the recording never did. The report shows that ask and the recorded ask
    # most like it.
    persona = repo / "persona.yaml"
    data = yaml.safe_load(persona.read_text(encoding="utf-8"))
    data["filters"]["max_words"] = 12
    persona.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    path = repo / "transcripts" / "golden" / "goblin-toll-bridge-scripted.jsonl"
    result = run_cli("replay", path, cwd=repo)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "persona changed since recording" in out
    assert "diverged at turn 1" in out
    assert "turn 1: the engine asked the model 3 times, the transcript has 2 answers" in out
    assert "asked now: user '[correction] the reply is" in out
    # The recorded ask most like a correction is a player's line; its answer is shown too.
    assert re.search(r"nearest recorded request \(turn \d\): user '\[\w+ as [^]]+\] ", out), out
    assert "answered tool calls skill_check(" in out


def test_the_asked_digest_is_short_and_says_what_was_fed_back() -> None:
    long_result = json.dumps({"ok": True, "result": {"text": "x" * 5000}})
    messages = [
        Message("system", "persona and spec " * 500),
        Message("user", "[aria as Aria Swiftwind] " + "I search the lamp room. " * 40),
        Message("assistant", "", tool_calls=(ToolCall("c1", "skill_check", "{}"),)),
        Message("tool", long_result, tool_call_id="c1", name="skill_check"),
    ]
    digest = asked_digest(messages)
    assert digest["role"] == "assistant" and digest["calls"] == ["skill_check"]
    assert [r.split(":")[0] for r in digest["tool_results"]] == ["skill_check"]
    assert len(json.dumps(digest)) < 400  # not the 13 kB prompt
    first = asked_digest(messages[:2])
    assert first["role"] == "user" and first["text"].startswith("[aria as Aria Swiftwind] I")
    assert len(first["text"]) == 200 and "tool_results" not in first


# --------------------------------------------------------------------------- usage errors


def test_unreadable_transcripts_exit_2_in_one_line(run_cli: RunCli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "player"}\n{}\n', encoding="utf-8")
    for args in ([bad], [tmp_path / "missing.jsonl"], []):
        result = run_cli("replay", *args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) >= 1


# --------------------------------------------------------------------------- secrets

SECRET = "sk-replay-secret-9137"


def test_secrets_are_never_recorded_and_an_http_session_replays(
    tmp_path: Path, llm_server: ScriptedServer, run_cli: RunCli
) -> None:
    llm_server.api_key = SECRET
    repo = copy_content(tmp_path / "repo")
    transcript = repo / "transcripts" / "http.jsonl"
    result = play_goblin_bridge_over_http(
        run_cli, llm_server, repo=repo, data=tmp_path / "data", transcript=transcript
    )
    assert result.returncode == 0, result.stderr
    text = transcript.read_text(encoding="utf-8")
    assert SECRET not in text
    assert "authorization" not in text.casefold()
    # Recorded with a (scripted) real backend, replayed strictly with the cassette.
    replayed = run_cli("replay", transcript, cwd=repo)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert replayed.stdout.splitlines()[-1] == "1 identical, 0 diverged"
