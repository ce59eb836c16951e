"""`mardonar lint` as a user runs it: a subprocess, its output formats, exit codes and cache.

Every run gets its own cache folder (MARDONAR_CACHE_DIR) so no test sees another's cache,
and this checkout comes first on PYTHONPATH so the code under test is the code run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mardonar.content.lint import cache as lint_cache
from mardonar.content.lint.cache import cache_version
from mardonar.content.lint.findings import CODES
from mardonar.content.lint.runner import run_lint
from tests.helpers import write

CHECKOUT = Path(__file__).resolve().parent.parent

PERSONA = """\
voice: A terse test GM.
skills: [intimidation, persuasion, stealth]
"""

PARTY = """\
characters:
  - player: aria
    name: Aria
    class: rogue
    skills: {stealth: 5}
"""

SPEC = """\
id: toll
title: The Toll
summary: A goblin demands a toll.
setting: A rickety bridge.
opening: A goblin blocks the bridge.
npcs:
  - id: grukk
    name: Grukk
checks:
  - id: scare
    skill: intimidation
    dc: 13
    npc: grukk
    trigger: A player threatens Grukk
    keywords: [threaten]
    on_success: Grukk steps aside.
    on_failure: Grukk whistles.
    leads_to: crossed
outcomes:
  - id: crossed
    result: success
    when: The party crosses
    xp: 100
lore: [goblins]
"""

TEST_PLAN = """\
spec: toll
cases:
  - name: scaring works
    as: aria
    lines: [I threaten Grukk]
    expect: {outcome: crossed}
