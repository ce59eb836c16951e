"""The authors' test plans (`specs/<id>.test.yaml`): finding, running and checking them.

Each case is played on a headless engine (`harness/headless.py`: real SQLite store and
memory, private databases in RAM, a throwaway data folder), with the offline narrator (or
any model a caller supplies) and the case's seed, so a run is deterministic and writes
nothing into the repository or DATA_DIR. `mardonar test` (mardonar/cli/testplans.py)
prints the results; the test suite uses the same runner.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mardonar.content.commands import DEFAULT_ROLL, PLAN_COMMANDS, not_in_plans, parse_command
from mardonar.content.models import CheckExpectation, TestCase, TestPlan
from mardonar.content.repo import SPECS_DIR, find_root, require_inside
from mardonar.errors import UsageError

if TYPE_CHECKING:
    from mardonar.content.bundle import Bundle
    from mardonar.content.lint.findings import Finding
    from mardonar.llm.base import LLM

__all__ = [
    "CaseResult",
    "Got",
    "LoadedPlan",
    "MakeLLM",
    "PlanRun",
    "discover_plans",
    "load_plan",
    "offline_llm",
    "play_case",
    "run_plans",
    "unmet",
]

PLAN_SUFFIXES = (".test.yaml", ".test.yml")

MakeLLM = Callable[["Bundle", int], "LLM"]
"""Builds the model for one case from the bundle and the case's seed."""


def offline_llm(bundle: Bundle, seed: int) -> LLM:
    from mardonar.llm.offline import OfflineNarrator

    return OfflineNarrator(bundle, seed)


# --------------------------------------------------------------------------- finding plans


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


def is_plan(path: Path) -> bool:
    return path.name.endswith(PLAN_SUFFIXES)


def discover_plans(paths: Sequence[Path], cwd: Path) -> list[Path]:
    """The plan files named by `paths` (files or folders, walked), or by default every
    `specs/*.test.yaml` of the repository around `cwd`. Usage errors raise UsageError."""
    if not paths:
        root = find_root(cwd)
        if root is None:
            raise UsageError(
                f"no persona.yaml in {cwd} or any folder above it: run `mardonar test` inside "
                "a Mardonar repository or name the test plans to run",
                exit_code=2,
            )
        found = sorted(p for p in (root / SPECS_DIR).glob("*.test.y*ml") if is_plan(p))
        if not found:
            raise UsageError(f"no test plans (*.test.yaml) in {root / SPECS_DIR}", exit_code=2)
        return found
    plans: dict[Path, None] = {}
    for given in paths:
        if not given.exists():
            raise UsageError(f"{given}: no such file or directory", exit_code=2)
        if given.is_dir():
            inside = sorted(
                p
                for p in given.rglob("*.test.y*ml")
                if is_plan(p) and not any(part.startswith(".") for part in p.parts[-2:])
            )
            if not inside:
                raise UsageError(f"{given}: no test plans (*.test.yaml) in it", exit_code=2)
            plans.update(dict.fromkeys(p.absolute() for p in inside))
        elif is_plan(given):
            plans[given.absolute()] = None
        else:
            raise UsageError(
                f"{given}: not a test plan (its name must end in .test.yaml)", exit_code=2
            )
    return list(plans)


def untested_specs(paths: Sequence[Path], cwd: Path) -> list[Path]:
    """The specs of the folders `discover_plans` searched (specs/ of the repository by
    default, each folder given) that have no test plan beside them (`<id>.test.yaml`):
    `mardonar test` names each as skipped rather than pass over it in silence."""
    from mardonar.content.lint.runner import classify

    if paths:
        folders = [given for given in paths if given.is_dir()]
    else:
        root = find_root(cwd)
        folders = [root / SPECS_DIR] if root is not None else []
    found: dict[Path, None] = {}
    for folder in folders:
        walk = folder.rglob if paths else folder.glob
        for path in sorted([*walk("*.yaml"), *walk("*.yml")]):
            if any(part.startswith(".") for part in path.parts[-2:]):
                continue
            if classify(path) != "spec" or ".eval." in path.name:
                continue
            if not any(path.with_name(path.stem + s).is_file() for s in PLAN_SUFFIXES):
                found[path.absolute()] = None
    return list(found)


def skipped_line(spec: Path) -> str:
    """`specs/x.yaml SKIPPED (no test plan: write specs/x.test.yaml …)`, as pytest says
    skipped: the spec is not a failure, only untested."""
    plan = spec.with_name(spec.stem + PLAN_SUFFIXES[0])
    return (
        f"{_display(spec)} SKIPPED (no test plan: write {_display(plan)}, see docs/test-plans.md)"
    )


