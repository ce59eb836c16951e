"""Per-file lint: parse, validate against the model, then the cross-reference rules.

The reference rules read the raw YAML data rather than the validated model, so a file with
a typo in one place still gets its dangling references reported elsewhere: lint reports
everything in one run, never only the first problem.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from mardonar.content.commands import DEFAULT_ROLL, PLAN_COMMANDS, not_in_plans, parse_command
from mardonar.content.lint.findings import Finding, finding
from mardonar.content.lint.schema_errors import describe, suggest, validation_findings
from mardonar.content.models import (
    SLUG_PATTERN,
    LoreFrontMatter,
    Party,
    Persona,
    Spec,
    TestPlan,
)
from mardonar.content.render import estimate_tokens, spec_gm_view
from mardonar.content.yamlpos import Located, Mark, Path, YamlSyntaxError, load_yaml

_SLUG = re.compile(SLUG_PATTERN)


@dataclass(frozen=True, slots=True)
class Context:
    """What a file is cross-checked against: its repository's persona, party and lore."""

    skills: tuple[str, ...]
    lore_ids: frozenset[str] | None  # None: no repository root, so lore refs are not checked
    players: frozenset[str] | None
    persona_tokens: int
    prompt_budget: int

    def key(self) -> str:
        lore = ",".join(sorted(self.lore_ids)) if self.lore_ids is not None else "-"
        players = ",".join(sorted(self.players)) if self.players is not None else "-"
        return (
            f"{','.join(self.skills)}|{lore}|{players}|{self.persona_tokens}|{self.prompt_budget}"
        )


@dataclass(slots=True)
class SpecSummary:
    """What the cross-file rules and test plans need to know about a spec."""

    id: str
    id_line: int
    id_col: int
    checks: list[str] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)


@dataclass(slots=True)
class FileResult:
    findings: list[Finding]
    spec: SpecSummary | None = None
    test_plan: Located | None = None


def parse(text: str, file: str) -> tuple[Located | None, list[Finding]]:
    try:
        located = load_yaml(text)
    except YamlSyntaxError as error:
        return None, [finding(file, error.mark.line, error.mark.col, "M101", error.message)]
    problems = [finding(file, p.mark.line, p.mark.col, p.code, p.message) for p in located.problems]
    return located, problems


def _validate(
    located: Located, model: type[BaseModel], file: str, root: str
) -> tuple[Any, list[Finding]]:
    data = located.data
    if data is None:
        return None, [finding(file, 1, 1, "M202", f"the file is empty; a {root} is a mapping")]
    if not isinstance(data, dict):
        mark = located.value_mark(())
        return None, [
            finding(
                file,
                mark.line,
                mark.col,
                "M202",
                f"a {root} file must be a mapping of keys to values, got a {type(data).__name__}",
            )
        ]
    try:
        return model.model_validate(data), []
    except ValidationError as error:
        return None, validation_findings(error, located, model, file, root)


# --------------------------------------------------------------------------- raw access