"""

LINE = re.compile(
    r"^(?P<path>[^:\n]+):(?P<line>\d+):(?P<col>\d+): (?P<severity>error|warning)"
    r"\[(?P<code>M\d{3})\] (?P<message>.+)$"
)
COUNT = re.compile(r"^\d+ errors?, \d+ warnings? in \d+ files?$")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write(root, "persona.yaml", PERSONA)
    write(root, "party.yaml", PARTY)
    write(root, "lore/goblins.md", "# Goblins\n")
    write(root, "specs/toll.yaml", SPEC)
    write(root, "specs/toll.test.yaml", TEST_PLAN)
    return root


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def lint_cli(cwd: Path, *args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("LOG_LEVEL", "MARDONAR_DEBUG", "XDG_CACHE_HOME")
    }
    env["MARDONAR_CACHE_DIR"] = str(cache)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CHECKOUT), env.get("PYTHONPATH")]))
    env["PYTHONIOENCODING"] = "utf-8"
    result = subprocess.run(
        [sys.executable, "-m", "mardonar", "lint", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert "internal error" not in result.stderr, result.stderr
    return result


def break_dc(repo: Path) -> None:
    """One error: dc 31 (M203 at specs/toll.yaml:12:9)."""
    write(repo, "specs/toll.yaml", SPEC.replace("dc: 13", "dc: 31"))


def drop_keywords(repo: Path) -> None:
    """One warning: a check without keywords (M402 at specs/toll.yaml:10:9)."""
    write(repo, "specs/toll.yaml", SPEC.replace("    keywords: [threaten]\n", ""))


# --------------------------------------------------------------------------- formats


def test_text_format_is_one_finding_a_line_then_a_count(repo: Path, cache: Path) -> None:
    break_dc(repo)
    write(repo, "party.yaml", PARTY.replace("stealth: 5", "stealth: 5, sailing: 1"))
    result = lint_cli(repo, cache=cache)
    lines = result.stdout.splitlines()
    assert lines == [
        "party.yaml:5:26: error[M304] characters[0].skills: 'sailing' is not one of the "
        "persona's skills",
        "specs/toll.yaml:12:9: error[M203] checks[0].dc: must be at most 30, got 31",
        "2 errors, 0 warnings in 5 files",
    ]
    assert all(LINE.match(line) for line in lines[:-1])
    assert COUNT.match(lines[-1])
    assert result.returncode == 1


def test_text_format_counts_singular_and_plural(repo: Path, cache: Path) -> None:
    drop_keywords(repo)
    result = lint_cli(repo, "specs/toll.yaml", cache=cache)
    assert result.stdout.splitlines()[-1] == "0 errors, 1 warning in 1 file"


def test_json_format_is_a_list_of_findings_with_the_contract_keys(repo: Path, cache: Path) -> None:
    write(repo, "specs/toll.yaml", SPEC.replace("dc: 13", "dc: 31").replace("leads_to", "lead_to"))
    result = lint_cli(repo, "--format", "json", cache=cache)
    data = json.loads(result.stdout)
    assert isinstance(data, list)
    assert data, result.stdout
    for item in data:
        assert set(item) == {"path", "line", "col", "severity", "code", "message"}
        assert item["code"] in CODES
        assert item["severity"] == CODES[item["code"]][0]
        assert isinstance(item["line"], int)
        assert isinstance(item["col"], int)
    assert {
        "path": "specs/toll.yaml",
        "line": 18,
        "col": 5,
        "severity": "error",
        "code": "M204",
        "message": "unknown key 'lead_to' in checks[0]; did you mean 'leads_to'?",
    } in data
    assert result.returncode == 1


def test_json_format_of_a_clean_run_is_an_empty_list(repo: Path, cache: Path) -> None:
    result = lint_cli(repo, "--format", "json", cache=cache)
    assert json.loads(result.stdout) == []
    assert result.returncode == 0


def test_github_format_is_workflow_commands(repo: Path, cache: Path) -> None:
    spec = SPEC.replace("dc: 13", "dc: 31").replace("    keywords: [threaten]\n", "")
    write(repo, "specs/toll.yaml", spec)
    result = lint_cli(repo, "--format", "github", cache=cache)
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "::warning file=specs/toll.yaml,line=10,col=9,title=M402::check 'scare' has no "
        "keywords: the offline narrator and the missed-check heuristic cannot see when it "
        "should be called"
    )
    assert lines[1].startswith("::error file=specs/toll.yaml,line=12,col=9,title=M203::")
    assert COUNT.match(lines[-1])


def test_github_format_escapes_commas_and_colons_in_the_file_name(repo: Path, cache: Path) -> None:
    write(repo, "specs/a,b:c.yaml", SPEC)
    result = lint_cli(repo, "--format", "github", "specs/a,b:c.yaml", cache=cache)
    assert result.stdout.startswith("::warning file=specs/a%2Cb%3Ac.yaml,line=1,col=5,")


# --------------------------------------------------------------------------- exit codes


def test_exit_0_when_clean(repo: Path, cache: Path) -> None:
    result = lint_cli(repo, cache=cache)
    assert (result.returncode, result.stdout) == (0, "0 errors, 0 warnings in 5 files\n")
    assert result.stderr == ""


def test_exit_1_on_errors(repo: Path, cache: Path) -> None:
    break_dc(repo)
    assert lint_cli(repo, cache=cache).returncode == 1


def test_exit_0_with_warnings_only(repo: Path, cache: Path) -> None:
    drop_keywords(repo)
    result = lint_cli(repo, cache=cache)
    assert result.returncode == 0
    assert "warning[M402]" in result.stdout


def test_exit_1_with_warnings_and_strict(repo: Path, cache: Path) -> None:
    drop_keywords(repo)
    assert lint_cli(repo, "--strict", cache=cache).returncode == 1


def test_exit_0_with_strict_and_no_findings(repo: Path, cache: Path) -> None:
    assert lint_cli(repo, "--strict", cache=cache).returncode == 0


def test_exit_2_and_one_line_for_a_missing_path(repo: Path, cache: Path) -> None:
    result = lint_cli(repo, "specs/nope.yaml", cache=cache)
    assert result.returncode == 2
    assert result.stderr == "mardonar: specs/nope.yaml: no such file or directory\n"
    assert result.stdout == ""


def test_exit_2_for_a_file_lint_does_not_read(repo: Path, cache: Path) -> None:
    write(repo, "notes.txt", "hello\n")
    result = lint_cli(repo, "notes.txt", cache=cache)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    "args",
    [["--bogus"], ["--format", "xml"], ["--prompt-budget", "lots"], ["--prompt-budget", "5"]],
)
def test_exit_2_for_a_bad_flag(repo: Path, cache: Path, args: list[str]) -> None:
    result = lint_cli(repo, *args, cache=cache)
    assert result.returncode == 2
    assert "Error" in result.stderr
    assert result.stdout == ""


# --------------------------------------------------------------------------- default paths


def test_no_arguments_lints_the_repository_of_the_current_folder(repo: Path, cache: Path) -> None:
    break_dc(repo)
    write(repo, "README.yaml", "not: a spec\n")  # outside the default paths: never read
    result = lint_cli(repo / "specs", cache=cache)
    assert result.returncode == 1
    # Paths are shown relative to where lint runs.
    assert result.stdout.splitlines() == [
        "toll.yaml:12:9: error[M203] checks[0].dc: must be at most 30, got 31",
        "1 error, 0 warnings in 5 files",
    ]


def test_no_arguments_outside_any_repository_is_exit_2_with_one_line(
    tmp_path: Path, cache: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    result = lint_cli(outside, cache=cache)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert "no persona.yaml" in result.stderr


def test_a_single_spec_from_another_folder_is_checked_against_its_repository(
    repo: Path, tmp_path: Path, cache: Path
) -> None:
    # perception is a default skill, but this repository's persona does not list it.
    write(repo, "specs/toll.yaml", SPEC.replace("skill: intimidation", "skill: perception"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = lint_cli(elsewhere, str(repo / "specs" / "toll.yaml"), cache=cache)
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == (
        "../repo/specs/toll.yaml:11:12: error[M303] checks[0].skill: 'perception' is not one "
        "of the persona's skills; did you mean 'persuasion'?"
    )


# --------------------------------------------------------------------------- the cache


def test_second_run_gives_identical_output_from_the_cache(repo: Path, cache: Path) -> None:
    break_dc(repo)
    drop_keywords(repo)
    write(repo, "specs/other.yaml", SPEC.replace("id: toll", "id: toll2"))
    first = lint_cli(repo, cache=cache)
    assert (cache / "lint-cache.json").is_file()
    second = lint_cli(repo, cache=cache)
    assert second.stdout == first.stdout
    assert second.returncode == first.returncode
    for fmt in ("json", "github"):
        assert (
            lint_cli(repo, "--format", fmt, cache=cache).stdout
            == lint_cli(repo, "--format", fmt, "--no-cache", cache=cache).stdout
        )


def test_the_cache_really_serves_unchanged_files(
    repo: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MARDONAR_CACHE_DIR", str(cache))
    monkeypatch.chdir(repo)
    first = run_lint([Path("specs"), Path("persona.yaml")])
    second = run_lint([Path("specs"), Path("persona.yaml")])
    assert (first.cached, second.cached) == (0, 2)  # test plans are never cached
    assert second.findings == first.findings


def test_a_save_leaves_no_temporary_file_and_sweeps_abandoned_ones(
    repo: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process killed mid-save (SIGKILL: no clean-up runs) leaves a temporary file; the
    next save an hour later removes it. One that may be another process's save is kept."""
    monkeypatch.setenv("MARDONAR_CACHE_DIR", str(cache))
    cache.mkdir(parents=True)
    abandoned, recent = cache / ".lint-cache-abandoned", cache / ".lint-cache-in-progress"
    for path in (abandoned, recent):
        path.write_text('{"version": "0", "entr', encoding="utf-8")
    os.utime(abandoned, (os.path.getmtime(abandoned) - 7200,) * 2)
    run_lint([repo / "specs"])
    assert sorted(p.name for p in cache.glob("*lint-cache*")) == [recent.name, "lint-cache.json"]


