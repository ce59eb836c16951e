"""The command line as a user meets it: version, help, one-line errors, `mardonar new spec`."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from mardonar import __version__
from mardonar.cli import new
from mardonar.content.models import Spec
from tests.engine_helpers import copy_content
from tests.helpers import one_line_error

RunCli = Callable[..., subprocess.CompletedProcess[str]]

COMMANDS = (
    "play",
    "lint",
    "replay",
    "schema",
    "new",
    "explore",
    "test",
    "doctor",
    "tally",
    "serve",
    "discord",
)


def test_version(run_cli: RunCli) -> None:
    result = run_cli("--version")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"mardonar {__version__}"


def test_help_lists_every_command(run_cli: RunCli) -> None:
    result = run_cli("--help")

    assert result.returncode == 0, result.stderr
    listed = {line.strip("│ ").split(" ")[0] for line in result.stdout.splitlines()}
    missing = [command for command in COMMANDS if command not in listed]
    assert not missing, f"--help does not list {missing}:\n{result.stdout}"


def test_an_unconfigured_server_fails_in_one_line(run_cli: RunCli, tmp_path: Path) -> None:
    """`serve discord` without a token: one line naming the setting, no traceback, exit 2."""
    result = run_cli("serve", "discord", cwd=tmp_path, timeout=30)

    line = one_line_error(result)
    assert result.returncode == 2
    assert line.startswith("mardonar: DISCORD_TOKEN is not set")


def test_help_texts_keep_their_placeholders() -> None:
    """Help is rendered as Markdown, which swallows `<id>` outside a code span as an HTML
    tag (`specs/<id>.test.yaml` showed as `specs/.test.yaml`): every placeholder of every
    command's help must sit in backticks."""
    import re

    import typer.main

    from mardonar.cli import app

    def commands(command: object) -> list[object]:
        subs = list(getattr(command, "commands", {}).values())
        return [command, *[leaf for sub in subs for leaf in commands(sub)]]

    exposed: list[str] = []
    for command in commands(typer.main.get_command(app)):
        texts = [getattr(command, "help", None) or ""]
        texts += [getattr(p, "help", None) or "" for p in getattr(command, "params", [])]
        for text in texts:
            outside_code = re.sub(r"`[^`]*`", "", text)
            exposed += re.findall(r"<[^>\s]+>", outside_code)
    assert exposed == []


def _every_command_path() -> list[list[str]]:
    import typer.main

    from mardonar.cli import app

    def walk(command: object, path: list[str]) -> list[list[str]]:
        subs = getattr(command, "commands", {})
        return [path, *[p for name, sub in subs.items() for p in walk(sub, [*path, name])]]

    return walk(typer.main.get_command(app), [])


def test_help_shows_flags_without_a_type_and_arguments_as_in_the_docstrings() -> None:
    """Typer 0.2x wrote `--version <bool>` (a flag takes no value) and `{spec}` in the usage
    line, where the docstrings say SPEC: every command's help, the way click shows it."""
    import re

    from typer.testing import CliRunner

    from mardonar.cli import app

    runner = CliRunner()
    usages: dict[str, str] = {}
    for path in _every_command_path():
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "100"})
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.output, (path, result.output)
        [usage] = [line.strip() for line in result.output.splitlines() if "Usage:" in line]
        assert "{" not in usage, (path, usage)
        usages[" ".join(path)] = re.sub(r"\s+", " ", usage)
    assert usages["play"] == "Usage: mardonar play [OPTIONS] SPEC"
    assert usages["lint"] == "Usage: mardonar lint [OPTIONS] [PATHS]..."
    assert usages["replay"] == "Usage: mardonar replay [OPTIONS] PATHS..."
    version = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "100"}).output
    assert re.search(r"--version +Print the version and exit", version), version


def test_new_spec_writes_a_valid_spec(run_cli: RunCli, tmp_repo: Path) -> None:
    result = run_cli("new", "spec", "misty-crossroads", cwd=tmp_repo)

    assert result.returncode == 0, result.stderr
    written = tmp_repo / "specs" / "misty-crossroads.yaml"
    assert written.is_file()
    assert result.stdout.splitlines()[:3] == [
        "wrote specs/misty-crossroads.yaml",
        "wrote specs/misty-crossroads.test.yaml (its test plan)",
        "next: edit them, then `mardonar lint specs/misty-crossroads.yaml` and "
        "`mardonar test specs/misty-crossroads.test.yaml`",
    ]
    # this repository has no schemas/ yet, so editors could not follow the template's
    # `$schema=` line: the command says how to get them
    assert "mardonar schema" in result.stdout.splitlines()[3]
    text = written.read_text(encoding="utf-8")
    assert "__ID__" not in text and "__TITLE__" not in text
    spec = Spec.model_validate(yaml.safe_load(text))
    assert spec.id == "misty-crossroads"
    assert spec.title == "Misty Crossroads"