def lint_plans(plans: Iterable[Path]) -> list[Finding]:
    """Lint errors in the plans (schema and references to the spec and party)."""
    from mardonar.content.lint.runner import run_lint

    report = run_lint(list(plans))
    return [f for f in report.findings if f.severity == "error"]


@dataclass
class LoadedPlan:
    path: Path
    display: str
    plan: TestPlan
    root: Path


def load_plan(path: Path) -> LoadedPlan:
    """A plan already linted clean: parse and validate it, and find its repository."""
    root = find_root(path.parent)
    if root is None:
        raise UsageError(
            f"{_display(path)}: no persona.yaml in its folder or any folder above it",
            exit_code=2,
        )
    text = require_inside(root, path, _display(path)).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return LoadedPlan(path, _display(path), TestPlan.model_validate(data), root)


# --------------------------------------------------------------------------- playing a case


@dataclass
class Got:
    """What a played case ended with."""

    status: str
    outcome: str | None
    checks: dict[str, list[dict[str, Any]]]
    """Check id → its rolls in order: {player, total, dc, success}."""
    xp: dict[str, int]
    items: dict[str, list[str]]
    narration: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class CaseError(Exception):
    """The case could not be played as written (an unknown speaker or command)."""


async def play_case(bundle: Bundle, case: TestCase, make_llm: MakeLLM = offline_llm) -> Got:
    """Play `case` on a real engine in a temporary data folder, as `mardonar play` would:
    `/as NAME` switches the speaker, `/roll [DICE]` rolls, `/end` ends the encounter; lines
    after the encounter is over are not played."""
    from mardonar.dicenotation import DiceError
    from mardonar.engine.events import Event, Narration
    from mardonar.engine.session import Status
    from mardonar.harness.headless import scratch
    from mardonar.llm.turnformat import PlayerLine

    def who(name: str) -> str:
        found = bundle.party.find(name)
        if found is None:
            raise CaseError(f"no party member '{name.strip()}' (party: {bundle.party.roster()})")
        return found.player

    speaker = who(case.speaker) if case.speaker else bundle.party.characters[0].player
    narration: list[str] = []

    def listen(event: Event) -> None:
        if isinstance(event, Narration):
            narration.append(event.text)

    llm = make_llm(bundle, case.seed)
    with scratch("mardonar-test-") as folder:
        try:
            async with folder.engine(bundle, llm=llm, subscribers=[listen]) as (engine, data):
                session = await engine.start(seed=case.seed, transcript=data / "t.jsonl")
                engine.opening(session)
                for number, line in enumerate(case.lines, start=1):
                    if line.startswith("/"):
                        command = parse_command(line)
                        name = command.name
                        if name == "/as":
                            speaker = who(command.text)
                        elif name not in PLAN_COMMANDS:
                            raise CaseError(f"line {number}: {not_in_plans(name)}")
                        elif session.status is not Status.active:
                            break
                        elif name == "/roll":
                            expression = command.arg or DEFAULT_ROLL
                            try:
                                await engine.player_roll(session, speaker, expression)
                            except DiceError as error:  # lint says so first; a case fails here
                                raise CaseError(f"line {number}: {line}: {error}") from None
                        else:
                            await engine.end(session)
                        continue
                    if session.status is not Status.active:
                        break
                    async for _ in engine.run_turn(
                        session, [PlayerLine(player=speaker, text=line)]
                    ):
                        pass
        finally:
            await llm.aclose()
    checks: dict[str, list[dict[str, Any]]] = {}
    for roll in session.checks_rolled:
        if roll.check:
            checks.setdefault(roll.check, []).append(
                {"player": roll.player, "total": roll.total, "dc": roll.dc, "success": roll.success}
            )
    items: dict[str, list[str]] = {}
    for item, player in session.items_granted.items():
        items.setdefault(player, []).append(item)
    return Got(
        status=session.status.value,
        outcome=session.outcome,
        checks=checks,
        xp=dict(session.xp_awarded),
        items={player: sorted(granted) for player, granted in items.items()},
        narration=narration,
    )


# --------------------------------------------------------------------------- expectations


def _roll_text(roll: dict[str, Any]) -> str:
    verdict = "success" if roll["success"] else "failure"
    return f"{verdict} (rolled {roll['total']} vs DC {roll['dc']})"


def _list(values: Iterable[str]) -> str:
    return "[" + ", ".join(values) + "]"