def test_a_cache_written_by_other_lint_code_is_not_used(
    repo: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MARDONAR_CACHE_DIR", str(cache))
    assert run_lint([repo / "specs"]).cached == 0
    assert run_lint([repo / "specs"]).cached == 1
    # Same __version__, different source (a `git pull` in a checkout): nothing is reused.
    monkeypatch.setattr(lint_cache, "cache_version", lambda: "0.0.0+other-code")
    assert run_lint([repo / "specs"]).cached == 0


@pytest.mark.parametrize(
    "module", ["dicenotation.py", "content/lint/rules.py", "content/yamlpos.py"]
)
def test_the_cache_version_follows_every_module_lint_runs(
    module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An edit to lint's own code, or to the dice notation its M203 reads from below the
    content layer, makes every cached result stale."""
    edited = (Path(lint_cache.__file__).resolve().parent.parent.parent / module).resolve()
    assert edited.is_file()
    before = cache_version()
    read_bytes = Path.read_bytes

    def read_edited(path: Path) -> bytes:
        return read_bytes(path) + (b"\n# edited\n" if path == edited else b"")

    monkeypatch.setattr(Path, "read_bytes", read_edited)
    cache_version.cache_clear()
    try:
        assert cache_version() != before
    finally:
        cache_version.cache_clear()  # the next caller digests the real files again


@pytest.mark.parametrize("damage", [1, None, {"findings": [{"line": 1}]}, {"spec": "x"}])
def test_a_damaged_cache_entry_is_a_miss_not_a_crash(
    repo: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, damage: object
) -> None:
    monkeypatch.setenv("MARDONAR_CACHE_DIR", str(cache))
    break_dc(repo)
    first = run_lint([repo / "specs" / "toll.yaml"])
    store = cache / "lint-cache.json"
    data = json.loads(store.read_text(encoding="utf-8"))
    data["entries"] = dict.fromkeys(data["entries"], damage)
    store.write_text(json.dumps(data), encoding="utf-8")
    second = run_lint([repo / "specs" / "toll.yaml"])
    assert second.cached == 0
    assert second.findings == first.findings


def test_no_cache_flag_writes_no_cache(repo: Path, cache: Path) -> None:
    lint_cli(repo, "--no-cache", cache=cache)
    assert not cache.exists()


def test_editing_a_spec_changes_the_result(repo: Path, cache: Path) -> None:
    assert lint_cli(repo, cache=cache).returncode == 0
    break_dc(repo)
    result = lint_cli(repo, cache=cache)
    assert "error[M203]" in result.stdout
    write(repo, "specs/toll.yaml", SPEC)
    assert lint_cli(repo, cache=cache).stdout == "0 errors, 0 warnings in 5 files\n"


def test_changing_the_persona_changes_a_specs_skill_findings(repo: Path, cache: Path) -> None:
    assert lint_cli(repo, cache=cache).returncode == 0
    write(repo, "persona.yaml", PERSONA.replace("intimidation, ", ""))
    result = lint_cli(repo, cache=cache)
    assert "specs/toll.yaml:11:12: error[M303]" in result.stdout
    assert "party.yaml" not in result.stdout  # the party does not use intimidation
    write(repo, "persona.yaml", PERSONA.replace("stealth", "sneaking"))
    result = lint_cli(repo, cache=cache)
    assert "specs/toll.yaml" not in result.stdout
    assert "party.yaml:5:14: error[M304] characters[0].skills: 'stealth'" in result.stdout


def test_removing_a_lore_file_changes_a_specs_findings(repo: Path, cache: Path) -> None:
    assert lint_cli(repo, cache=cache).returncode == 0
    (repo / "lore" / "goblins.md").unlink()
    result = lint_cli(repo, cache=cache)
    assert "specs/toll.yaml:24:8: error[M302] lore[0]: no file lore/goblins.md" in result.stdout


def test_renaming_a_spec_changes_the_file_name_warning(repo: Path, cache: Path) -> None:
    assert lint_cli(repo, cache=cache).returncode == 0
    (repo / "specs" / "toll.yaml").rename(repo / "specs" / "bridge.yaml")
    assert "specs/bridge.yaml:1:5: warning[M306]" in lint_cli(repo, cache=cache).stdout


def test_changing_the_party_changes_a_test_plans_findings(repo: Path, cache: Path) -> None:
    assert lint_cli(repo, cache=cache).returncode == 0
    write(repo, "party.yaml", PARTY.replace("player: aria", "player: bram"))
    result = lint_cli(repo, cache=cache)
    assert "specs/toll.test.yaml:4:9: error[M302] cases[0].as: no player 'aria'" in result.stdout


def test_changing_the_prompt_budget_changes_the_size_warning(repo: Path, cache: Path) -> None:
    assert "M404" not in lint_cli(repo, cache=cache).stdout
    assert "warning[M404]" in lint_cli(repo, "--prompt-budget", "100", cache=cache).stdout
    assert "M404" not in lint_cli(repo, cache=cache).stdout


def test_a_corrupt_cache_file_is_ignored(repo: Path, cache: Path) -> None:
    break_dc(repo)
    expected = lint_cli(repo, "--no-cache", cache=cache).stdout
    this = json.dumps(cache_version())
    for garbage in (
        "{not json",
        "[1, 2]",
        "\x00\xff",
        f'{{"version": {this}, "entries": []}}',
        f'{{"version": {this}, "entries": {{"k": 1}}}}',
    ):
        write(cache, "lint-cache.json", garbage)
        assert lint_cli(repo, cache=cache).stdout == expected


def test_an_unwritable_cache_location_only_costs_speed(repo: Path, tmp_path: Path) -> None:
    blocker = write(tmp_path, "a-file", "not a folder\n")
    result = lint_cli(repo, cache=blocker / "cache")
    assert (result.returncode, result.stdout) == (0, "0 errors, 0 warnings in 5 files\n")


# --------------------------------------------------------------------------- shipped content


def test_shipped_repository_lints_clean__depends_on_example_content(tmp_path: Path) -> None:
    """DEPENDS ON THE EXAMPLE CONTENT (specs/, lore/, persona.yaml, party.yaml of this
    checkout), not only on lint: a failure here may be a content problem; the output says
    which file and line."""
    result = lint_cli(CHECKOUT, cache=tmp_path / "cache")
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[-1].startswith("0 errors, 0 warnings in ")
