"""`mardonar play` and `mardonar tally` as a user runs them: a real subprocess, no TTY (so
the plain REPL reads stdin, one line a message), the offline narrator, real files.

Every run plays in a copy of the repository's content (persona, party, specs, lore) under
tmp_path with DATA_DIR in tmp_path too, so nothing is ever written into the checkout and a
developer's `.env` never changes a result.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.conftest import cli_env
from tests.helpers import one_line_error, repo_fixture

repo = repo_fixture()

RunCli = Callable[..., subprocess.CompletedProcess[str]]
SPEC = "goblin-toll-bridge"
STAMP = re.compile(r"\d{8}T\d{6}Z(-\d+)?")
"""A session id's time stamp, with the `-2` the engine adds to a second session started
within the same second."""
ROLL_LINE = re.compile(
    r"^🎲 (?P<who>[A-Z][\w ]+) — (?P<skill>[a-z-]+) (?P<natural>\d+)(?P<sign>[+-])(?P<mod>\d+) = "
    r"(?P<total>-?\d+) vs DC (?P<dc>\d+): (?P<verdict>success|failure)$",
    re.MULTILINE,
)


def play(
    run_cli: RunCli,
    repo: Path,
    data: Path,
    *args: str | Path,
    lines: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    text = "".join(f"{line}\n" for line in lines or [])
    return run_cli("play", *args, cwd=repo, env={"DATA_DIR": str(data), **(env or {})}, input=text)


def records(path: Path) -> list[dict[str, Any]]:
    """Every line of a transcript, each parsed strictly (no torn line expected here)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def flat(text: str) -> str:
    """Text with every run of whitespace as one space (the REPL wraps narration)."""
    return " ".join(text.split())


def tally_of(data: Path) -> dict[str, int]:
    path = data / "tally.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


# --------------------------------------------------------------------------- a whole session


def test_play_to_a_resolution(run_cli: RunCli, repo: Path, tmp_path: Path) -> None:
    data, transcript = tmp_path / "data", tmp_path / "out" / "session.jsonl"
    said = ["I threaten Grukk with my axe", "Fine. We pay the toll."]
    result = play(run_cli, repo, data, SPEC, "--seed", "7", "--transcript", transcript, lines=said)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout

    # The opening, the roll, the narration and the outcome, in that order.
    assert out.index("The road ends at the lip of Mossback Gorge") < out.index("🎲")
    roll = ROLL_LINE.search(out)
    assert roll is not None, out
    assert roll["who"] == "Aria Swiftwind" and roll["skill"] == "intimidation"
    assert (roll["sign"], roll["mod"], roll["dc"], roll["verdict"]) == ("+", "0", "13", "failure")
    assert 1 <= int(roll["natural"]) <= 20 and int(roll["total"]) == int(roll["natural"]) < 13
    assert "Grukk bangs the gong with all his might" in flat(out)  # the check's on_failure
    assert "★ Outcome: paid-toll (partial)" in out
    assert "Aria Swiftwind: +40 XP" in out
    assert "Bram Ironfoot: no XP (never took part)" in out
    assert "Aria Swiftwind receives Grukk's Toll Receipt" in out
    assert out.index("🎲") < out.index("★ Outcome") < out.index("The encounter is resolved.")
    assert "--resume" not in out  # resolved: nothing to resume

    # The transcript: a header, then events with a type and a turn.
    lines = records(transcript)
    header = lines[0]
    spec_bytes = (repo / "specs" / f"{SPEC}.yaml").read_bytes()
    persona_bytes = (repo / "persona.yaml").read_bytes()
    assert header["type"] == "header" and header["format"] == 1
    assert header["spec"] == SPEC and header["seed"] == 7 and header["model"] == "offline"
    assert header["spec_sha256"] == hashlib.sha256(spec_bytes).hexdigest()
    assert header["persona_sha256"] == hashlib.sha256(persona_bytes).hexdigest()
    assert datetime.fromisoformat(header["started_at"]).tzinfo is not None
    events = lines[1:]
    assert all(isinstance(e["type"], str) and isinstance(e["turn"], int) for e in events)
    types = {e["type"] for e in events}
    assert {"player", "llm", "tool", "narration", "resolve", "end"} <= types
    assert [e["text"] for e in events if e["type"] == "player"] == said
    assert [e["turn"] for e in events if e["type"] == "narration"] == [0, 1, 2]
    assert [e["turn"] for e in events] == sorted(e["turn"] for e in events)
    check = next(e for e in events if e["type"] == "tool" and e["name"] == "skill_check")
    assert check["ok"] and check["result"]["natural"] == int(roll["natural"])
    resolve = next(e for e in events if e["type"] == "resolve")
    assert resolve["outcome"] == "paid-toll" and resolve["xp"] == {"aria": 40}
    assert resolve["items"] == {"aria": ["toll-receipt"]}
    assert resolve["skipped"] == {"bram": "never took part", "cyra": "never took part"}
    assert events[-1] == {"type": "end", "turn": 2, "reason": "resolved"}
    narration = next(e["text"] for e in events if e["type"] == "narration" and e["turn"] == 1)
    assert flat(narration) in flat(out)

    # The summary and the tally.
    summary = data / "summaries" / f"{header['session']}.txt"
    assert f"Summary: {summary}" in out
    assert "Outcome: paid-toll (partial) after 2 turns" in summary.read_text(encoding="utf-8")
    assert tally_of(data) == {SPEC: 1}
    assert not (repo / "transcripts").exists()  # --transcript was honoured


