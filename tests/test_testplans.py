"""`mardonar test`: the authors' test plans, run like pytest (issue #6, item 6).

The CLI tests run the real command in a subprocess over a copy of the shipped content with
DATA_DIR in a temp folder, and check that nothing is written into either. The runner tests
(mardonar.harness.testplans) play cases in-process with the offline narrator and a scripted model.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from mardonar.content.models import TestPlan
from mardonar.harness.testplans import load_plan, play_case, run_plans, unmet
from mardonar.llm.scripted import ScriptedLLM
from tests.conftest import RunCli
from tests.engine_helpers import REPO, bundle, run
from tests.helpers import repo_fixture

repo = repo_fixture()

SUMMARY = re.compile(
    r"^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?(?:, (\d+) deselected)? in \d+\.\d\ds$"
)
PLAN_HEADER = "# yaml-language-server: $schema=../schemas/testplan.schema.json\n"


def _shipped_cases() -> list[str]:
    ids = []
    for path in sorted((REPO / "specs").glob("*.test.yaml")):
        plan = TestPlan.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        ids += [f"specs/{path.name}::{case.name}" for case in plan.cases]
    return ids


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def _files(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*")}


def _write_plan(repo: Path, name: str, plan: dict[str, object]) -> Path:
    path = repo / "specs" / name
    path.write_text(PLAN_HEADER + yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the CLI


def test_shipped_plans_all_pass(run_cli: RunCli, repo: Path, data_dir: Path) -> None:
    before = _files(repo)
    result = run_cli("test", cwd=repo, env={"DATA_DIR": str(data_dir)})
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    expected = _shipped_cases()
    assert len(expected) >= 11
    assert lines[:-1] == [f"{case} PASSED" for case in expected]
    summary = SUMMARY.match(lines[-1])
    assert summary, lines[-1]
    assert (summary.group(1), summary.group(2)) == (str(len(expected)), "0")
    # Each case runs in its own temporary folder: nothing lands in the repo or DATA_DIR.
    assert _files(repo) == before
    assert not data_dir.exists() or not any(data_dir.iterdir())


def test_a_wrong_expectation_fails_naming_each_unmet_one(run_cli: RunCli, repo: Path) -> None:
    plan = {
        "spec": "goblin-toll-bridge",
        "cases": [
            {
                "name": "Bram scares Grukk off the bridge",
                "seed": 1,
                "as": "bram",
                "lines": ["I threaten Grukk with my axe. Out of the way, little one!"],
                "expect": {
                    "outcome": "paid-toll",
                    "status": "resolved",
                    "checks": {"intimidate-grukk": "failure", "persuade-grukk": "success"},
                    "xp": {"bram": 100, "aria": 0},
                    "items": {"bram": ["toll-receipt"]},
                    "narration_contains": ["a phrase no narrator writes"],
                },
            },
            {
                "name": "Small talk resolves nothing",
                "lines": ["Good evening, Grukk. Lovely bridge."],
                "expect": {"status": "active"},
            },
        ],
    }
    path = _write_plan(repo, "wrong.test.yaml", plan)
    result = run_cli("test", path, cwd=repo)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "specs/wrong.test.yaml::Bram scares Grukk off the bridge FAILED"
    assert lines[1] == "    expected outcome paid-toll, got crossed-free"
    assert re.fullmatch(
        r"    check intimidate-grukk: expected failure, got success \(rolled \d+ vs DC \d+\)",
        lines[2],
    ), lines[2]
    assert lines[3] == "    check persuade-grukk: expected success, got not-rolled"
    assert lines[4] == "    xp bram: expected 100, got 60"
    assert lines[5] == "    items bram: expected [toll-receipt], got []"
    assert lines[6] == (
        "    narration: expected it to contain 'a phrase no narrator writes', it does not"
    )
    assert lines[7] == "specs/wrong.test.yaml::Small talk resolves nothing PASSED"
    assert SUMMARY.match(lines[8]) and lines[8].startswith("1 passed, 1 failed in ")
    assert len(lines) == 9


def test_k_selects_cases_by_id(run_cli: RunCli, repo: Path) -> None:
    result = run_cli("test", "-k", "BRAM", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    chosen = [case for case in _shipped_cases() if "bram" in case.casefold()]
    assert chosen and lines[:-1] == [f"{case} PASSED" for case in chosen]
    deselected = len(_shipped_cases()) - len(chosen)
    assert lines[-1].startswith(f"{len(chosen)} passed, 0 failed, {deselected} deselected in ")

    result = run_cli("test", "-k", "smugglers-chase.test", cwd=repo)
    assert result.returncode == 0
    assert all("smugglers-chase" in line for line in result.stdout.splitlines()[:-1])

    nothing = run_cli("test", "-k", "no such case", cwd=repo)
    assert nothing.returncode == 2
    assert nothing.stdout == ""
    assert nothing.stderr.strip().splitlines() == [
        "mardonar: -k no such case: no case id contains it"
    ]


def test_a_plan_file_or_a_folder_can_be_named(run_cli: RunCli, repo: Path) -> None:
    one = run_cli("test", "specs/haunted-lighthouse.test.yaml", cwd=repo)
    assert one.returncode == 0, one.stdout + one.stderr
    assert all(
        line.startswith("specs/haunted-lighthouse.test.yaml::")
        for line in one.stdout.splitlines()[:-1]
    )
    folder = run_cli("test", repo / "specs", cwd=repo / "lore")
    assert folder.returncode == 0, folder.stdout + folder.stderr
    assert len(folder.stdout.splitlines()) == len(_shipped_cases()) + 1


@pytest.mark.parametrize(
    "args",
    [("missing.test.yaml",), ("specs/goblin-toll-bridge.yaml",), ("lore",)],
    ids=["missing", "not-a-plan", "folder-without-plans"],
)
def test_usage_errors_exit_2_with_one_line(
    run_cli: RunCli, repo: Path, args: tuple[str, ...]
) -> None:
    result = run_cli("test", *args, cwd=repo)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"mardonar: {args[0]}"), result.stderr


def test_outside_a_repository_is_a_usage_error(run_cli: RunCli) -> None:
    result = run_cli("test")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "persona.yaml" in result.stderr


def test_a_plan_with_lint_errors_runs_nothing_and_exits_2(run_cli: RunCli, repo: Path) -> None:
    plan = {
        "spec": "goblin-toll-bridge",
        "cases": [{"name": "typo", "lines": ["Hello"], "expect": {"outcome": "crossed-fre"}}],
    }
    _write_plan(repo, "typo.test.yaml", plan)
    result = run_cli("test", cwd=repo)
    assert result.returncode == 2
    assert re.match(r"^specs/typo\.test\.yaml:\d+:\d+: error\[M302\] ", result.stdout)
    assert "PASSED" not in result.stdout and "FAILED" not in result.stdout
    assert result.stderr.strip().splitlines() == [
        "mardonar: the test plans have 1 lint error; fix them (see `mardonar lint`) and run "
        "again: no case was run"
    ]


def test_a_spec_without_a_test_plan_is_named_skipped_not_failed(
    run_cli: RunCli, repo: Path
) -> None:
    """Passed over in silence before: one SKIPPED line naming the plan to write, counted in
    the summary and the JSON report; the run still passes."""
    text = (repo / "specs" / "goblin-toll-bridge.yaml").read_text(encoding="utf-8")
    text = text.replace("id: goblin-toll-bridge", "id: lonely-bridge", 1)
    (repo / "specs" / "lonely-bridge.yaml").write_text(text, encoding="utf-8")
    result = run_cli("test", "-k", "toll", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "specs/lonely-bridge.yaml SKIPPED (no test plan: write specs/lonely-bridge.test.yaml, "
        "see docs/test-plans.md)"
    )
    assert sum("SKIPPED" in line for line in lines) == 1  # the specs with a plan are not
    summary = SUMMARY.match(lines[-1])
    assert summary and summary.group(3) == "1", lines[-1]
    report = json.loads(run_cli("test", "--format", "json", "-k", "toll", cwd=repo).stdout)
    assert report["skipped"] == ["specs/lonely-bridge.yaml"]


def test_control_characters_in_a_plan_never_reach_the_terminal(run_cli: RunCli, repo: Path) -> None:
    """A case name and a phrase carrying a window-title escape, an erase and a C1 CSI are
    shown as escapes in the text report and escaped in the JSON one."""
    plan = {
        "spec": "goblin-toll-bridge",
        "cases": [
            {
                "name": "pwn \x1b]0;pwned\x07 \x1b[2J \x9b31m",
                "seed": 1,
                "lines": ["Hello there."],
                "expect": {"narration_contains": ["\x1b[?1049h nowhere"]},
            }
        ],
    }
    _write_plan(repo, "evil.test.yaml", plan)
    text = run_cli("test", "specs/evil.test.yaml", cwd=repo)
    assert text.returncode == 1, text.stdout + text.stderr
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", text.stdout), repr(text.stdout)
    assert "pwn \\x1b]0;pwned\\x07 \\x1b[2J \\x9b31m FAILED" in text.stdout
    report = run_cli("test", "specs/evil.test.yaml", "--format", "json", cwd=repo)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", report.stdout), repr(report.stdout)
    [case] = json.loads(report.stdout)["cases"]
    assert case["name"] == plan["cases"][0]["name"]  # type: ignore[index]


def test_json_format(run_cli: RunCli, repo: Path) -> None:
    result = run_cli("test", "--format", "json", "-k", "toll", cwd=repo)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"passed", "failed", "deselected", "skipped", "seconds", "cases"}
    assert report["skipped"] == []
    assert report["failed"] == 0 and report["passed"] == len(report["cases"]) >= 1
    assert report["passed"] + report["deselected"] == len(_shipped_cases())
    case = report["cases"][0]
    assert set(case) == {
        "id",
        "plan",
        "spec",
        "name",
        "seed",
        "result",
        "failures",
        "got",
        "seconds",
    }
    assert case["result"] == "passed" and case["failures"] == []
    assert case["id"] == f"{case['plan']}::{case['name']}"
    assert set(case["got"]) == {"status", "outcome", "checks", "xp", "items", "narration"}


def test_help_lists_the_options(run_cli: RunCli) -> None:
    result = run_cli("test", "--help")
    assert result.returncode == 0
    for option in ("--format", "-k", "--model"):
        assert option in result.stdout


# --------------------------------------------------------------------------- the runner


def test_a_case_is_deterministic_and_reports_what_happened() -> None:
    plan = load_plan(REPO / "specs" / "goblin-toll-bridge.test.yaml")
    case = plan.plan.cases[0]
    first = run(play_case(bundle(), case))
    second = run(play_case(bundle(), case))
    assert first == second
    assert not unmet(case, first)
    assert first.outcome == "debt-settled" and first.status == "resolved"
    assert [r["success"] for r in first.checks["read-grukk"]] == [True]
    assert first.narration and first.narration[0].strip()


def test_narration_contains_is_case_insensitive() -> None:
    plan = TestPlan.model_validate(
        {
            "spec": "goblin-toll-bridge",
            "cases": [{"name": "n", "lines": ["Good evening, Grukk."]}],
        }
    )
    case = plan.cases[0]
    got = run(play_case(bundle(), case))
    phrase = got.narration[-1].strip().split("\n")[0][:20].upper()
    ok = case.model_copy(
        update={"expect": case.expect.model_copy(update={"narration_contains": [phrase]})}
    )
    assert unmet(ok, got) == []
    bad = case.model_copy(
        update={"expect": case.expect.model_copy(update={"narration_contains": ["zzz qqq"]})}
    )
    assert unmet(bad, got) == ["narration: expected it to contain 'zzz qqq', it does not"]


def test_a_scripted_model_can_play_the_gm() -> None:
    """Callers (tests, other tools) may pass any model; the CLI uses the offline narrator."""
    plan = TestPlan.model_validate(
        {
            "spec": "goblin-toll-bridge",
            "cases": [
                {
                    "name": "scripted",
                    "lines": ["Hello there.", "/as bram", "And hello again."],
                    "expect": {
                        "status": "active",
                        "narration_contains": ["Grukk eyes you warily"],
                        "checks": {"intimidate-grukk": "not-rolled"},
                    },
                }
            ],
        }
    )
    loaded = load_plan(REPO / "specs" / "goblin-toll-bridge.test.yaml")
    loaded.plan = plan
    models: list[ScriptedLLM] = []

    def scripted(_bundle: object, _seed: int) -> ScriptedLLM:
        models.append(ScriptedLLM(["Grukk eyes you warily."], repeat_last=True))
        return models[-1]

    outcome = run(run_plans([loaded], make_llm=scripted))
    assert (outcome.passed, outcome.failed) == (1, 0), outcome.results[0].failures
    assert models and models[0].calls == 2


def test_unsupported_commands_and_unknown_speakers_fail_the_case() -> None:
    plan = TestPlan.model_validate(
        {
            "spec": "goblin-toll-bridge",
            "cases": [
                {"name": "status", "lines": ["/status"]},
                {"name": "who", "lines": ["/as nobody", "Hello"]},
                {"name": "end", "lines": ["/roll 2d6", "/end", "Hello?"], "expect": {}},
            ],
        }
    )
    loaded = load_plan(REPO / "specs" / "goblin-toll-bridge.test.yaml")
    loaded.plan = plan
    outcome = run(run_plans([loaded]))
    status, who, end = outcome.results
    assert status.failures == [
        "error: line 1: /status is not supported in a test plan (supported: /as, /roll, /end)"
    ]
    assert len(who.failures) == 1 and who.failures[0].startswith("error: no party member 'nobody'")
    # /end ends the encounter: status ended, no outcome (which is what an empty expect wants).
    assert end.passed and end.got is not None and end.got.status == "ended"


def test_a_roll_over_the_dice_bounds_is_a_lint_error(run_cli: RunCli, repo: Path) -> None:
    """`/roll 1000d6` once passed lint and then ended `mardonar test` in an internal
    DiceError: the real dice parser checks it, with its bounds, and so does an unknown
    command."""
    plan = {
        "spec": "goblin-toll-bridge",
        "cases": [{"name": "huge", "lines": ["Hello", "/roll 1000d6", "/status"]}],
    }
    _write_plan(repo, "dice.test.yaml", plan)
    result = run_cli("test", cwd=repo)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("specs/dice.test.yaml:7:5: error[M203] cases[0].lines[1]: bad dice ")
    assert "at most 100 dice in total (got 1000)" in lines[0]
    assert lines[1] == (
        "specs/dice.test.yaml:8:5: error[M203] cases[0].lines[2]: /status is not supported in "
        "a test plan (supported: /as, /roll, /end)"
    )
    assert "internal error" not in result.stderr


def test_a_roll_over_the_dice_bounds_fails_its_case_when_played() -> None:
    """Played without lint (as the runner can be), the case fails; the run goes on."""
    plan = TestPlan.model_validate(
        {
            "spec": "goblin-toll-bridge",
            "cases": [
                {"name": "huge", "lines": ["/roll 1000d6"]},
                {"name": "fine", "lines": ["/roll 2d6", "/end"], "expect": {"status": "ended"}},
            ],
        }
    )
    loaded = load_plan(REPO / "specs" / "goblin-toll-bridge.test.yaml")
    loaded.plan = plan
    huge, fine = run(run_plans([loaded])).results
    [failure] = huge.failures
    assert failure.startswith("error: line 1: /roll 1000d6: bad dice expression '1000d6'")
    assert fine.passed
