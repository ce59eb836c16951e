"""The JSON Schema files: fresh, writable by `mardonar schema`, and wired into every YAML file."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from mardonar.content import schema

RunCli = Callable[..., subprocess.CompletedProcess[str]]
REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEMAS_DIR = REPO_ROOT / "schemas"
MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)\s*$")


def shipped_yaml() -> list[Path]:
    """Every author file the repository ships, test plans included."""
    files = [REPO_ROOT / "persona.yaml", REPO_ROOT / "party.yaml"]
    files += sorted((REPO_ROOT / "specs").glob("*.yaml"))
    return [path for path in files if path.is_file()]


def expected_schema(path: Path) -> str:
    """The schema file a YAML file should point at, by its name."""
    if path.name.endswith(".test.yaml"):
        return "testplan.schema.json"
    if path.parent.name == "specs":
        return "spec.schema.json"
    return f"{path.stem}.schema.json"


@pytest.mark.parametrize("name", sorted(schema.SCHEMAS))
def test_checked_in_schema_is_fresh(name: str) -> None:
    checked_in = SCHEMAS_DIR / name
    assert checked_in.is_file(), f"schemas/{name} is missing: run `mardonar schema`"
    assert checked_in.read_text(encoding="utf-8") == schema.generate()[name], (
        f"schemas/{name} is stale (the models changed): run `mardonar schema` and commit it"
    )


def test_no_unknown_schema_files() -> None:
    """A schema whose model was removed would mislead editors forever."""
    unknown = {path.name for path in SCHEMAS_DIR.glob("*.json")} - set(schema.SCHEMAS)
    assert not unknown, f"unexpected files in schemas/: {sorted(unknown)}"


def test_generation_is_deterministic() -> None:
    assert schema.generate() == schema.generate()
    for text in schema.generate().values():
        assert text.endswith("}\n") and not text.endswith("\n\n")
        document = json.loads(text)
        assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert document["title"].startswith("Mardonar ")
        assert text == json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_party_schema_uses_the_yaml_key_class() -> None:
    """by_alias: authors write `class:`, never the Python name `class_`."""
    party = json.loads(schema.generate()["party.schema.json"])
    character = party["$defs"]["Character"]
    assert "class" in character["properties"] and "class_" not in character["properties"]
    assert character["additionalProperties"] is False


def test_schema_command_writes_every_file(run_cli: RunCli, tmp_path: Path) -> None:
    out = tmp_path / "out"

    result = run_cli("schema", "--out", out)

    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in out.iterdir()) == sorted(schema.SCHEMAS)
    assert len(result.stdout.splitlines()) == len(schema.SCHEMAS)
    for name, text in schema.generate().items():
        assert (out / name).read_text(encoding="utf-8") == text
        assert name in result.stdout


def test_schema_command_defaults_to_the_repository_root(run_cli: RunCli, tmp_repo: Path) -> None:
    inside = tmp_repo / "specs"

    result = run_cli("schema", cwd=inside)

    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in (tmp_repo / "schemas").iterdir()) == sorted(schema.SCHEMAS)


def test_schema_command_unwritable_folder_is_one_line(run_cli: RunCli, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n", encoding="utf-8")

    result = run_cli("schema", "--out", blocker / "schemas")

    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("path", shipped_yaml(), ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_shipped_yaml_points_at_its_schema(path: Path) -> None:
    first_line = path.read_text(encoding="utf-8").splitlines()[0]
    match = MODELINE.match(first_line)
    assert match, f"{path.name}: line 1 must be `# yaml-language-server: $schema=<path>`"
    target = (path.parent / match.group(1)).resolve()
    assert target.is_file(), f"{path.name}: {match.group(1)} does not exist"
    assert target.name == expected_schema(path)


@pytest.mark.parametrize("path", shipped_yaml(), ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_shipped_yaml_validates_against_its_schema(path: Path) -> None:
    """What editors check (the JSON Schema) agrees with what lint checks (the models)."""
    jsonschema = pytest.importorskip("jsonschema")
    document = json.loads((SCHEMAS_DIR / expected_schema(path)).read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(document)
    errors = [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(yaml.safe_load(path.read_text(encoding="utf-8")))
    ]
    assert not errors, f"{path.name}: " + "; ".join(errors)


def test_schema_files_are_valid_json_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    for text in schema.generate().values():
        jsonschema.Draft202012Validator.check_schema(json.loads(text))
