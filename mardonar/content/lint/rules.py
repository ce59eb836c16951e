"""Per-file lint of specs, persona, party and lore: parse, validate against the model, then
the cross-reference rules (test plans: plans.py).

The reference rules read the raw YAML data rather than the validated model, so a file with
a typo in one place still gets its dangling references reported elsewhere: lint reports
everything in one run, never only the first problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from mardonar.content.lint.findings import Finding, finding
from mardonar.content.lint.raw import Flagger, did_you_mean, entries, strings
from mardonar.content.lint.schema_errors import validation_findings
from mardonar.content.models import (
    SLUG_PATTERN,
    LoreFrontMatter,
    Party,
    Persona,
    Spec,
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


def validate(
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


# --------------------------------------------------------------------------- spec


def lint_spec(located: Located, file: str, ctx: Context, stem: str) -> FileResult:
    spec, findings = validate(located, Spec, file, "spec")
    flag = Flagger(file, located, findings)
    data = located.data if isinstance(located.data, dict) else {}
    ids: dict[str, list[str]] = {}
    for section in ("npcs", "checks", "outcomes", "items"):
        seen: dict[str, Mark] = {}
        for index, entry in entries(data, section):
            entry_id = entry.get("id")
            if not isinstance(entry_id, str):
                continue
            mark = located.value_mark((section, index, "id"))
            if entry_id in seen:
                first = seen[entry_id]
                flag.at(
                    mark,
                    "M301",
                    f"{section}[{index}].id: '{entry_id}' is already used in {section} "
                    f"(line {first.line}); ids must be unique",
                )
            else:
                seen[entry_id] = mark
        ids[section] = list(seen)

    npc_ids, outcome_ids, item_ids = set(ids["npcs"]), set(ids["outcomes"]), set(ids["items"])
    led_to: set[str] = set()
    checked_npcs: set[str] = set()
    for index, check in entries(data, "checks"):
        base: Path = ("checks", index)
        npc = check.get("npc")
        if isinstance(npc, str):
            checked_npcs.add(npc)
            if npc not in npc_ids:
                flag.value(
                    (*base, "npc"),
                    "M302",
                    f"checks[{index}].npc: no NPC with id '{npc}' in this spec"
                    + did_you_mean(npc, npc_ids),
                )
        for key in ("leads_to", "failure_leads_to"):
            target = check.get(key)
            if isinstance(target, str):
                led_to.add(target)
                if target not in outcome_ids:
                    flag.value(
                        (*base, key),
                        "M302",
                        f"checks[{index}].{key}: no outcome with id '{target}'"
                        + did_you_mean(target, outcome_ids),
                    )
        skill = check.get("skill")
        if isinstance(skill, str) and _SLUG.match(skill) and skill not in ctx.skills:
            flag.value(
                (*base, "skill"),
                "M303",
                f"checks[{index}].skill: '{skill}' is not one of the persona's skills"
                + (did_you_mean(skill, ctx.skills) or "; add it to persona.yaml skills"),
            )
        keywords = check.get("keywords")
        if not keywords:
            where = ("keywords" in check and (*base, "keywords")) or (*base, "id")
            flag.value(
                where,
                "M402",
                f"check '{check.get('id', index)}' has no keywords: the offline narrator and "
                "the missed-check heuristic cannot see when it should be called",
            )
    for index, outcome in entries(data, "outcomes"):
        for item_index, item in strings(outcome.get("items")):
            if item not in item_ids:
                flag.value(
                    ("outcomes", index, "items", item_index),
                    "M302",
                    f"outcomes[{index}].items[{item_index}]: no item with id '{item}' in "
                    "this spec's items" + did_you_mean(item, item_ids),
                )
        check_ids = set(ids["checks"])
        for check_index, check_id in strings(outcome.get("requires")):
            if check_id not in check_ids:
                flag.value(
                    ("outcomes", index, "requires", check_index),
                    "M308",
                    f"outcomes[{index}].requires[{check_index}]: no check with id "
                    f"'{check_id}' in this spec, so the outcome could never be resolved"
                    + did_you_mean(check_id, check_ids),
                )
        outcome_id = outcome.get("id")
        if isinstance(outcome_id, str) and outcome_id not in led_to and not outcome.get("keywords"):
            flag.value(
                ("outcomes", index, "id"),
                "M401",
                f"outcome '{outcome_id}': no check leads to it and it has no keywords, so "
                "only the model's judgement can reach it; add keywords or a check's leads_to",
            )
    for index, npc in entries(data, "npcs"):
        if npc.get("secrets") and isinstance(npc.get("id"), str) and npc["id"] not in checked_npcs:
            flag.key(
                ("npcs", index, "secrets"),
                "M403",
                f"NPC '{npc['id']}' has secrets but no check involves it (npc: {npc['id']}), "
                "so they can never be revealed",
            )
    if ctx.lore_ids is not None:
        for index, lore_id in strings(data.get("lore")):
            if lore_id not in ctx.lore_ids:
                flag.value(
                    ("lore", index),
                    "M302",
                    f"lore[{index}]: no file lore/{lore_id}.md in this repository"
                    + did_you_mean(lore_id, ctx.lore_ids),
                )

    summary: SpecSummary | None = None
    spec_id = data.get("id")
    if isinstance(spec_id, str):
        mark = located.value_mark(("id",))
        summary = SpecSummary(
            spec_id, mark.line, mark.col, ids["checks"], ids["outcomes"], ids["items"]
        )
        if stem != spec_id and _SLUG.match(spec_id):
            flag.at(
                mark,
                "M306",
                f"the spec id '{spec_id}' differs from the file name '{stem}'; "
                f"rename the file to {spec_id}.yaml so `mardonar play {spec_id}` finds it",
            )
    if isinstance(spec, Spec):
        tokens = ctx.persona_tokens + estimate_tokens(spec_gm_view(spec))
        if tokens > ctx.prompt_budget:
            longer = "gm_notes" if len(spec.gm_notes) > len(spec.setting) else "setting"
            flag.key(  # at the longer of the two texts an author would shorten
                (longer,),
                "M404",
                f"persona + this spec's GM view is about {tokens} tokens, over the budget of "
                f"{ctx.prompt_budget}: shorten setting/gm_notes or raise --prompt-budget",
            )
    return FileResult(findings, spec=summary)


# --------------------------------------------------------------------------- persona, party


def lint_persona(located: Located, file: str) -> FileResult:
    _, findings = validate(located, Persona, file, "persona")
    flag = Flagger(file, located, findings)
    data = located.data if isinstance(located.data, dict) else {}
    seen: set[str] = set()
    for index, skill in strings(data.get("skills")):
        if skill in seen:
            flag.value(("skills", index), "M301", f"skills[{index}]: '{skill}' is listed twice")
        seen.add(skill)
    return FileResult(findings)


def lint_party(located: Located, file: str, ctx: Context) -> FileResult:
    _, findings = validate(located, Party, file, "party")
    flag = Flagger(file, located, findings)
    data = located.data if isinstance(located.data, dict) else {}
    players: dict[str, Mark] = {}
    for index, character in entries(data, "characters"):
        player = character.get("player")
        if isinstance(player, str):
            mark = located.value_mark(("characters", index, "player"))
            key = player.casefold()
            if key in players:
                flag.at(
                    mark,
                    "M301",
                    f"characters[{index}].player: '{player}' already has a character "
                    f"(line {players[key].line}); one character per player",
                )
            else:
                players[key] = mark
        skills = character.get("skills")
        if isinstance(skills, dict):
            for skill in skills:
                if skill not in ctx.skills:
                    flag.key(
                        ("characters", index, "skills", skill),
                        "M304",
                        f"characters[{index}].skills: '{skill}' is not one of the persona's "
                        "skills" + (did_you_mean(skill, ctx.skills) or ""),
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
        _, more = validate(located, LoreFrontMatter, file, "front matter")
        shifted += [finding(f.path, f.line + offset, f.col, f.code, f.message) for f in more]
    return FileResult(findings + shifted)
