"""Test plans (`specs/*.test.yaml`): their schema and commands per file, their references
once every spec of the run is known."""

from __future__ import annotations

from mardonar.content.commands import DEFAULT_ROLL, PLAN_COMMANDS, not_in_plans, parse_command
from mardonar.content.lint.findings import Finding
from mardonar.content.lint.raw import Flagger, did_you_mean, entries, strings
from mardonar.content.lint.rules import Context, FileResult, SpecSummary, validate
from mardonar.content.lint.schema_errors import describe
from mardonar.content.models import TestPlan
from mardonar.content.yamlpos import Located, Path


def lint_test_plan(located: Located, file: str) -> FileResult:
    """Schema findings and the commands of each line now; references are checked once every
    spec of the run is known."""
    _, findings = validate(located, TestPlan, file, "test plan")
    findings += _plan_commands(located, file)
    return FileResult(findings, test_plan=located)


def _plan_commands(located: Located, file: str) -> list[Finding]:
    """M203 for a line's command that `mardonar test` could not play: an unknown command,
    or a `/roll` the dice parser refuses (its own bounds: `/roll 1000d6` is over 100 dice)."""
    from mardonar.dicenotation import DiceError, parse_dice

    findings: list[Finding] = []
    flag = Flagger(file, located, findings)
    for index, case in entries(located.data, "cases"):
        for number, line in strings(case.get("lines")):
            if not line.startswith("/"):
                continue
            command = parse_command(line)
            where = ("cases", index, "lines", number)
            problem = None
            if command.name not in PLAN_COMMANDS:
                problem = not_in_plans(command.typed)
            elif command.name == "/roll":
                try:
                    parse_dice(command.arg or DEFAULT_ROLL)
                except DiceError as error:
                    problem = str(error)
            if problem is not None:
                flag.value(where, "M203", f"cases[{index}].lines[{number}]: {problem}")
    return findings


def test_plan_references(
    located: Located, file: str, specs: dict[str, SpecSummary], ctx: Context
) -> list[Finding]:
    data = located.data if isinstance(located.data, dict) else {}
    findings: list[Finding] = []
    flag = Flagger(file, located, findings)
    spec_id = data.get("spec")
    if not isinstance(spec_id, str):
        return findings
    spec = specs.get(spec_id)
    if spec is None:
        flag.value(
            ("spec",),
            "M302",
            f"spec: no spec with id '{spec_id}' in this repository"
            + did_you_mean(spec_id, set(specs)),
        )
        return findings
    for index, case in entries(data, "cases"):
        expect = case.get("expect")
        base: Path = ("cases", index, "expect")
        if not isinstance(expect, dict):
            continue
        outcome = expect.get("outcome")
        if isinstance(outcome, str) and outcome not in spec.outcomes:
            flag.value(
                (*base, "outcome"),
                "M302",
                f"{describe((*base, 'outcome'), 'test plan')}: spec '{spec_id}' has no outcome "
                f"'{outcome}'" + did_you_mean(outcome, spec.outcomes),
            )
        checks = expect.get("checks")
        if isinstance(checks, dict):
            for check_id in checks:
                if check_id not in spec.checks:
                    flag.key(
                        (*base, "checks", check_id),
                        "M302",
                        f"{describe((*base, 'checks'), 'test plan')}: spec '{spec_id}' has no "
                        f"check '{check_id}'" + did_you_mean(check_id, spec.checks),
                    )
        for key in ("xp", "items"):
            players = expect.get(key)
            if isinstance(players, dict) and ctx.players is not None:
                for player in players:
                    if player.casefold() not in ctx.players:
                        flag.key(
                            (*base, key, player),
                            "M302",
                            f"{describe((*base, key), 'test plan')}: no player '{player}' in "
                            "party.yaml" + did_you_mean(player, ctx.players),
                        )
        items = expect.get("items")
        if isinstance(items, dict):
            for player, granted in items.items():
                for item_index, item in strings(granted):
                    if item not in spec.items:
                        flag.value(
                            (*base, "items", player, item_index),
                            "M302",
                            f"spec '{spec_id}' has no item '{item}'"
                            + did_you_mean(item, spec.items),
                        )
        speaker = case.get("as")
        if (
            isinstance(speaker, str)
            and ctx.players is not None
            and speaker.casefold() not in ctx.players
        ):
            flag.value(
                ("cases", index, "as"),
                "M302",
                f"cases[{index}].as: no player '{speaker}' in party.yaml"
                + did_you_mean(speaker, ctx.players),
            )
    return findings
