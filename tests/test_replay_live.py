"""`mardonar replay --live` (issue #6, item 2): the recorded player lines against the
configured model, over real HTTP, compared by facts (checks, outcome, XP, items).

The model is tests/llm_server.py's scripted OpenAI-compatible server playing the scripted
golden's own answers (so the same checks are made: the facts agree), or a changed copy of
them (a check skipped, another outcome reached: the facts differ and are named).
"""

# ruff: noqa: F811
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mardonar.llm.scripted import ScriptedLLM, ScriptedReply
from tests.conftest import RunCli
from tests.helpers import repo_fixture
from tests.llm_server import ScriptedServer, llm_server, serve_llm  # noqa: F401
from tests.test_replay import recorder

repo = repo_fixture(goldens=True)

SECRET = "sk-live-replay-secret-4471"
SPEC = "goblin-toll-bridge"


def _golden(repo: Path, kind: str = "scripted") -> Path:
    return repo / "transcripts" / "golden" / f"{SPEC}-{kind}.jsonl"


def _replies() -> list[Any]:
    return list(recorder.SCRIPTED[SPEC]["replies"])


def _index(replies: list[Any], tool: str, **args: str) -> int:
    """The position of the scripted answer that calls `tool` with `args`."""
    for index, reply in enumerate(replies):
        for name, given in getattr(reply, "tool_calls", []):
            if name == tool and all(given.get(k) == v for k, v in args.items()):
                return index
    raise AssertionError(f"no scripted {tool} call with {args}")


def _serve(server: ScriptedServer, replies: list[Any]) -> dict[str, str]:
    server.api_key = SECRET
    server.default = serve_llm(ScriptedLLM(replies, name="scripted"))
    return server.env()


def _live(run_cli: RunCli, repo: Path, env: dict[str, str], *args: Any) -> Any:
    return run_cli("replay", "--live", *args, cwd=repo, env={**env, "DATA_DIR": str(repo / "data")})


def test_the_same_answers_over_http_agree(
    run_cli: RunCli, repo: Path, llm_server: ScriptedServer
) -> None:
    env = _serve(llm_server, _replies())
    result = _live(run_cli, repo, env, _golden(repo))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    first = out.splitlines()[0]
    assert first.startswith(f"transcripts/golden/{SPEC}-scripted.jsonl: facts agree, 3 turns")
    assert f"live: litellm {llm_server.model} at http://127.0.0.1:{llm_server.port}/v1" in first
    # Both narrations, side by side, under their column headings.
    assert "recorded" in out and "live" in out
    assert "Grukk puffs out his chest." in out
    assert out.splitlines()[-1] == "1 agree, 0 differ"
    assert SECRET not in out + result.stderr
    assert len([r for r in llm_server.requests if r.is_chat]) == len(_replies())
    # Nothing was written to the repository's data folder: the live run is thrown away.
    assert not (repo / "data").exists()


def test_a_skipped_check_is_named(run_cli: RunCli, repo: Path, llm_server: ScriptedServer) -> None:
    replies = _replies()
    start = _index(replies, "skill_check", check="intimidate-grukk")
    # The model narrates the threat without rolling (twice: the engine corrects it once),
    # then plays the rest of the session as recorded.
    replies[start : start + 3] = [
        "Grukk eyes the axe and says nothing.",
        "Grukk eyes the axe, says nothing, and does not move.",
    ]
    env = _serve(llm_server, replies)
    result = _live(run_cli, repo, env, _golden(repo))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "facts differ" in result.stdout.splitlines()[0]
    assert "check intimidate-grukk (bram): failure → not called" in result.stdout
    assert result.stdout.splitlines()[-1] == "0 agree, 1 differ"
    assert SECRET not in result.stdout + result.stderr


def test_another_outcome_is_named_in_json(
    run_cli: RunCli, repo: Path, llm_server: ScriptedServer
) -> None:
    replies = _replies()
    index = _index(replies, "resolve", outcome="debt-settled")
    replies[index] = ScriptedReply(
        tool_calls=[("resolve", {"outcome": "paid-toll", "summary": "They paid the toll."})]
    )
    env = _serve(llm_server, replies)
    result = _live(run_cli, repo, env, _golden(repo), "--format", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert (report["agree"], report["differ"]) == (0, 1)
    [scripted] = report["transcripts"]
    assert scripted["result"] == "differ"
    assert "outcome: debt-settled → paid-toll" in scripted["differences"]
    assert scripted["recorded"]["outcome"] == "debt-settled"
    assert scripted["live"]["outcome"] == "paid-toll"
    assert scripted["live"]["checks"] == scripted["recorded"]["checks"]
    assert any(line.startswith("xp ") for line in scripted["differences"])
    assert [n["turn"] for n in scripted["narration"]] == [1, 2, 3]
    assert SECRET not in result.stdout + result.stderr


def test_an_unreachable_model_is_a_config_error(
    run_cli: RunCli, repo: Path, llm_server: ScriptedServer
) -> None:
    env = _serve(llm_server, _replies())
    llm_server.stop()  # connection refused
    result = _live(run_cli, repo, env, _golden(repo))
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "the live model never answered" in line and "mardonar doctor" in line
    assert f"127.0.0.1:{llm_server.port}" in line
    assert SECRET not in result.stdout + result.stderr


def test_the_offline_narrator_agrees_with_the_offline_goldens(run_cli: RunCli, repo: Path) -> None:
    files = sorted((repo / "transcripts" / "golden").glob("*-offline.jsonl"))
    result = run_cli("replay", "--live", "--model", "offline", *files, cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == f"{len(files)} agree, 0 differ"
    assert "live: offline narrator (--model offline)" in result.stdout


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--model", "gpt-x"], {}, "--model gpt-x: no LLM is configured"),
        (["--format", "github"], {}, "--live reports as text or json"),
        ([], {"MARDONAR_CONTEXT_BUDGET": "lots"}, "MARDONAR_CONTEXT_BUDGET"),
    ],
)
def test_usage_and_config_errors_exit_2_in_one_line(
    run_cli: RunCli, repo: Path, args: list[str], env: dict[str, str], says: str
) -> None:
    result = run_cli("replay", "--live", *args, _golden(repo), cwd=repo, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_model_needs_live(run_cli: RunCli, repo: Path) -> None:
    result = run_cli("replay", "--model", "offline", _golden(repo), cwd=repo)
    assert result.returncode == 2
    assert "--model only applies with --live" in result.stderr
