"""Content files that resolve outside the repository are never read (issue #12, item 7).

`ln -sf /proc/self/environ lore/env.md` once put the bot's own environment (its Discord
token, its LLM key) into lore search, where the GM's `lore_search` tool and every `serve
mcp` client could read it. Lint reports such a file (M103) without reading it; every loader
(bundle, lore, spec, persona, party, test plan) refuses it with a line naming the file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mardonar.content.bundle import load_bundle, load_lore
from mardonar.content.lint.runner import default_paths, run_lint
from mardonar.errors import UsageError
from tests.conftest import RunCli
from tests.helpers import repo_fixture

repo = repo_fixture()

SECRET = "sk-environ-secret-5521"


def _codes(root: Path) -> list[tuple[str, str]]:
    report = run_lint(default_paths(root), use_cache=False)
    return [(f.path, f.code) for f in report.findings if f.severity == "error"]


def test_lore_linked_to_the_environment_is_a_lint_error(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "lore" / "env.md").symlink_to("/proc/self/environ")
    monkeypatch.chdir(repo)
    assert _codes(repo) == [("lore/env.md", "M103")]


def test_lore_linked_to_the_environment_is_never_indexed(
    run_cli: RunCli, repo: Path, tmp_path: Path
) -> None:
    """`play` refuses the bundle, naming the file; the secret reaches neither its output
    nor the database `serve mcp` serves lore search from."""
    (repo / "lore" / "env.md").symlink_to("/proc/self/environ")
    data = tmp_path / "data"
    result = run_cli(
        "play",
        "goblin-toll-bridge",
        "--plain",
        "--model",
        "offline",
        cwd=repo,
        env={"DISCORD_TOKEN": SECRET, "DATA_DIR": str(data)},
        input="I look around.\n",
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("mardonar: lore/env.md:1:1: the file resolves outside the")
    assert SECRET not in result.stdout + result.stderr
    database = data / "mardonar.db"
    if database.exists():
        with sqlite3.connect(database) as db:
            tables = [row[0] for row in db.execute("select name from sqlite_master")]
            for table in tables:
                assert SECRET not in repr(db.execute(f'select * from "{table}"').fetchall())
    with pytest.raises(UsageError, match=r"lore/env\.md: resolves outside the repository"):
        load_lore(repo)
    with pytest.raises(UsageError, match=r"lore/env\.md:1:1: .*\[M103\]"):
        load_bundle("goblin-toll-bridge", cwd=repo)


def test_a_spec_linked_outside_is_refused_by_id_by_path_and_by_lint(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text((repo / "specs" / "goblin-toll-bridge.yaml").read_text("utf-8"), "utf-8")
    (repo / "specs" / "goblin-toll-bridge.yaml").unlink()
    (repo / "specs" / "goblin-toll-bridge.yaml").symlink_to(elsewhere)
    monkeypatch.chdir(repo)
    for given in ("goblin-toll-bridge", "specs/goblin-toll-bridge.yaml"):
        with pytest.raises(UsageError, match=r"goblin-toll-bridge\.yaml: resolves outside"):
            load_bundle(given, cwd=repo)
    assert ("specs/goblin-toll-bridge.yaml", "M103") in _codes(repo)


def test_a_persona_linked_outside_is_reported_and_not_read(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fifo = tmp_path / "never-written"  # reading it would block lint forever
    import os

    os.mkfifo(fifo)
    (repo / "persona.yaml").unlink()
    (repo / "persona.yaml").symlink_to(fifo)
    monkeypatch.chdir(repo)
    assert ("persona.yaml", "M103") in _codes(repo)
    with pytest.raises(UsageError, match=r"persona\.yaml"):
        load_bundle("goblin-toll-bridge", cwd=repo)


def test_a_test_plan_linked_outside_is_refused(run_cli: RunCli, repo: Path, tmp_path: Path) -> None:
    plan = repo / "specs" / "goblin-toll-bridge.test.yaml"
    elsewhere = tmp_path / "plan.test.yaml"
    elsewhere.write_text(plan.read_text("utf-8"), "utf-8")
    plan.unlink()
    plan.symlink_to(elsewhere)
    result = run_cli("test", cwd=repo)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "specs/goblin-toll-bridge.test.yaml:1:1: error[M103]" in result.stdout


def test_a_symlink_that_stays_inside_the_repository_is_fine(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "notes").mkdir()
    (repo / "notes" / "trolls.md").write_text("# Trolls\nThey sleep under bridges.\n", "utf-8")
    (repo / "lore" / "trolls.md").symlink_to(repo / "notes" / "trolls.md")
    monkeypatch.chdir(repo)
    assert _codes(repo) == []
    bundle = load_bundle("goblin-toll-bridge", cwd=repo)
    assert any(doc.id == "trolls" and "bridges" in doc.body for doc in bundle.lore)