def test_the_default_transcript_path(run_cli: RunCli, repo: Path, tmp_path: Path) -> None:
    result = play(run_cli, repo, tmp_path / "data", SPEC, "--seed", "3", lines=["Hello, Grukk."])
    assert result.returncode == 0, result.stderr
    written = list((repo / "transcripts").iterdir())
    assert len(written) == 1, written
    path = written[0]
    match = re.fullmatch(rf"{SPEC}-(\d{{8}}T\d{{6}}Z)\.jsonl", path.name)
    assert match, path.name
    header = records(path)[0]
    started = datetime.fromisoformat(header["started_at"]).astimezone(UTC)
    assert started.strftime("%Y%m%dT%H%M%SZ") == match[1]  # the stamp is the start, in UTC
    assert f"Transcript: {path}" in result.stdout


def _normalised(path: Path) -> list[str]:
    """Transcript lines with what legitimately differs between two runs blanked: the start
    time, the UTC stamp in session ids, and latency measurements."""

    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items() if k != "latency_ms"}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        if isinstance(value, str):
            return STAMP.sub("<stamp>", value)
        return value

    out = []
    for record in records(path):
        if record["type"] == "header":
            record["started_at"] = "<start>"
        out.append(json.dumps(scrub(record), ensure_ascii=False))
    return out


def test_same_seed_and_input_give_identical_transcripts(
    run_cli: RunCli, repo: Path, tmp_path: Path
) -> None:
    said = [
        "/roll 2d6+3",
        "Grukk, what is wrong? You look nervous.",
        "/as bram",
        "I threaten Grukk with my axe",
        "/as cyra",
        "Let us haggle over the toll, Grukk.",
        "Fine. We pay the toll.",
    ]
    runs = []
    for name in ("first", "second"):
        transcript = tmp_path / name / "t.jsonl"
        result = play(
            run_cli,
            repo,
            tmp_path / name / "data",
            SPEC,
            "--seed",
            "11",
            "--transcript",
            transcript,
            lines=said,
        )
        assert result.returncode == 0, result.stderr
        runs.append(_normalised(transcript))
    first, second = runs
    assert len(first) == len(second)
    for number, (a, b) in enumerate(zip(first, second, strict=True), 1):
        assert a == b, f"line {number} differs:\n{a}\n{b}"
    kinds = [json.loads(line)["type"] for line in first]
    assert "roll" in kinds and "tool" in kinds and "end" in kinds


# --------------------------------------------------------------------------- commands


