"""`mardonar new spec ID`: start an encounter from a commented template that lints clean."""

from __future__ import annotations

import re
from pathlib import Path

import typer

SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
MAX_ID_LENGTH = 64  # the content models' limit for every slug
TEMPLATE = ("content", "templates", "spec.yaml")  # inside the `mardonar` package
PLAN_TEMPLATE = ("content", "templates", "spec.test.yaml")
"""The test-plan stub written beside the spec: `make test` wants a plan for every spec
(tests/test_outcomes.py), and an author's first `mardonar test` then has a case to run."""

app = typer.Typer(help="Start a new file from a template.", no_args_is_help=True)


def register(main: typer.Typer) -> None:
    main.add_typer(app, name="new")


@app.command("spec")
def _spec(
    spec_id: str = typer.Argument(
        ..., metavar="ID", help="The new spec's id: lower-case words joined by hyphens."
    ),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite an existing file."),
) -> None:
    """Write specs/ID.yaml in the current repository from a commented template, and its
    test plan specs/ID.test.yaml (both lint clean; the plan passes `mardonar test`)."""
    from mardonar.content.repo import SPECS_DIR, find_root
    from mardonar.errors import UsageError

    if not SLUG.fullmatch(spec_id) or len(spec_id) > MAX_ID_LENGTH:
        raise UsageError(
            f"{spec_id!r} is not a valid spec id: use lower-case letters, digits and single "
            "hyphens (at most 64 characters), e.g. goblin-toll-bridge"
        )
    root = find_root(Path.cwd())
    if root is None:
        typer.echo("mardonar: note: no persona.yaml here or above; writing into ./specs", err=True)
        root = Path.cwd()
    specs = root / SPECS_DIR
    path = specs / f"{spec_id}.yaml"
    plan = specs / f"{spec_id}.test.yaml"
    shown = _shown(path)
    for existing in (path, plan):
        if existing.exists() and not force:
            raise UsageError(
                f"{_shown(existing)} already exists: pick another id, or pass --force to overwrite"
            )
    if not force and (clash := _file_with_id(specs, spec_id, path)) is not None:
        raise UsageError(
            f"{_shown(clash)} already has `id: {spec_id}` (ids are unique across specs/): "
            "pick another id"
        )

    text = _template(TEMPLATE).replace("__ID__", spec_id).replace("__TITLE__", title_of(spec_id))
    plan_text = _template(PLAN_TEMPLATE).replace("__ID__", spec_id)
    try:
        specs.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
        plan.write_text(plan_text, encoding="utf-8", newline="\n")
    except OSError as error:
        raise UsageError(f"cannot write {shown}: {error.strerror or error}") from None
    typer.echo(f"wrote {shown}")
    typer.echo(f"wrote {_shown(plan)} (its test plan)")
    typer.echo(f"next: edit them, then `mardonar lint {shown}` and `mardonar test {_shown(plan)}`")
    if not (root / "schemas" / "spec.schema.json").is_file():
        # the template's first line points editors at ../schemas/spec.schema.json
        typer.echo("tip: run `mardonar schema` once for completion and checks in your editor")


def title_of(spec_id: str) -> str:
    """`goblin-toll-bridge` → `Goblin Toll Bridge`: a first title the author will rewrite."""
    return spec_id.replace("-", " ").title()


def _template(parts: tuple[str, ...]) -> str:
    """A template shipped in the package (hatchling includes every file under mardonar/)."""
    from importlib.resources import files

    from mardonar.errors import UserError

    resource = files("mardonar").joinpath(*parts)
    try:
        return resource.read_text(encoding="utf-8")
    except OSError:
        raise UserError(
            f"the template mardonar/{'/'.join(parts)} is missing from this "
            "installation: reinstall mardonar"
        ) from None


def _file_with_id(specs: Path, spec_id: str, skip: Path) -> Path | None:
    """Another spec file already declaring `id: <spec_id>` (a cheap text scan, no YAML)."""
    if not specs.is_dir():
        return None
    declared = re.compile(rf"^id:\s*['\"]?{re.escape(spec_id)}['\"]?\s*(#.*)?$", re.MULTILINE)
    for other in sorted(specs.glob("*.yaml")):
        if other == skip or other.name.endswith(".test.yaml"):
            continue
        try:
            if declared.search(other.read_text(encoding="utf-8", errors="replace")):
                return other
        except OSError:
            continue
    return None


def _shown(path: Path) -> str:
    """A path relative to the working directory when it is inside it, else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
