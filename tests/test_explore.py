"""`mardonar explore`: every shipped outcome is reachable, an unreachable one fails the run,
reports are deterministic and the JSON has a stable shape (issue #6, item 5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mardonar.content.bundle import load_bundle
from mardonar.harness.explore import LineMaker, explore_bundle, run_seed
from tests.conftest import RunCli
from tests.engine_helpers import REPO, copy_content, run

SHIPPED = sorted(p.stem for p in (REPO / "specs").glob("*.yaml") if ".test." not in p.name)

UNREACHABLE = """\
  - id: found-the-treasure
    result: success
    when: The party finds a treasure that nothing in this encounter leads to.
    xp: 10
"""


def unreachable_repo(root: Path) -> Path:
    """A copy of the shipped content plus a spec whose extra outcome nothing can reach: no
    keywords and no check `leads_to` (lint warns M401 but the spec is valid)."""
    repo = copy_content(root)
    text = (repo / "specs" / "goblin-toll-bridge.yaml").read_text(encoding="utf-8")
    text = text.replace("id: goblin-toll-bridge", "id: unreachable-bridge", 1)
    text = text.replace("\noutcomes:\n", "\noutcomes:\n" + UNREACHABLE, 1)
    (repo / "specs" / "unreachable-bridge.yaml").write_text(text, encoding="utf-8")
    return repo


@pytest.mark.parametrize("spec", SHIPPED)
def test_every_shipped_outcome_is_reached_within_200_runs(spec: str) -> None:
    report = run(explore_bundle(load_bundle(spec, cwd=REPO), runs=200, seed=0))
    assert report.never_reached == [], report.outcomes
    assert report.errors == []
    assert report.ok


def test_unreachable_outcome_exits_1_and_is_named(run_cli: RunCli, tmp_path: Path) -> None:
    repo = unreachable_repo(tmp_path / "repo")
    done = run_cli(
        "explore", "unreachable-bridge", "--runs", "30", cwd=repo, env={"DATA_DIR": str(tmp_path)}
    )
    assert done.returncode == 1, done.stderr
    never = next(line for line in done.stdout.splitlines() if "never reached" in line)
    assert "found-the-treasure" in never
    assert "FAILED" in done.stdout
    assert not (repo / "transcripts").exists()  # explore writes no transcript
    assert not (tmp_path / "mardonar.db").exists()  # nor touches DATA_DIR


def test_same_seed_same_report_and_seeds_differ() -> None:
    bundle = load_bundle("goblin-toll-bridge", cwd=REPO)
    first = run(explore_bundle(bundle, runs=25, seed=7)).to_dict()
    again = run(explore_bundle(bundle, runs=25, seed=7)).to_dict()
    assert first == again
    other = run(explore_bundle(bundle, runs=25, seed=8)).to_dict()
    assert other != first


def test_lines_are_deterministic_and_vary_speakers() -> None:
    maker = LineMaker(load_bundle("goblin-toll-bridge", cwd=REPO))
    rng_a, seed_a = run_seed(3, 4)
    rng_b, seed_b = run_seed(3, 4)
    lines_a = [maker.line(rng_a) for _ in range(40)]
    assert seed_a == seed_b and lines_a == [maker.line(rng_b) for _ in range(40)]
    assert len({player for player, _ in lines_a}) > 1
    assert any("Grukk" in text for _, text in lines_a)


def test_max_turns_caps_runs_into_dead_ends() -> None:
    report = run(
        explore_bundle(load_bundle("goblin-toll-bridge", cwd=REPO), runs=30, seed=1, max_turns=1)
    )
    assert report.max_turns == 1
    assert all(turns == 1 for turns in report.turns)
    assert len(report.dead_ends) + sum(report.outcomes.values()) == 30
    assert all(set(d) == {"run", "seed", "turns"} for d in report.dead_ends)


def test_json_format_shape(run_cli: RunCli, tmp_path: Path) -> None:
    repo = copy_content(tmp_path / "repo")
    done = run_cli(
        "explore",
        "specs",
        "--runs",
        "5",
        "--seed",
        "3",
        "--format",
        "json",
        cwd=repo,
        env={"DATA_DIR": str(tmp_path)},
    )
    assert done.returncode in (0, 1), done.stderr
    payload = json.loads(done.stdout)
    assert set(payload) == {"ok", "specs"}
    assert [s["spec"] for s in payload["specs"]] == SHIPPED  # a folder: *.test.yaml skipped
    for spec in payload["specs"]:
        assert set(spec) == {
            "spec",
            "path",
            "runs",
            "seed",
            "max_turns",
            "ok",
            "outcomes",
            "never_reached",
            "checks",
            "never_triggered",
            "turns_to_resolution",
            "dead_ends",
            "errors",
        }
        assert spec["runs"] == 5 and spec["seed"] == 3
        assert set(spec["turns_to_resolution"]) == {"min", "median", "max"}
        assert sum(spec["outcomes"].values()) + len(spec["dead_ends"]) <= 5
    assert payload["ok"] == all(s["ok"] for s in payload["specs"])


def test_no_argument_explores_every_spec_of_the_repository(run_cli: RunCli, tmp_path: Path) -> None:
    """As `mardonar lint` and `mardonar test` do, from anywhere inside the repository."""
    repo = copy_content(tmp_path / "repo")
    inside = repo / "transcripts"
    inside.mkdir(exist_ok=True)
    done = run_cli(
        "explore", "--runs", "3", "--format", "json", cwd=inside, env={"DATA_DIR": str(tmp_path)}
    )
    assert done.returncode in (0, 1), done.stderr
    assert [s["spec"] for s in json.loads(done.stdout)["specs"]] == SHIPPED


def test_no_argument_outside_a_repository_is_one_line(run_cli: RunCli, tmp_path: Path) -> None:
    outside = tmp_path / "empty"
    outside.mkdir()
    done = run_cli("explore", cwd=outside, env={"DATA_DIR": str(tmp_path)})
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("mardonar: no persona.yaml in ") and "name the specs" in line
