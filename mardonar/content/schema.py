"""JSON Schema for the author's files, generated from the content models.

Editors (VS Code with the YAML extension, anything speaking yaml-language-server) read the
`# yaml-language-server: $schema=...` line at the top of each YAML file and then offer
completion and inline errors from these schemas. They are generated, never hand-edited:
`mardonar schema` rewrites them and tests/test_schema.py fails when the checked-in copies
are stale. The output is byte-for-byte deterministic (sorted keys, indent 2, one trailing
newline), so a regeneration with no model change is an empty diff.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from mardonar.content.models import Party, Persona, Spec, TestPlan

DRAFT = "https://json-schema.org/draft/2020-12/schema"

# file name → (model, title). The title is what editors show for the file as a whole.
SCHEMAS: dict[str, tuple[type[BaseModel], str]] = {
    "spec.schema.json": (Spec, "Mardonar encounter spec (specs/<id>.yaml)"),
    "persona.schema.json": (Persona, "Mardonar game-master persona (persona.yaml)"),
    "party.schema.json": (Party, "Mardonar party (party.yaml)"),
    "testplan.schema.json": (TestPlan, "Mardonar test plan (specs/<id>.test.yaml)"),
}


def schema_for(model: type[BaseModel], title: str) -> dict[str, Any]:
    """One model's schema as a dict, with the draft and a title added.

    Deliberately no `$id`: the YAML files point at the schema by a relative path, and an
    `$id` that differs from where the editor loaded the file from has broken `$ref`
    resolution in yaml-language-server more than once (redhat-developer/yaml-language-server
    #1228, #1236). Without one, the base URI is the file itself and every `#/$defs/...`
    reference resolves locally.
    """
    schema = model.model_json_schema(by_alias=True)
    schema["$schema"] = DRAFT
    schema["title"] = title
    return schema


def render(schema: dict[str, Any]) -> str:
    """The canonical text of a schema file."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generate() -> dict[str, str]:
    """Every schema file's name and text, as the models describe them today."""
    return {name: render(schema_for(model, title)) for name, (model, title) in SCHEMAS.items()}


def write(out: Path) -> list[Path]:
    """Write every schema into `out` (created if missing); returns the paths written.

    Each file is written to a temporary name and renamed, so an editor watching the folder
    never reads half a schema.
    """
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, text in generate().items():
        path = out / name
        temporary = path.with_name(f".{name}.tmp")
        temporary.write_text(text, encoding="utf-8", newline="\n")
        temporary.replace(path)
        written.append(path)
    return written