def test_terminal_commands(run_cli: RunCli, repo: Path, tmp_path: Path) -> None:
    transcript = tmp_path / "t.jsonl"
    said = [
        "/help",
        "/status",
        "/roll 2d6+3",
        "/as bram",
        "Grukk, what is wrong? You look nervous.",
        "/status",
        "/zap",
        "/as nobody",
        "/quit",
        "This line is never read.",
    ]
    result = play(
        run_cli,
        repo,
        tmp_path / "data",
        SPEC,
        "--seed",
        "5",
        "--transcript",
        transcript,
        lines=said,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for command in ("/as", "/roll", "/status", "/end", "/help", "/quit"):
        assert re.search(rf"^  {re.escape(command)}\b", out, re.MULTILINE), command
    assert "The Goblin Toll Bridge — turn 0 of 24, active" in out
    assert "Taking part: nobody yet" in out
    roll = re.search(
        r"^🎲 Aria Swiftwind — 2d6 \[(\d+), (\d+)\] \+ 3 = (\d+) \(/roll\)$", out, re.M
    )
    assert roll is not None, out
    assert int(roll[1]) + int(roll[2]) + 3 == int(roll[3])
    assert "now speaking as Bram Ironfoot (bram)" in out
    check = ROLL_LINE.search(out)
    assert check is not None and check["who"] == "Bram Ironfoot", out
    assert (check["skill"], check["dc"]) == ("insight", "12")
    assert "The Goblin Toll Bridge — turn 1 of 24, active" in out
    assert "Taking part: Bram Ironfoot" in out
    assert f"read-grukk {check['total']} vs DC 12, {check['verdict']}" in out
    assert "unknown command /zap; commands: /as /roll /status /end /help /quit" in out
    assert "no party member 'nobody'" in out
    session = re.search(rf"Session ({SPEC}-\S+) saved at turn 1; continue with", out)
    assert session is not None, out
    assert f"`mardonar play {SPEC} --resume`" in out
    events = records(transcript)[1:]
    assert [e["text"] for e in events if e["type"] == "player"] == [said[4]]
    assert [e["detail"] for e in events if e["type"] == "roll"] == [
        f"2d6 [{roll[1]}, {roll[2]}] + 3 = {roll[3]}"
    ]
    assert "end" not in {e["type"] for e in events}  # /quit leaves it open


def test_eof_keeps_it_resumable_and_end_closes_it(
    run_cli: RunCli, repo: Path, tmp_path: Path
) -> None:
    data, transcript = tmp_path / "data", tmp_path / "t.jsonl"
    first = play(
        run_cli,
        repo,
        data,
        SPEC,
        "--seed",
        "2",
        "--transcript",
        transcript,
        lines=["Good evening, Grukk. Who built this bridge?"],
    )
    assert first.returncode == 0, first.stderr
    assert "saved at turn 1; continue with" in first.stdout
    assert "--resume" in first.stdout
    assert tally_of(data) == {}  # not over: not counted

    resumed = play(run_cli, repo, data, SPEC, "--resume", lines=["/status", "/end", "Ignored."])
    assert resumed.returncode == 0, resumed.stderr
    out = resumed.stdout
    assert "resumed at turn 1" in out
    assert "turn 1 of 24, active" in out
    ended = re.search(r"The encounter was ended unresolved\. Summary: (\S+)", out)
    assert ended is not None, out
    summary = Path(ended[1])
    assert summary.parent == data / "summaries"
    text = summary.read_text(encoding="utf-8")
    assert "Ended unresolved after 1 turn (ended_by_player)." in text
    assert "none — the encounter ended unresolved" in text
    assert "saved at turn" not in out
    assert tally_of(data) == {SPEC: 1}
    events = records(transcript)
    assert [e["type"] for e in events].count("header") == 1
    assert events[-1] == {"type": "end", "turn": 1, "reason": "ended_by_player"}
    assert not any(e["type"] == "player" and e["text"] == "Ignored." for e in events)

    again = play(run_cli, repo, data, SPEC, "--resume")
    assert again.returncode == 2
    assert "--resume" in one_line_error(again)


# --------------------------------------------------------------------------- errors


def test_unknown_spec_is_a_usage_error(run_cli: RunCli, repo: Path, tmp_path: Path) -> None:
    result = play(run_cli, repo, tmp_path / "data", "no-such-spec")
    assert result.returncode == 2
    line = one_line_error(result)
    assert "no-such-spec" in line and SPEC in line  # names it and lists the known ones
    assert result.stdout == ""


def test_a_spec_with_a_lint_error_names_file_line_and_column(
    run_cli: RunCli, repo: Path, tmp_path: Path
) -> None:
    path = repo / "specs" / f"{SPEC}.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count("    dc: 13\n") == 1
    path.write_text(text.replace("    dc: 13\n", "    dc: 99\n"), encoding="utf-8")
    line = text[: text.index("    dc: 13\n")].count("\n") + 1
    result = play(run_cli, repo, tmp_path / "data", f"specs/{SPEC}.yaml")
    assert result.returncode == 2
    error = one_line_error(result)
    assert f"specs/{SPEC}.yaml:{line}:9:" in error, error
    assert "dc" in error
    assert result.stdout == ""


def test_a_bad_speaker_is_a_usage_error(run_cli: RunCli, repo: Path, tmp_path: Path) -> None:
    result = play(run_cli, repo, tmp_path / "data", SPEC, "--as", "zed")
    assert result.returncode == 2
    line = one_line_error(result)
    assert "--as zed" in line and "aria" in line


def test_resume_with_nothing_to_resume(run_cli: RunCli, repo: Path, tmp_path: Path) -> None:
    result = play(run_cli, repo, tmp_path / "data", SPEC, "--resume")
    assert result.returncode == 2
    assert "--resume" in one_line_error(result)
    assert result.stdout == ""


def test_a_bad_setting_is_a_config_error(run_cli: RunCli, repo: Path, tmp_path: Path) -> None:
    result = play(run_cli, repo, tmp_path / "data", SPEC, env={"GRAPHMCP_SCORE_THRESHOLD": "abc"})
    assert result.returncode == 1
    assert "GRAPHMCP_SCORE_THRESHOLD" in one_line_error(result)
    assert result.stdout == ""


# --------------------------------------------------------------------------- limits


def test_the_turn_limit_ends_unresolved(run_cli: RunCli, repo: Path, tmp_path: Path) -> None:
    path = repo / "specs" / f"{SPEC}.yaml"
    text = path.read_text(encoding="utf-8")
    assert "  max_turns: 24\n" in text
    path.write_text(text.replace("  max_turns: 24\n", "  max_turns: 2\n"), encoding="utf-8")
    data, transcript = tmp_path / "data", tmp_path / "t.jsonl"
    said = ["Good evening, Grukk.", "Lovely weather for a bridge.", "What a fine helmet."]
    result = play(run_cli, repo, data, SPEC, "--seed", "4", "--transcript", transcript, lines=said)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "The encounter ends unresolved: the turn limit was reached." in out
    assert "XP" not in out and "★" not in out
    assert "saved at turn" not in out
    events = records(transcript)[1:]
    assert [e["text"] for e in events if e["type"] == "player"] == said[:2]
    assert not [e for e in events if e["type"] == "resolve"]
    assert events[-1] == {"type": "end", "turn": 2, "reason": "max_turns"}
    summaries = list((data / "summaries").iterdir())
    assert len(summaries) == 1
    text = summaries[0].read_text(encoding="utf-8")
    assert "Ended unresolved after 2 turns (max_turns)." in text
    assert "Aria Swiftwind: none — the encounter ended unresolved" in text
    assert tally_of(data) == {SPEC: 1}


# --------------------------------------------------------------------------- tally


def test_tally_counts_runs(run_cli: RunCli, repo: Path, tmp_path: Path) -> None:
    # A DATA_DIR path longer than the 80 columns of a piped terminal: the output must not
    # change with the path's length (a fresh clone under a long path once broke this test).
    data = tmp_path / ("long-data-dir-" * 8) / "data"
    env = {"DATA_DIR": str(data)}
    empty = run_cli("tally", cwd=repo, env=env)
    assert empty.returncode == 0, empty.stderr
    assert "No runs yet" in empty.stdout
    empty_json = run_cli("tally", "--json", cwd=repo, env=env)
    assert empty_json.returncode == 0 and json.loads(empty_json.stdout) == {}

    resolved = play(run_cli, repo, data, SPEC, "--seed", "1", lines=["Fine. We pay the toll."])
    assert resolved.returncode == 0 and "★ Outcome: paid-toll" in resolved.stdout
    ended = play(run_cli, repo, data, SPEC, "--seed", "1", lines=["Hello.", "/end"])
    assert ended.returncode == 0 and "ended unresolved" in ended.stdout
    chase = play(
        run_cli, repo, data, "smugglers-chase", "--seed", "1", lines=["Let him go. Call it off."]
    )
    assert chase.returncode == 0 and "★ Outcome: eel-escapes" in chase.stdout

    table = run_cli("tally", cwd=repo, env=env)
    assert table.returncode == 0, table.stderr
    # The file named whole on the first line, then the table and nothing else.
    first, *rest = table.stdout.splitlines()
    assert first == f"Runs per spec, from {data / 'tally.json'}:", table.stdout
    rows = {cells[0]: cells[1] for line in rest if len(cells := re.findall(r"[\w-]+", line)) == 2}
    assert rows.pop("spec") == "runs", table.stdout  # the column headers
    assert rows == {SPEC: "2", "smugglers-chase": "1", "total": "3"}, table.stdout
    assert str(data) not in "\n".join(rest), table.stdout
    as_json = run_cli("tally", "--json", cwd=repo, env=env)
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout) == {SPEC: 2, "smugglers-chase": 1}


