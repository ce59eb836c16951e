"""Everything one encounter needs from the author's repository, loaded and checked.

A spec that does not lint is refused before anything runs (exit 2), with its first
finding and a pointer to `mardonar lint` for the rest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mardonar.content.lint.rules import split_front_matter
from mardonar.content.models import Lore as LoreDoc
from mardonar.content.models import LoreFrontMatter, Party, Persona, Spec
from mardonar.content.repo import (
    LORE_DIR,
    PARTY_FILE,
    PERSONA_FILE,
    SPECS_DIR,
    find_root,
    require_inside,
)
from mardonar.errors import UsageError

if TYPE_CHECKING:
    from mardonar.content.lint.runner import LintMemo


@dataclass(frozen=True)
class Bundle:
    root: Path
    spec: Spec
    spec_path: Path
    spec_sha256: str
    persona: Persona
    persona_sha256: str
    party: Party
    party_path: Path
    lore: tuple[LoreDoc, ...]
    rendered: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    """Text rendered from this bundle's (frozen) content, by name — the persona prompt, the
    spec's GM view: what the context builder would otherwise render again every turn."""


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def resolve_spec_path(spec: str, cwd: Path) -> Path:
    """A spec argument is a path, or an id found in specs/ of the current repository. A
    spec file that resolves outside the repository around it (a symlink) is refused."""
    candidate = Path(spec)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        if not candidate.is_file():
            raise UsageError(f"{spec}: no such spec file", exit_code=2)
        # The repository is the one the path names, before any symlink is followed.
        around = find_root(candidate.absolute().parent)
        if around is None:
            return candidate.resolve()  # load_bundle says there is no repository
        return require_inside(around, candidate, spec)
    root = find_root(cwd)
    if root is None:
        raise UsageError(
            f"spec '{spec}': no {PERSONA_FILE} in {cwd} or above, so there is no specs/ folder "
            "to look in; give the spec's path instead",
            exit_code=2,
        )
    for suffix in (".yaml", ".yml"):
        path = root / SPECS_DIR / f"{spec}{suffix}"
        if path.is_file():
            require_inside(root, path, f"{SPECS_DIR}/{path.name}")
            return path
    known = sorted(p.stem for p in (root / SPECS_DIR).glob("*.yaml") if ".test" not in p.name)
    hint = f" (known: {', '.join(known)})" if known else ""
    raise UsageError(f"spec '{spec}': no {SPECS_DIR}/{spec}.yaml in {root}{hint}", exit_code=2)


def _data(text: str) -> Any:
    from mardonar.content.parsecache import load_plain

    return load_plain(text)  # lint has placed every problem already


def load_lore(root: Path, memo: LintMemo | None = None) -> tuple[LoreDoc, ...]:
    """The lore files of a repository; with a `memo`, read once per repository."""
    if memo is not None:
        known = memo.parsed.get((LoreDoc, root))
        if known is None:
            known = memo.parsed[(LoreDoc, root)] = load_lore(root)
        return tuple(known)
    from mardonar.content.parsecache import load_plain

    folder = root / LORE_DIR
    docs: list[LoreDoc] = []
    for path in sorted(folder.glob("*.md")) if folder.is_dir() else []:
        # Indexed for lore_search and `serve mcp`: never a file from outside (a secret).
        text = require_inside(root, path, f"{LORE_DIR}/{path.name}").read_text(encoding="utf-8")
        front, body, _ = split_front_matter(text)
        meta = LoreFrontMatter()
        if front is not None:
            data = load_plain(front)
            if isinstance(data, dict):
                meta = LoreFrontMatter.model_validate(data)
        title = meta.title or next(
            (line.lstrip("#").strip() for line in body.splitlines() if line.startswith("#")),
            path.stem,
        )
        docs.append(
            LoreDoc(id=path.stem, title=title, keywords=tuple(meta.keywords), body=body.strip())
        )
    return tuple(docs)


def load_bundle(
    spec: str, *, cwd: Path, party: Path | None = None, memo: LintMemo | None = None
) -> Bundle:
    """Load and lint a spec with its repository's persona, party and lore.

    Lint's context and the bundle share one parse of the persona and the party; a `memo`
    shared by the loads of one command (a replay run) also shares the lint cache file, the
    persona, party and lore across them."""
    from mardonar.content.lint.runner import LintMemo, run_lint

    memo = memo or LintMemo()
    spec_path = resolve_spec_path(spec, cwd)
    if spec_path.parent not in memo.roots:
        memo.roots[spec_path.parent] = find_root(spec_path.parent)
    root = memo.roots[spec_path.parent]
    if root is None:
        raise UsageError(
            f"{spec_path}: no {PERSONA_FILE} in its folder or any folder above it; a spec is "
            "played inside a Mardonar repository (see `mardonar new spec`)",
            exit_code=2,
        )
    # An explicit --party is the user's own choice of file; the repository's may not
    # lead outside it.
    party_path = (party or root / PARTY_FILE).resolve()
    if party is None and (root / PARTY_FILE).exists():
        require_inside(root, root / PARTY_FILE)
    require_inside(root, root / PERSONA_FILE)
    if not party_path.is_file():
        raise UsageError(
            f"{party_path}: no party file; write one (see docs/spec-format.md) or pass --party",
            exit_code=2,
        )
    targets = [spec_path, root / PERSONA_FILE, party_path]
    if (root / LORE_DIR).is_dir():
        targets.append(root / LORE_DIR)
    report = run_lint(targets, memo=memo)
    errors = [f for f in report.findings if f.severity == "error"]
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise UsageError(
            f"{first.path}:{first.line}:{first.col}: {first.message} [{first.code}]{more}; "
            "run `mardonar lint` to see every problem",
            exit_code=2,
        )
    spec_bytes = spec_path.read_bytes()
    return Bundle(
        root=root,
        spec=Spec.model_validate(_data(spec_bytes.decode("utf-8"))),
        spec_path=spec_path,
        spec_sha256=hashlib.sha256(spec_bytes).hexdigest(),
        persona=memo.model(root / PERSONA_FILE, Persona),
        persona_sha256=sha256_of(root / PERSONA_FILE),
        party=memo.model(party_path, Party),
        party_path=party_path,
        lore=load_lore(root, memo),
    )
