"""`mardonar replay` against transcripts an attacker wrote (issue #12, item 5).

Every bad line is one `mardonar: FILE:LINE: what is wrong` line and exit 2 — never an
internal error — and the good transcripts given with it are still replayed and reported. A
huge line is refused having read no more than the line limit, and the header's spec is an
id, never a path. Transcript text in the report cannot reach the terminal as escapes.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from mardonar.errors import UsageError
from mardonar.transcript import MAX_LINE_BYTES, read_transcript
from tests.conftest import RunCli
from tests.engine_helpers import REPO, copy_content

GOLDEN = REPO / "transcripts" / "golden" / "goblin-toll-bridge-offline.jsonl"
HEADER = json.dumps({"type": "header", "format": 1, "spec": "goblin-toll-bridge", "seed": 3})


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the content with one golden transcript in transcripts/."""
    root = copy_content(tmp_path / "repo")
    (root / "transcripts").mkdir(exist_ok=True)
    shutil.copy(GOLDEN, root / "transcripts" / GOLDEN.name)
    return root


def _tool_line(**fields: object) -> str:
    return json.dumps({"type": "llm", "turn": 1, "content": "", **fields})


ATTACKS: dict[str, tuple[bytes, int, str]] = {
    # name: (file content, line named, words the error says)
    "array": (b"[1, 2, 3]\n", 1, "a JSON array, not an object"),
    "string": (b'"hello"\n', 1, "a JSON string, not an object"),
    "number": (b"42\n", 1, "a JSON number, not an object"),
    "not-utf8": (HEADER.encode() + b'\n{"type": "player", "text": "\xff\xfe"}\n', 2, "not UTF-8"),
    "deep": (
        HEADER.encode() + b"\n" + b"[" * 100_000 + b"]" * 100_000 + b"\n",
        2,
        "nested more than",
    ),
    "tool-calls-string": (
        f"{HEADER}\n{_tool_line(tool_calls='skill_check')}\n".encode(),
        2,
        "tool_calls: input should be a valid list",
    ),
    "turn-string": (
        f'{HEADER}\n{{"type": "player", "turn": "1", "player": "aria", "text": "hi"}}\n'.encode(),
        2,
        "turn: input should be a valid integer",
    ),
    "traversal": (
        json.dumps({"type": "header", "spec": "../../../etc/passwd", "seed": 1}).encode() + b"\n",
        1,
        'the header\'s spec "../../../etc/passwd" is not a spec id',
    ),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_bad_line_is_one_error_line_and_the_good_transcript_is_still_reported(
    run_cli: RunCli, repo: Path, attack: str
) -> None:
    content, line, says = ATTACKS[attack]
    (repo / "transcripts" / "bad.jsonl").write_bytes(content)
    result = run_cli("replay", "transcripts", cwd=repo)
    assert result.returncode == 2, result.stdout + result.stderr
    [error] = result.stderr.splitlines()
    assert error.startswith(f"mardonar: transcripts/bad.jsonl:{line}: "), error
    assert says in error and "internal error" not in error
    assert f"transcripts/{GOLDEN.name}: identical, " in result.stdout
    assert result.stdout.splitlines()[-1] == "1 identical, 0 diverged, 1 unreadable"


def test_one_bad_file_among_good_ones_is_in_the_json_report_too(
    run_cli: RunCli, repo: Path
) -> None:
    (repo / "transcripts" / "bad.jsonl").write_bytes(ATTACKS["array"][0])
    result = run_cli("replay", "transcripts", "--format", "json", cwd=repo)
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert (report["identical"], report["diverged"], report["unreadable"]) == (1, 0, 1)
    verdicts = {Path(t["path"]).name: t["result"] for t in report["transcripts"]}
    assert verdicts == {"bad.jsonl": "unreadable", GOLDEN.name: "identical"}


def test_a_line_over_the_limit_is_refused_by_its_length(run_cli: RunCli, repo: Path) -> None:
    over = json.dumps({"type": "narration", "turn": 0, "text": "a" * MAX_LINE_BYTES})
    (repo / "transcripts" / "huge.jsonl").write_text(f"{HEADER}\n{over}\n", encoding="utf-8")
    result = run_cli("replay", "transcripts", cwd=repo)
    assert result.returncode == 2
    assert result.stderr.startswith(
        f"mardonar: transcripts/huge.jsonl:2: a line longer than {MAX_LINE_BYTES // 2**20} MiB"
    )
    assert f"{GOLDEN.name}: identical" in result.stdout


def test_a_line_at_the_limit_is_read(tmp_path: Path) -> None:
    start = '{"type": "narration", "turn": 0, "text": "'
    text = "a" * (MAX_LINE_BYTES - len(start) - 2)
    path = tmp_path / "full.jsonl"
    path.write_text(f'{HEADER}\n{start}{text}"}}\n', encoding="utf-8")
    records = list(read_transcript(path))
    assert records[1]["text"] == text


def test_a_gigabyte_line_is_refused_having_read_only_the_limit(tmp_path: Path) -> None:
    """A FIFO fed a 1 GiB line by a thread: the reader gives up after the limit and closes
    it, so the writer is stopped (broken pipe) having written little more than the limit —
    the whole line is never held, nor even read."""
    fifo = tmp_path / "endless.jsonl"
    os.mkfifo(fifo)
    written = 0
    chunk = b"a" * 2**20

    def feed() -> None:
        nonlocal written
        with open(fifo, "wb") as out:
            try:
                out.write(HEADER.encode() + b'\n{"type": "narration", "turn": 0, "text": "')
                for _ in range(1024):  # 1 GiB
                    out.write(chunk)
                    written += len(chunk)
                out.write(b'"}\n')
            except BrokenPipeError:
                return

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    with pytest.raises(UsageError, match=r"endless\.jsonl:2: a line longer than"):
        list(read_transcript(fifo))
    writer.join(timeout=60)
    assert not writer.is_alive()
    # What the pipe and one write held beyond the limit, far from the gigabyte.
    assert written <= MAX_LINE_BYTES + 4 * len(chunk)


def test_transcript_text_in_the_report_cannot_reach_the_terminal(
    run_cli: RunCli, repo: Path
) -> None:
    """A recorded check id with a title-setting OSC, a screen clear and a C1 CSI diverges
    from what the engine rolls now: every report shows the escapes as text."""
    path = repo / "transcripts" / GOLDEN.name
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    tool = next(record for record in records if record["type"] == "tool")
    tool["args"]["check"] = "\x1b]0;pwned\x07\x1b[2J\x9b31m" + tool["args"]["check"]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    for output in ("text", "github", "json"):
        result = run_cli("replay", str(path), "--format", output, cwd=repo)
        assert result.returncode == 1, result.stderr
        shown = result.stdout
        assert "\x1b" not in shown and "\x07" not in shown and "\x9b" not in shown, output
        if output == "json":
            [line] = json.loads(shown)["transcripts"][0]["diff"]
            assert line.startswith("check \x1b]0;pwned\x07\x1b[2J\x9b31m")  # the same JSON
        else:
            assert "\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m" in shown, output


def test_an_escape_in_a_bad_line_is_shown_as_text(run_cli: RunCli, repo: Path) -> None:
    header = json.dumps({"type": "header", "spec": "\x9b2Jx", "seed": 1}, ensure_ascii=False)
    (repo / "transcripts" / "bad.jsonl").write_text(header + "\n", encoding="utf-8")
    result = run_cli("replay", "transcripts/bad.jsonl", cwd=repo)
    assert result.returncode == 2
    assert "\x9b" not in result.stderr and '"\\x9b2Jx" is not a spec id' in result.stderr