def _entries(data: Any, key: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index, mapping) for each mapping in the list at `key`."""
    value = data.get(key) if isinstance(data, dict) else None
    if isinstance(value, list):
        for index, entry in enumerate(value):
            if isinstance(entry, dict):
                yield index, entry


def _strs(value: Any) -> list[tuple[int, str]]:
    if isinstance(value, list):
        return [(i, v) for i, v in enumerate(value) if isinstance(v, str)]
    return []


def _at(file: str, mark: Mark, code: str, message: str) -> Finding:
    return finding(file, mark.line, mark.col, code, message)


def _did_you_mean(word: str, choices: Collection[str]) -> str:
    close = suggest(word, sorted(choices))
    return f"; did you mean '{close}'?" if close else ""


# --------------------------------------------------------------------------- spec


def lint_spec(located: Located, file: str, ctx: Context, stem: str) -> FileResult:
    spec, findings = _validate(located, Spec, file, "spec")
    data = located.data if isinstance(located.data, dict) else {}
    ids: dict[str, list[str]] = {}
    for section in ("npcs", "checks", "outcomes", "items"):
        seen: dict[str, Mark] = {}
        for index, entry in _entries(data, section):
            entry_id = entry.get("id")
            if not isinstance(entry_id, str):
                continue
            mark = located.value_mark((section, index, "id"))
            if entry_id in seen:
                first = seen[entry_id]
                findings.append(
                    _at(
                        file,
                        mark,
                        "M301",
                        f"{section}[{index}].id: '{entry_id}' is already used in {section} "
                        f"(line {first.line}); ids must be unique",
                    )
                )
            else:
                seen[entry_id] = mark
        ids[section] = list(seen)

    npc_ids, outcome_ids, item_ids = set(ids["npcs"]), set(ids["outcomes"]), set(ids["items"])
    led_to: set[str] = set()
    checked_npcs: set[str] = set()
    for index, check in _entries(data, "checks"):
        base: Path = ("checks", index)
        npc = check.get("npc")
        if isinstance(npc, str):
            checked_npcs.add(npc)
            if npc not in npc_ids:
                findings.append(
                    _at(
                        file,
                        located.value_mark((*base, "npc")),
                        "M302",
                        f"checks[{index}].npc: no NPC with id '{npc}' in this spec"
                        + _did_you_mean(npc, npc_ids),
                    )
                )
        for key in ("leads_to", "failure_leads_to"):
            target = check.get(key)
            if isinstance(target, str):
                led_to.add(target)
                if target not in outcome_ids:
                    findings.append(
                        _at(
                            file,
                            located.value_mark((*base, key)),
                            "M302",
                            f"checks[{index}].{key}: no outcome with id '{target}'"
                            + _did_you_mean(target, outcome_ids),
                        )
                    )
        skill = check.get("skill")
        if isinstance(skill, str) and _SLUG.match(skill) and skill not in ctx.skills:
            findings.append(
                _at(
                    file,
                    located.value_mark((*base, "skill")),
                    "M303",
                    f"checks[{index}].skill: '{skill}' is not one of the persona's skills"
                    + (_did_you_mean(skill, ctx.skills) or "; add it to persona.yaml skills"),
                )
            )
        keywords = check.get("keywords")
        if not keywords:
            where = ("keywords" in check and (*base, "keywords")) or (*base, "id")
            findings.append(
                _at(
                    file,
                    located.value_mark(where),
                    "M402",
                    f"check '{check.get('id', index)}' has no keywords: the offline narrator and "
                    "the missed-check heuristic cannot see when it should be called",
                )
            )
    for index, outcome in _entries(data, "outcomes"):
        for item_index, item in _strs(outcome.get("items")):
            if item not in item_ids:
                findings.append(
                    _at(
                        file,
                        located.value_mark(("outcomes", index, "items", item_index)),
                        "M302",
                        f"outcomes[{index}].items[{item_index}]: no item with id '{item}' in "
                        "this spec's items" + _did_you_mean(item, item_ids),
                    )
                )
        check_ids = set(ids["checks"])
        for check_index, check_id in _strs(outcome.get("requires")):
            if check_id not in check_ids:
                findings.append(
                    _at(
                        file,
                        located.value_mark(("outcomes", index, "requires", check_index)),
                        "M308",
                        f"outcomes[{index}].requires[{check_index}]: no check with id "
                        f"'{check_id}' in this spec, so the outcome could never be resolved"
                        + _did_you_mean(check_id, check_ids),
                    )
                )
        outcome_id = outcome.get("id")
        if isinstance(outcome_id, str) and outcome_id not in led_to and not outcome.get("keywords"):
            findings.append(
                _at(
                    file,
                    located.value_mark(("outcomes", index, "id")),
                    "M401",
                    f"outcome '{outcome_id}': no check leads to it and it has no keywords, so "
                    "only the model's judgement can reach it; add keywords or a check's leads_to",
                )
            )
    for index, npc in _entries(data, "npcs"):
        if npc.get("secrets") and isinstance(npc.get("id"), str) and npc["id"] not in checked_npcs:
            findings.append(
                _at(
                    file,
                    located.key_mark(("npcs", index, "secrets")),
                    "M403",
                    f"NPC '{npc['id']}' has secrets but no check involves it (npc: {npc['id']}), "
                    "so they can never be revealed",
                )
            )
    if ctx.lore_ids is not None:
        for index, lore_id in _strs(data.get("lore")):
            if lore_id not in ctx.lore_ids:
                findings.append(
                    _at(
                        file,
                        located.value_mark(("lore", index)),
                        "M302",
                        f"lore[{index}]: no file lore/{lore_id}.md in this repository"
                        + _did_you_mean(lore_id, ctx.lore_ids),
                    )
                )

    summary: SpecSummary | None = None
    spec_id = data.get("id")
    if isinstance(spec_id, str):
        mark = located.value_mark(("id",))
        summary = SpecSummary(
            spec_id, mark.line, mark.col, ids["checks"], ids["outcomes"], ids["items"]
        )
        if stem != spec_id and _SLUG.match(spec_id):
            findings.append(
                _at(
                    file,
                    mark,
                    "M306",
                    f"the spec id '{spec_id}' differs from the file name '{stem}'; "
                    f"rename the file to {spec_id}.yaml so `mardonar play {spec_id}` finds it",
                )
            )
    if isinstance(spec, Spec):
        tokens = ctx.persona_tokens + estimate_tokens(spec_gm_view(spec))
        if tokens > ctx.prompt_budget:
            findings.append(
                _at(
                    file,
                    # At the longer of the two texts an author would shorten.
                    located.key_mark(
                        ("gm_notes",) if len(spec.gm_notes) > len(spec.setting) else ("setting",)
                    ),
                    "M404",
                    f"persona + this spec's GM view is about {tokens} tokens, over the budget of "
                    f"{ctx.prompt_budget}: shorten setting/gm_notes or raise --prompt-budget",
                )
            )
    return FileResult(findings, spec=summary)


# --------------------------------------------------------------------------- persona, party


def lint_persona(located: Located, file: str) -> FileResult:
    _, findings = _validate(located, Persona, file, "persona")
    data = located.data if isinstance(located.data, dict) else {}
    seen: set[str] = set()
    for index, skill in _strs(data.get("skills")):
        if skill in seen:
            findings.append(
                _at(
                    file,
                    located.value_mark(("skills", index)),
                    "M301",
                    f"skills[{index}]: '{skill}' is listed twice",
                )
            )
        seen.add(skill)
    return FileResult(findings)


def lint_party(located: Located, file: str, ctx: Context) -> FileResult:
    _, findings = _validate(located, Party, file, "party")
    data = located.data if isinstance(located.data, dict) else {}
    players: dict[str, Mark] = {}
    for index, character in _entries(data, "characters"):
        player = character.get("player")
        if isinstance(player, str):
            mark = located.value_mark(("characters", index, "player"))
            key = player.casefold()
            if key in players:
                findings.append(
                    _at(
                        file,
                        mark,
                        "M301",
                        f"characters[{index}].player: '{player}' already has a character "
                        f"(line {players[key].line}); one character per player",
                    )
                )
            else:
                players[key] = mark
        skills = character.get("skills")
        if isinstance(skills, dict):
            for skill in skills:
                if skill not in ctx.skills:
                    findings.append(
                        _at(
                            file,
                            located.key_mark(("characters", index, "skills", skill)),
                            "M304",
                            f"characters[{index}].skills: '{skill}' is not one of the persona's "
                            "skills" + (_did_you_mean(skill, ctx.skills) or ""),
                        )
                    )
    return FileResult(findings)


# --------------------------------------------------------------------------- lore


def split_front_matter(text: str) -> tuple[str | None, str, int]:
    """(front matter or None, body, line number where the front matter's text starts)."""
    if not text.startswith("---"):
        return None, text, 1
    lines = text.splitlines(keepends=True)
    if lines[0].strip() != "---":
        return None, text, 1
    for index in range(1, len(lines)):
        if lines[index].strip() in ("---", "..."):
            return "".join(lines[1:index]), "".join(lines[index + 1 :]), 2
    return "".join(lines[1:]), "", 2


def lint_lore(text: str, file: str, stem: str) -> FileResult:
    findings: list[Finding] = []
    if not _SLUG.match(stem):
        findings.append(
            finding(
                file,
                1,
                1,
                "M405",
                f"lore file name '{stem}' is not a slug, so no spec can reference it; rename it "
                "to lowercase letters, digits and hyphens",
            )
        )
    front, _body, first_line = split_front_matter(text)
    if front is None:
        return FileResult(findings)
    located, problems = parse(front, file)
    offset = first_line - 1
    shifted = [finding(f.path, f.line + offset, f.col, f.code, f.message) for f in problems]
    if located is not None and located.data is not None:
        _, more = _validate(located, LoreFrontMatter, file, "front matter")
        shifted += [finding(f.path, f.line + offset, f.col, f.code, f.message) for f in more]
    return FileResult(findings + shifted)


# --------------------------------------------------------------------------- test plans


def lint_test_plan(located: Located, file: str) -> FileResult:
    """Schema findings and the commands of each line now; references are checked once every
    spec of the run is known."""
    _, findings = _validate(located, TestPlan, file, "test plan")
    findings += _plan_commands(located, file)
    return FileResult(findings, test_plan=located)


def _plan_commands(located: Located, file: str) -> list[Finding]:
    """M203 for a line's command that `mardonar test` could not play: an unknown command,
    or a `/roll` the dice parser refuses (its own bounds: `/roll 1000d6` is over 100 dice)."""
    from mardonar.dicenotation import DiceError, parse_dice

    findings: list[Finding] = []
    for index, case in _entries(located.data, "cases"):
        for number, line in _strs(case.get("lines")):
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
                findings.append(
                    _at(
                        file,
                        located.value_mark(where),
                        "M203",
                        f"cases[{index}].lines[{number}]: {problem}",
                    )
                )
    return findings


def test_plan_references(
    located: Located, file: str, specs: dict[str, SpecSummary], ctx: Context
) -> list[Finding]:
    data = located.data if isinstance(located.data, dict) else {}
    findings: list[Finding] = []
    spec_id = data.get("spec")
    if not isinstance(spec_id, str):
        return findings
    spec = specs.get(spec_id)
    if spec is None:
        return [
            _at(
                file,
                located.value_mark(("spec",)),
                "M302",
                f"spec: no spec with id '{spec_id}' in this repository"
                + _did_you_mean(spec_id, set(specs)),
            )
        ]
    for index, case in _entries(data, "cases"):
        expect = case.get("expect")
        base: Path = ("cases", index, "expect")
        if not isinstance(expect, dict):
            continue
        outcome = expect.get("outcome")
        if isinstance(outcome, str) and outcome not in spec.outcomes:
            findings.append(
                _at(
                    file,
                    located.value_mark((*base, "outcome")),
                    "M302",
                    f"{describe((*base, 'outcome'), 'test plan')}: spec '{spec_id}' has no outcome "
                    f"'{outcome}'" + _did_you_mean(outcome, spec.outcomes),
                )
            )
        checks = expect.get("checks")
        if isinstance(checks, dict):
            for check_id in checks:
                if check_id not in spec.checks:
                    findings.append(
                        _at(
                            file,
                            located.key_mark((*base, "checks", check_id)),
                            "M302",
                            f"{describe((*base, 'checks'), 'test plan')}: spec '{spec_id}' has no "
                            f"check '{check_id}'" + _did_you_mean(check_id, spec.checks),
                        )
                    )
        for key in ("xp", "items"):
            players = expect.get(key)
            if isinstance(players, dict) and ctx.players is not None:
                for player in players:
                    if player.casefold() not in ctx.players:
                        findings.append(
                            _at(
                                file,
                                located.key_mark((*base, key, player)),
                                "M302",
                                f"{describe((*base, key), 'test plan')}: no player '{player}' in "
                                "party.yaml" + _did_you_mean(player, ctx.players),
                            )
                        )
        items = expect.get("items")
        if isinstance(items, dict):
            for player, granted in items.items():
                for item_index, item in _strs(granted):
                    if item not in spec.items:
                        findings.append(
                            _at(
                                file,
                                located.value_mark((*base, "items", player, item_index)),
                                "M302",
                                f"spec '{spec_id}' has no item '{item}'"
                                + _did_you_mean(item, spec.items),
                            )
                        )
        speaker = case.get("as")
        if (
            isinstance(speaker, str)
            and ctx.players is not None
            and speaker.casefold() not in ctx.players
        ):
            findings.append(
                _at(
                    file,
                    located.value_mark(("cases", index, "as")),
                    "M302",
                    f"cases[{index}].as: no player '{speaker}' in party.yaml"
                    + _did_you_mean(speaker, ctx.players),
                )
            )
    return findings