def test_resume_keeps_the_last_speaker_unless_as_is_given(
    run_cli: RunCli, repo: Path, tmp_path: Path
) -> None:
    data, transcript = tmp_path / "data", tmp_path / "t.jsonl"
    first = play(
        run_cli,
        repo,
        data,
        SPEC,
        "--seed",
        "2",
        "--transcript",
        transcript,
        lines=["/as bram", "Evening, Grukk."],
    )
    assert first.returncode == 0, first.stderr
    again = play(run_cli, repo, data, SPEC, "--resume", lines=["Nice bridge."])
    assert again.returncode == 0, again.stderr
    chosen = play(run_cli, repo, data, SPEC, "--resume", "--as", "cyra", lines=["Hello."])
    assert chosen.returncode == 0, chosen.stderr
    said = [(e["player"], e["text"]) for e in records(transcript) if e["type"] == "player"]
    assert said == [("bram", "Evening, Grukk."), ("bram", "Nice bridge."), ("cyra", "Hello.")]


# --------------------------------------------------------------------------- an unusable DATA_DIR


def _without_permission_overrides() -> None:
    """In the child, before exec: as root, give up overriding file permissions
    (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH leave the bounding set), so a read-only file or
    folder is read-only for it as for any user — the tests and CI run as root."""
    import ctypes

    if os.geteuid() != 0:
        return  # permissions already apply
    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop = 24
    for capability in (1, 2):
        if libc.prctl(pr_capbset_drop, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_a_read_only_data_dir_is_named_and_the_database_kept(
    run_cli: RunCli, repo: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = cli_env({"DATA_DIR": str(data)})
    first = subprocess.run(
        [sys.executable, "-m", "mardonar", "play", SPEC, "--plain", "--seed", "3"],
        cwd=repo, env=env, input="I greet Grukk politely\n", capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    database = data / "mardonar.db"
    modes = {path: path.stat().st_mode for path in (data, *data.iterdir())}
    for path in modes:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        refused = subprocess.run(
            [sys.executable, "-m", "mardonar", "play", SPEC, "--plain", "--resume"],
            cwd=repo, env=env, input="", capture_output=True, text=True, timeout=60,
            check=False, preexec_fn=_without_permission_overrides,
        )  # fmt: skip
    finally:
        for path, mode in modes.items():
            path.chmod(mode)
    assert refused.returncode == 1
    line = one_line_error(refused)
    assert f"{database}: cannot write to it" in line
    assert f"folder {data}" in line and "writable" in line
    assert "keep it" in line and "move it aside" not in line
    # Writable again: the same session continues, nothing lost.
    again = play(run_cli, repo, data, SPEC, "--resume", lines=["/status"])
    assert again.returncode == 0, again.stderr
    assert "resumed at turn 1" in again.stdout


def test_a_corrupt_database_is_the_one_to_move_aside(
    run_cli: RunCli, repo: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "mardonar.db").write_bytes(b"these are not the bytes of an SQLite database\n" * 100)
    result = play(run_cli, repo, data, SPEC, "--seed", "1", lines=["Hello."])
    assert result.returncode == 1
    line = one_line_error(result)
    assert line.endswith("move it aside to start afresh"), line
    assert f"{data / 'mardonar.db'} is not a usable Mardonar database" in line


# --------------------------------------------------------------------------- NPC memory


def test_npc_memory_of_earlier_playtests_is_said_and_fresh_memory_starts_clean(
    run_cli: RunCli, repo: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    said = ["Fine. We pay the toll."]

    def normal(out: str) -> str:
        return STAMP.sub("<stamp>", out)

    first = play(run_cli, repo, data, SPEC, "--seed", "5", lines=said)
    assert first.returncode == 0 and "★ Outcome: paid-toll" in first.stdout
    assert "NPC memory" not in first.stdout  # nothing earlier to remember

    second = play(run_cli, repo, data, SPEC, "--seed", "5", lines=said)
    assert second.returncode == 0, second.stderr
    (note,) = [line for line in second.stdout.splitlines() if "NPC memory" in line]
    assert re.fullmatch(
        r"  · NPC memory: \d+ facts? from 1 earlier session of this spec remembered "
        r"\(--fresh-memory to start clean\)",
        note,
    ), note

    fresh = play(run_cli, repo, data, SPEC, "--seed", "5", "--fresh-memory", lines=said)
    assert fresh.returncode == 0, fresh.stderr
    (clean,) = [line for line in fresh.stdout.splitlines() if "NPC memory" in line]
    assert re.fullmatch(
        r"  · NPC memory: starting clean \(--fresh-memory\); \d+ facts? from 2 earlier "
        r"sessions of this spec kept, not recalled",
        clean,
    ), clean
    # Apart from that line, the same playtest as the first.
    assert normal(fresh.stdout.replace(clean + "\n", "")) == normal(first.stdout)
    # And nothing was deleted: a later session without the flag still remembers both.
    later = play(run_cli, repo, data, SPEC, "--seed", "5", lines=["/quit"])
    assert "from 2 earlier sessions of this spec remembered" in later.stdout