def test_a_new_spec_comes_with_a_test_plan_that_lints_clean_and_passes(
    run_cli: RunCli, tmp_path: Path
) -> None:
    """The README's "Writing a spec" in a clone: `make test` wants a test plan for every
    spec (tests/test_outcomes.py), so `new spec` writes one, and it holds for the spec."""
    repo = copy_content(tmp_path / "repo")
    assert run_cli("new", "spec", "night-market", cwd=repo).returncode == 0
    plan = repo / "specs" / "night-market.test.yaml"
    assert plan.read_text(encoding="utf-8").startswith(
        "# yaml-language-server: $schema=../schemas/testplan.schema.json\n"
    )
    lint = run_cli("lint", cwd=repo)
    assert lint.returncode == 0 and lint.stdout.splitlines()[-1].startswith("0 errors"), lint
    tested = run_cli("test", "specs/night-market.test.yaml", cwd=repo)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.splitlines()[-1].startswith("2 passed, 0 failed")


def test_new_spec_refuses_to_overwrite_an_existing_test_plan(
    run_cli: RunCli, tmp_repo: Path
) -> None:
    (tmp_repo / "specs").mkdir(exist_ok=True)
    (tmp_repo / "specs" / "kept.test.yaml").write_text("spec: kept\n", encoding="utf-8")
    result = run_cli("new", "spec", "kept", cwd=tmp_repo)
    assert result.returncode == 2
    assert "specs/kept.test.yaml already exists" in result.stderr
    assert not (tmp_repo / "specs" / "kept.yaml").exists()


def test_new_spec_from_a_subfolder_writes_into_the_repository(
    run_cli: RunCli, tmp_repo: Path
) -> None:
    inside = tmp_repo / "lore"
    inside.mkdir()

    result = run_cli("new", "spec", "deep-dive", cwd=inside)

    assert result.returncode == 0, result.stderr
    assert (tmp_repo / "specs" / "deep-dive.yaml").is_file()
    assert not (inside / "specs").exists()


BAD_IDS = ["Goblin", "goblin_bridge", "goblin-", "goblin--bridge", "a b", "x" * 65]


@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_new_spec_refuses_a_bad_id(run_cli: RunCli, tmp_repo: Path, bad_id: str) -> None:
    result = run_cli("new", "spec", bad_id, cwd=tmp_repo)

    assert result.returncode == 2
    assert "is not a valid spec id" in one_line_error(result)
    assert list((tmp_repo / "specs").iterdir()) == []


def test_new_spec_refuses_an_existing_file(run_cli: RunCli, tmp_repo: Path) -> None:
    existing = tmp_repo / "specs" / "taken.yaml"
    existing.write_text("# the author's work\n", encoding="utf-8")

    result = run_cli("new", "spec", "taken", cwd=tmp_repo)

    assert result.returncode == 2
    line = one_line_error(result)
    assert "specs/taken.yaml already exists" in line and "--force" in line
    assert existing.read_text(encoding="utf-8") == "# the author's work\n"


def test_new_spec_force_overwrites(run_cli: RunCli, tmp_repo: Path) -> None:
    existing = tmp_repo / "specs" / "taken.yaml"
    existing.write_text("# the author's work\n", encoding="utf-8")

    result = run_cli("new", "spec", "taken", "--force", cwd=tmp_repo)

    assert result.returncode == 0, result.stderr
    assert Spec.model_validate(yaml.safe_load(existing.read_text(encoding="utf-8"))).id == "taken"


def test_new_spec_refuses_an_id_another_file_declares(run_cli: RunCli, tmp_repo: Path) -> None:
    (tmp_repo / "specs" / "old-name.yaml").write_text("id: renamed\n", encoding="utf-8")

    result = run_cli("new", "spec", "renamed", cwd=tmp_repo)

    assert result.returncode == 2
    assert "specs/old-name.yaml already has `id: renamed`" in one_line_error(result)


def test_spec_template_ships_in_the_package() -> None:
    """The template is package data, read through importlib.resources as installed code does."""
    text = new._template(new.TEMPLATE)
    assert "__ID__" in text and "__TITLE__" in text


def test_title_of() -> None:
    assert new.title_of("goblin-toll-bridge") == "Goblin Toll Bridge"
    assert new.title_of("room-101") == "Room 101"
