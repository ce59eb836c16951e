"""docs/spec-format.md can never drift from the content models.

Two conventions in the doc make it checkable:

* `<!-- fields: Model -->` right before a Markdown table: the table's first column lists
  exactly that model's fields, by the name an author writes (the alias: `class`, `as`). A
  field added to a model without a row fails here, and so does a row for a field that does
  not exist.
* `<!-- example: KIND [NAME] -->` right before a fenced block: a complete example of a file
  (KIND is spec, persona, party, lore or testplan; NAME names a lore file). Each must
  validate against its model, and all of them written out together as one repository must
  lint clean, with the real `mardonar lint`.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from enum import Enum
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from mardonar.content import models

RunCli = Callable[..., subprocess.CompletedProcess[str]]

DOC = Path(__file__).resolve().parent.parent / "docs" / "spec-format.md"

DOCUMENTED_MODELS: dict[str, type[BaseModel]] = {
    model.__name__: model
    for model in (
        models.Spec,
        models.PlayerCount,
        models.Npc,
        models.Check,
        models.Outcome,
        models.Item,
        models.Limits,
        models.Persona,
        models.Filters,
        models.ModelOptions,
        models.Party,
        models.Character,
        models.LoreFrontMatter,
        models.TestPlan,
        models.TestCase,
        models.Expectation,
    )
}
"""Every model an author writes a part of; each must have a fields table in the doc."""

ALLOWED_VALUES: dict[tuple[str, str], tuple[str, ...]] = {
    ("Npc", "disposition"): tuple(models.Disposition),
    ("Outcome", "result"): tuple(models.OutcomeResult),
    ("Expectation", "checks"): tuple(models.CheckExpectation),
    ("Expectation", "status"): ("active", "resolved", "ended"),
    ("Persona", "skills"): models.DEFAULT_SKILLS,
}
"""Rows that must spell out every allowed (or default) value."""

EXAMPLE_MODELS: dict[str, type[BaseModel]] = {
    "spec": models.Spec,
    "persona": models.Persona,
    "party": models.Party,
    "testplan": models.TestPlan,
    "lore": models.LoreFrontMatter,
}

_FIELDS_TABLE = re.compile(r"<!--\s*fields:\s*(\w+)\s*-->[ \t]*\n((?:[ \t]*\|[^\n]*(?:\n|$))+)")
_ROW_FIELD = re.compile(r"^\s*\|\s*`([^`]+)`\s*\|")
_EXAMPLE = re.compile(
    r"<!--\s*example:\s*([\w-]+)(?:\s+([\w-]+))?\s*-->[ \t]*\n"
    r"```[\w-]*[ \t]*\n(.*?)^```[ \t]*$",
    re.DOTALL | re.MULTILINE,
)


def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _tables() -> dict[str, dict[str, str]]:
    """Model name → {field: the whole table row}."""
    tables: dict[str, dict[str, str]] = {}
    for match in _FIELDS_TABLE.finditer(_doc()):
        name = match.group(1)
        assert name not in tables, f"two `<!-- fields: {name} -->` tables in {DOC.name}"
        rows: dict[str, str] = {}
        for line in match.group(2).splitlines():
            row = _ROW_FIELD.match(line)
            if row:
                assert row.group(1) not in rows, f"{name}: `{row.group(1)}` has two rows"
                rows[row.group(1)] = line
        tables[name] = rows
    return tables


def _aliases(model: type[BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def _examples() -> list[tuple[str, str | None, str]]:
    """(kind, name or None, the block's text) of every marked example, in order."""
    return [(m.group(1), m.group(2), m.group(3)) for m in _EXAMPLE.finditer(_doc())]


def _front_matter(text: str) -> str:
    lines = text.splitlines()
    assert lines and lines[0].strip() == "---", "a lore example starts with front matter"
    end = next(i for i in range(1, len(lines)) if lines[i].strip() in ("---", "..."))
    return "\n".join(lines[1:end])


def _example_data(kind: str, text: str) -> object:
    return yaml.safe_load(_front_matter(text) if kind == "lore" else text)


# --------------------------------------------------------------------------- field tables


def test_every_model_has_a_fields_table() -> None:
    tables = _tables()
    missing = sorted(set(DOCUMENTED_MODELS) - set(tables))
    assert not missing, f"{DOC.name} has no `<!-- fields: X -->` table for: {', '.join(missing)}"
    unknown = sorted(set(tables) - set(DOCUMENTED_MODELS))
    assert not unknown, f"{DOC.name} documents models that are not checked here: {unknown}"


@pytest.mark.parametrize("name", sorted(DOCUMENTED_MODELS))
def test_fields_table_matches_the_model(name: str) -> None:
    documented = set(_tables().get(name, {}))
    actual = _aliases(DOCUMENTED_MODELS[name])
    assert not actual - documented, (
        f"{DOC.name}: fields of {name} with no row: {sorted(actual - documented)}"
    )
    assert not documented - actual, (
        f"{DOC.name}: rows for fields {name} does not have: {sorted(documented - actual)}"
    )


@pytest.mark.parametrize(("model", "field"), sorted(ALLOWED_VALUES))
def test_rows_spell_out_allowed_values(model: str, field: str) -> None:
    row = _tables()[model][field]
    for value in ALLOWED_VALUES[(model, field)]:
        text = value.value if isinstance(value, Enum) else value
        assert f"`{text}`" in row, f"{DOC.name}: {model}.{field} does not mention `{text}`"


def test_every_core_field_is_named_in_the_doc() -> None:
    """The brief's minimum, independent of the table convention: every field by alias."""
    doc = _doc()
    for model in (
        models.Spec,
        models.Npc,
        models.Check,
        models.Outcome,
        models.Item,
        models.Limits,
        models.Persona,
        models.Character,
    ):
        for alias in _aliases(model):
            assert f"`{alias}`" in doc, f"{DOC.name} never names {model.__name__}.{alias}"


# --------------------------------------------------------------------------- examples


def test_every_kind_of_file_has_a_complete_example() -> None:
    kinds = {kind for kind, _, _ in _examples()}
    assert kinds >= set(EXAMPLE_MODELS), f"missing examples: {set(EXAMPLE_MODELS) - kinds}"
    assert kinds <= set(EXAMPLE_MODELS), f"unknown example kinds: {kinds - set(EXAMPLE_MODELS)}"


@pytest.mark.parametrize(
    ("kind", "text"),
    [pytest.param(kind, text, id=f"{kind}-{i}") for i, (kind, _, text) in enumerate(_examples())],
)
def test_example_validates_against_its_model(kind: str, text: str) -> None:
    EXAMPLE_MODELS[kind].model_validate(_example_data(kind, text))


def test_examples_lint_clean_as_one_repository(run_cli: RunCli, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "specs").mkdir(parents=True)
    (repo / "lore").mkdir()
    for kind, name, text in _examples():
        data = _example_data(kind, text)
        assert isinstance(data, dict)
        if kind == "spec":
            path = repo / "specs" / f"{data['id']}.yaml"
        elif kind == "testplan":
            path = repo / "specs" / f"{data['spec']}.test.yaml"
        elif kind == "lore":
            assert name, "a lore example names its file: <!-- example: lore ID -->"
            path = repo / "lore" / f"{name}.md"
        else:
            path = repo / f"{kind}.yaml"
        assert not path.exists(), f"two examples would be written to {path.name}"
        path.write_text(text, encoding="utf-8")

    result = run_cli("lint", "--no-cache", "--format", "json", cwd=repo)
    findings = json.loads(result.stdout or "[]")
    shown = "\n".join(
        f"{f['path']}:{f['line']}:{f['col']}: {f['severity']}[{f['code']}] {f['message']}"
        for f in findings
    )
    assert findings == [], f"the examples of {DOC.name} do not lint clean:\n{shown}"
    assert result.returncode == 0, result.stderr
