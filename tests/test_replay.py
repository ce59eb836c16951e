"""`mardonar replay` (issue #6, items 1, 3 and 4): strict replay of recorded sessions.

The golden transcripts in transcripts/golden/ (one per shipped spec, recorded with the
offline narrator by `python -m tests.test_replay`) must replay identically; a spec mutated
in a copy of the content (a DC, an outcome's XP, a removed check) must make replay exit 1
and name the change. Secrets configured for the model backend never reach a transcript.
"""

# ruff: noqa: F811
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from mardonar.llm.base import Finish, LLMRequest, Message, TextDelta, ToolCall
from mardonar.llm.cassette import CassetteExhausted, CassetteLLM
from mardonar.llm.offline import OfflineNarrator
from mardonar.replay import record_session, replay_sync
from mardonar.transcript import read_transcript
from tests.conftest import RunCli
from tests.engine_helpers import REPO, copy_content, run
from tests.llm_server import (  # noqa: F401
    ScriptedServer,
    llm_server,
    play_goblin_bridge_over_http,
)

GOLDEN_DIR = REPO / "transcripts" / "golden"
SUMMARY = re.compile(r"^(\d+) identical, (\d+) diverged$")

GOLDEN: dict[str, dict[str, Any]] = {
    "goblin-toll-bridge": {
        "seed": 1,
        "speaker": "cyra",
        "lines": [
            "Grukk, what is wrong? You look nervous.",
            "Then I will climb down, talk to the troll and settle the debt myself.",
        ],
    },
    "haunted-lighthouse": {
        "seed": 1,
        "speaker": "aria",
        "lines": [
            "I search the lamp room and examine the shutter.",
            "Tonight I hide behind the lens and keep watch for whoever comes at midnight.",
        ],
    },
    "smugglers-chase": {
        "seed": 1,
        "speaker": "bram",
        "lines": [
            "I sprint after him through the stalls!",
            "/as aria",
            "/roll d20",
            "I snatch the satchel from his hip.",
        ],
    },
}
"""The scripted sessions behind the golden transcripts (from the shipped test plans)."""


def golden_path(spec: str) -> Path:
    return GOLDEN_DIR / f"{spec}-offline.jsonl"


def record_golden(root: Path = REPO) -> list[Path]:
    """(Re)record every golden transcript with the offline narrator."""
    from mardonar.content.bundle import load_bundle

    paths = []
    for spec, script in GOLDEN.items():
        loaded = load_bundle(spec, cwd=root)
        path = root / "transcripts" / "golden" / f"{spec}-offline.jsonl"
        run(
            record_session(
                loaded,
                seed=script["seed"],
                speaker=script["speaker"],
                lines=script["lines"],
                path=path,
                llm=OfflineNarrator(loaded, script["seed"]),
            )
        )
        paths.append(path)
    return paths


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the content with the golden transcripts inside it."""
    root = copy_content(tmp_path / "repo")
    shutil.copytree(GOLDEN_DIR, root / "transcripts" / "golden")
    return root


def _edit_spec(repo: Path, spec: str, edit: Any) -> None:
    path = repo / "specs" / f"{spec}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _records(path: Path) -> list[dict[str, Any]]:
    return list(read_transcript(path))


# --------------------------------------------------------------------------- golden files


def test_every_shipped_spec_has_a_golden_transcript() -> None:
    specs = sorted(p.stem for p in (REPO / "specs").glob("*.yaml") if ".test" not in p.name)
    assert sorted(GOLDEN) == specs
    for spec in specs:
        path = golden_path(spec)
        assert path.is_file(), f"record it: python -m tests.test_replay ({path})"
        records = _records(path)
        assert records[0]["spec"] == spec
        assert any(r["type"] == "resolve" for r in records), f"{spec}: never resolved"
        # The ignore pattern for ad-hoc transcripts must not swallow the golden ones.
        assert not re.search(r"-20", path.name)


def test_golden_transcripts_replay_identically(run_cli: RunCli) -> None:
    result = run_cli("replay", GOLDEN_DIR, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(GOLDEN) + 1
    for line in lines[:-1]:
        assert ": identical, " in line and "changed since recording" not in line, line
    assert lines[-1] == f"{len(GOLDEN)} identical, 0 diverged"


def test_rerecording_gives_the_same_comparable_events(tmp_path: Path) -> None:
    root = copy_content(tmp_path / "repo")
    for fresh in record_golden(root):
        old = [r for r in _records(golden_path(fresh.name[: -len("-offline.jsonl")]))]
        new = _records(fresh)
        strip = ("latency_ms", "started_at", "session")
        assert [{k: v for k, v in r.items() if k not in strip} for r in old] == [
            {k: v for k, v in r.items() if k not in strip} for r in new
        ]


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
    assert (report["identical"], report["diverged"]) == (2, 1)
    [diverged] = [t for t in report["transcripts"] if t["result"] == "diverged"]
    assert diverged["spec"] == "haunted-lighthouse"
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


if __name__ == "__main__":  # python -m tests.test_replay: re-record the golden transcripts
    for written in record_golden():
        print(written.relative_to(REPO))