def unmet(case: TestCase, got: Got) -> list[str]:
    """Each expectation of `case` that `got` does not meet, as one line."""
    expect = case.expect
    problems: list[str] = []
    if got.outcome != expect.outcome:
        problems.append(
            f"expected outcome {expect.outcome or '(none)'}, got {got.outcome or '(none)'}"
        )
    if expect.status is not None and got.status != expect.status:
        problems.append(f"expected status {expect.status}, got {got.status}")
    for check_id, wanted in expect.checks.items():
        rolls = got.checks.get(check_id, [])
        last = rolls[-1] if rolls else None
        if wanted is CheckExpectation.not_rolled:
            if last is not None:
                problems.append(f"check {check_id}: expected not-rolled, got {_roll_text(last)}")
        elif last is None:
            problems.append(f"check {check_id}: expected {wanted.value}, got not-rolled")
        elif wanted is not CheckExpectation.rolled and last["success"] != (
            wanted is CheckExpectation.success
        ):
            problems.append(f"check {check_id}: expected {wanted.value}, got {_roll_text(last)}")
    for player, total in expect.xp.items():
        awarded = got.xp.get(player, 0)
        if awarded != total:
            problems.append(f"xp {player}: expected {total}, got {awarded}")
    for player, wanted_items in expect.items.items():
        granted = got.items.get(player, [])
        if sorted(wanted_items) != sorted(granted):
            problems.append(
                f"items {player}: expected {_list(sorted(wanted_items))}, got {_list(granted)}"
            )
    told = "\n".join(got.narration).casefold()
    for phrase in expect.narration_contains:
        if phrase.casefold() not in told:
            problems.append(f"narration: expected it to contain {phrase!r}, it does not")
    return problems


# --------------------------------------------------------------------------- a run


@dataclass
class CaseResult:
    plan: str
    """The plan file as displayed (relative to the working folder)."""
    spec: str
    name: str
    seed: int
    failures: list[str]
    got: Got | None
    seconds: float

    @property
    def id(self) -> str:
        return f"{self.plan}::{self.name}"

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "plan": self.plan,
            "spec": self.spec,
            "name": self.name,
            "seed": self.seed,
            "result": "passed" if self.passed else "failed",
            "failures": self.failures,
            "got": self.got.to_dict() if self.got else None,
            "seconds": round(self.seconds, 4),
        }


@dataclass
class PlanRun:
    results: list[CaseResult] = field(default_factory=list)
    deselected: int = 0
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)
    """The specs searched that have no test plan (shown paths)."""

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r.passed)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if not r.passed)

    def summary(self) -> str:
        """`11 passed, 0 failed in 0.84s` (`, N skipped` for specs without a plan, then
        `, N deselected` with -k, before `in`)."""
        skipped = f", {len(self.skipped)} skipped" if self.skipped else ""
        deselected = f", {self.deselected} deselected" if self.deselected else ""
        return (
            f"{self.passed} passed, {self.failed} failed{skipped}{deselected} "
            f"in {self.seconds:.2f}s"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failed": self.failed,
            "deselected": self.deselected,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 4),
            "cases": [r.to_dict() for r in self.results],
        }


def selected(plan: LoadedPlan, case: TestCase, keyword: str | None) -> bool:
    if not keyword:
        return True
    return keyword.casefold() in f"{plan.display}::{case.name}".casefold()


async def run_plans(
    plans: Sequence[LoadedPlan],
    *,
    keyword: str | None = None,
    make_llm: MakeLLM = offline_llm,
    on_result: Callable[[CaseResult], None] | None = None,
    untested: Sequence[Path] = (),
) -> PlanRun:
    """Run every selected case of `plans` in order; `on_result` sees each result as it ends.
    `untested`: the specs searched that have no plan (`untested_specs`), counted skipped."""
    from mardonar.content.bundle import load_bundle

    started = time.perf_counter()
    run = PlanRun(skipped=[_display(spec) for spec in untested])
    bundles: dict[tuple[Path, str], Bundle] = {}
    for loaded in plans:
        for case in loaded.plan.cases:
            if not selected(loaded, case, keyword):
                run.deselected += 1
                continue
            key = (loaded.root, loaded.plan.spec)
            if key not in bundles:
                bundles[key] = load_bundle(loaded.plan.spec, cwd=loaded.root)
            case_started = time.perf_counter()
            got: Got | None = None
            try:
                got = await play_case(bundles[key], case, make_llm)
                failures = unmet(case, got)
            except CaseError as error:
                failures = [f"error: {error}"]
            result = CaseResult(
                plan=loaded.display,
                spec=loaded.plan.spec,
                name=case.name,
                seed=case.seed,
                failures=failures,
                got=got,
                seconds=time.perf_counter() - case_started,
            )
            run.results.append(result)
            if on_result is not None:
                on_result(result)
    run.seconds = time.perf_counter() - started
    return run
