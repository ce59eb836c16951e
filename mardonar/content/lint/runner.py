"""Running lint over paths: discovery, repository context, both cores (the content-hash
cache of results is `cache.py`).

Budget (issue #2): 1,000 specs in under 2 s on 2 cores. libyaml composing is ~1.7 ms a
spec, so large runs fan out to a process pool (fork: the workers inherit the imported
modules and cost ~10 ms each to start), and results are cached by content hash so re-linting
an unchanged tree costs a hash per file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from mardonar.content.lint.cache import ResultCache, cache_dir
from mardonar.content.lint.findings import Finding, finding
from mardonar.content.lint.plans import lint_test_plan, test_plan_references
from mardonar.content.lint.rules import (
    Context,
    FileResult,
    SpecSummary,
    lint_lore,
    lint_party,
    lint_persona,
    lint_spec,
    parse,
)
from mardonar.content.models import DEFAULT_SKILLS, Party, Persona
from mardonar.content.render import estimate_tokens, persona_prompt
from mardonar.content.repo import (
    LORE_DIR,
    OUTSIDE,
    PARTY_FILE,
    PERSONA_FILE,
    SPECS_DIR,
    find_root,
    inside,
    lore_ids,
)
from mardonar.content.yamlpos import load_yaml
from mardonar.errors import UsageError

DEFAULT_PROMPT_BUDGET = 2500
PARALLEL_THRESHOLD = 64  # below this many files a pool costs more than it saves
_SKIP_DIRS = {"node_modules", "__pycache__", "venv", "site-packages", "data", "transcripts"}


@dataclass(frozen=True, slots=True)
class Job:
    display: str
    path: Path
    kind: str  # spec | persona | party | lore | test-plan
    root: Path | None


@dataclass(slots=True)
class LintReport:
    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    cached: int = 0

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity == "warning")


# --------------------------------------------------------------------------- discovery


def classify(path: Path) -> str | None:
    name = path.name
    if name.endswith((".test.yaml", ".test.yml")):
        return "test-plan"
    if name in (PERSONA_FILE, "persona.yml"):
        return "persona"
    if name in (PARTY_FILE, "party.yml"):
        return "party"
    if path.suffix in (".yaml", ".yml"):
        return "spec"
    if path.suffix == ".md":
        return "lore"
    return None


def _display(path: Path, cwd: str | None = None) -> str:
    try:
        return os.path.relpath(path, cwd)
    except ValueError:  # another drive on Windows
        return str(path)


def discover(
    paths: Sequence[Path],
    roots: dict[Path, Path | None] | None = None,
    walks: dict[tuple[Path, str], list[Job]] | None = None,
) -> list[Job]:
    """The files to lint under `paths`; `roots` remembers each folder's repository root
    (`find_root`) and `walks` the files found under each given path: both may be shared by
    the runs of one command (a replay's bundles each name the same lore folder)."""
    jobs: dict[Path, Job] = {}
    roots = {} if roots is None else roots
    real: dict[Path, Path] = {}  # folders resolved: every file of a folder shares its path
    cwd = os.getcwd()

    def root_for(path: Path) -> Path | None:
        folder = path.parent
        if folder not in roots:
            roots[folder] = find_root(folder)
        return roots[folder]

    def resolved(path: Path) -> Path:
        """`path.resolve()`, resolving each folder once (a symlinked file is followed)."""
        folder = path.parent
        if folder not in real:
            real[folder] = folder.resolve()
        return path.resolve() if path.is_symlink() else real[folder] / path.name

    for given in paths:
        found = walks.get((given, cwd)) if walks is not None else None
        if found is None:
            found = _discover_one(given, cwd, root_for, resolved, real)
            if walks is not None:
                walks[(given, cwd)] = found
        for job in found:
            jobs.setdefault(job.path, job)
    return sorted(jobs.values(), key=lambda job: job.display)


def _discover_one(
    given: Path,
    cwd: str,
    root_for: Callable[[Path], Path | None],
    resolved: Callable[[Path], Path],
    real: dict[Path, Path],
) -> list[Job]:
    """The files to lint that `given` names (itself, or those found walking it)."""
    jobs: dict[Path, Job] = {}
    if not given.exists():
        raise UsageError(f"{given}: no such file or directory", exit_code=2)
    if given.is_dir():
        walk_root = given.resolve()
        for folder, dirs, files in os.walk(given):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
            here = Path(folder)
            real[here] = here.resolve()
            relative = real[here].relative_to(walk_root)
            holds_specs = SPECS_DIR in (walk_root.name, *relative.parts)
            for name in sorted(files):
                path = here / name
                kind = classify(path)
                # In a walk, only specs/ holds specs and test plans and only lore/ holds
                # lore: other YAML (CI files, templates, generated output) is not content.
                if kind is None or (kind == "lore" and here.name != LORE_DIR):
                    continue
                if kind in ("spec", "test-plan") and not holds_specs:
                    continue
                found = resolved(path)
                jobs.setdefault(found, Job(_display(path, cwd), found, kind, root_for(path)))
    else:
        kind = classify(given)
        if kind is None:
            raise UsageError(
                f"{given}: lint reads .yaml/.yml specs, persona.yaml, party.yaml and lore "
                "*.md files",
                exit_code=2,
            )
        found = given.resolve()
        jobs.setdefault(found, Job(_display(given, cwd), found, kind, root_for(given)))
    return list(jobs.values())


def default_paths(cwd: Path) -> list[Path]:
    root = find_root(cwd)
    if root is None:
        raise UsageError(
            f"no {PERSONA_FILE} in {cwd} or any folder above it: run lint inside a Mardonar "
            "repository or name the files to check",
            exit_code=2,
        )
    candidates = [root / SPECS_DIR, root / PERSONA_FILE, root / PARTY_FILE, root / LORE_DIR]
    return [path for path in candidates if path.exists()]


# --------------------------------------------------------------------------- context


Model = TypeVar("Model", Persona, Party)


@dataclass
class LintMemo:
    """What several lint runs in one command share (the bundles of a replay run, each linted
    as it is loaded): the cache file, read once; the repository root of each folder; and the
    persona and party, parsed once per content, since lint's context and the bundle read the
    same files; and what each folder holds and each repository's context, found once. A
    command sees the repository as it was when it first looked, as a run reads each file
    once; only replay shares one memo between loads (lint and play make theirs per run)."""

    cache: ResultCache | None = None
    roots: dict[Path, Path | None] = field(default_factory=dict)
    parsed: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    walks: dict[tuple[Path, str], list[Job]] = field(default_factory=dict)
    """The files found under each path given to lint (`discover`), per working folder."""
    contexts: dict[tuple[Path | None, int], Context] = field(default_factory=dict)
    """Each repository's lint context (skills, lore ids, players, prompt budget)."""

    def model(self, path: Path, model: type[Model], *, cached: bool = True) -> Model:
        """`path` read and validated as `model` (OSError, YamlSyntaxError, ValidationError
        or ValueError when it is not one): each content is parsed once. `cached`: through
        the parse cache (`mardonar lint --no-cache` writes no cache at all)."""
        text = path.read_text(encoding="utf-8")
        key = (model, text)
        found = self.parsed.get(key)
        if isinstance(found, model):
            return found
        from mardonar.content.parsecache import load_plain

        # Its findings come from its own job.
        data = load_plain(text) if cached else load_yaml(text, positions=False).data
        if not isinstance(data, dict):
            raise ValueError(f"{path}: not a mapping")
        value = model.model_validate(data)
        self.parsed[key] = value
        return value


def _load_quietly(
    path: Path, model: type[Model], memo: LintMemo | None = None, *, cached: bool = True
) -> Model | None:
    """A persona or party to check others against; its own findings come from its own job."""
    try:
        return (memo or LintMemo()).model(path, model, cached=cached)
    except Exception:  # any problem is reported when the file itself is linted
        return None


def build_context(
    root: Path | None, prompt_budget: int, memo: LintMemo | None = None, *, cached: bool = True
) -> Context:
    if root is None:
        return Context(DEFAULT_SKILLS, None, None, 0, prompt_budget)
    # A persona or party outside the repository is not read (its own job reports M103).
    persona_path, party_path = root / PERSONA_FILE, root / PARTY_FILE
    persona = (
        _load_quietly(persona_path, Persona, memo, cached=cached)
        if inside(root, persona_path)
        else None
    )
    party = (
        _load_quietly(party_path, Party, memo, cached=cached) if inside(root, party_path) else None
    )
    skills = persona.skills if isinstance(persona, Persona) else list(DEFAULT_SKILLS)
    tokens = estimate_tokens(persona_prompt(persona)) if isinstance(persona, Persona) else 0
    players = (
        frozenset(c.player.casefold() for c in party.characters)
        if isinstance(party, Party)
        else None
    )
    return Context(tuple(skills), lore_ids(root), players, tokens, prompt_budget)


# --------------------------------------------------------------------------- per file


def outside(job: Job) -> FileResult | None:
    """M103 for a file that resolves outside its repository, which is then never read (not
    even hashed for the cache: a link to /dev/zero or a FIFO would never end)."""
    if job.root is None or job.path.is_relative_to(job.root):
        return None
    return FileResult([finding(job.display, 1, 1, "M103", f"the file {OUTSIDE}")])


def lint_one(job: Job, ctx: Context) -> FileResult:
    refused = outside(job)
    if refused is not None:
        return refused
    try:
        raw = job.path.read_bytes()
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        before = raw[: error.start]
        line = before.count(b"\n") + 1
        col = error.start - (before.rfind(b"\n") + 1) + 1
        return FileResult(
            [finding(job.display, line, col, "M100", "not UTF-8 text; save the file as UTF-8")]
        )
    except OSError as error:
        return FileResult([finding(job.display, 1, 1, "M100", f"cannot read: {error.strerror}")])
    stem = job.path.name.split(".")[0]
    if job.kind == "lore":
        return lint_lore(text, job.display, stem)
    located, problems = parse(text, job.display)
    if located is None:
        return FileResult(problems)
    if job.kind == "spec":
        result = lint_spec(located, job.display, ctx, stem)
    elif job.kind == "persona":
        result = lint_persona(located, job.display)
    elif job.kind == "party":
        result = lint_party(located, job.display, ctx)
    else:
        result = lint_test_plan(located, job.display)
    result.findings[:0] = problems
    return result


def _lint_chunk(chunk: list[tuple[Job, Context]]) -> list[FileResult]:
    return [lint_one(job, ctx) for job, ctx in chunk]


# --------------------------------------------------------------------------- the run


def run_lint(
    paths: Iterable[Path],
    *,
    prompt_budget: int = DEFAULT_PROMPT_BUDGET,
    use_cache: bool = True,
    workers: int | None = None,
    memo: LintMemo | None = None,
) -> LintReport:
    """Lint `paths`; a `memo` shared by several runs of one command saves re-reading."""
    memo = memo or LintMemo()
    jobs = discover(list(paths), memo.roots, memo.walks)
    contexts: dict[Path | None, Context] = {}
    for job in jobs:
        if job.root not in contexts:
            shared = (job.root, prompt_budget)
            if shared not in memo.contexts:
                memo.contexts[shared] = build_context(
                    job.root, prompt_budget, memo, cached=use_cache
                )
            contexts[job.root] = memo.contexts[shared]

    folder = cache_dir() if use_cache else None
    if folder is None:
        cache = ResultCache(None)
    else:
        path = folder / "lint-cache.json"
        if memo.cache is None or memo.cache.path != path:
            memo.cache = ResultCache(path)
        cache = memo.cache
    results: dict[int, FileResult] = {}
    pending: list[tuple[int, Job, str | None]] = []
    report = LintReport(files=len(jobs))
    for index, job in enumerate(jobs):
        ctx = contexts[job.root]
        refused = outside(job)
        if refused is not None:
            results[index] = refused
            continue
        key = ResultCache.key(job, ctx) if use_cache and job.kind != "test-plan" else None
        hit = cache.get(key) if key else None
        if hit is not None:
            results[index] = hit
            report.cached += 1
        else:
            pending.append((index, job, key))

    work = [(job, contexts[job.root]) for _, job, _ in pending]
    cpus = workers or min(os.cpu_count() or 1, 8)
    if len(work) >= PARALLEL_THRESHOLD and cpus > 1:
        import multiprocessing

        size = -(-len(work) // (cpus * 4))
        chunks = [work[i : i + size] for i in range(0, len(work), size)]
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=cpus, mp_context=context) as pool:
            produced = [result for batch in pool.map(_lint_chunk, chunks) for result in batch]
    else:
        produced = _lint_chunk(work)
    for (index, _job, key), result in zip(pending, produced, strict=True):
        results[index] = result
        if key:
            cache.put(key, result)
    cache.save()

    # Cross-file rules: the same spec id twice in one repository, and test plans against the
    # specs they name. Two repositories linted in one run may share ids.
    first_by_id: dict[tuple[Path | None, str], tuple[Job, SpecSummary]] = {}
    specs_by_root: dict[Path | None, dict[str, SpecSummary]] = {}
    for index, job in enumerate(jobs):
        result = results[index]
        report.findings.extend(result.findings)
        summary = result.spec
        if summary is None:
            continue
        specs_by_root.setdefault(job.root, {}).setdefault(summary.id, summary)
        if (job.root, summary.id) in first_by_id:
            first_job, first = first_by_id[(job.root, summary.id)]
            report.findings.append(
                finding(
                    job.display,
                    summary.id_line,
                    summary.id_col,
                    "M305",
                    f"spec id '{summary.id}' is also used by {first_job.display}:"
                    f"{first.id_line}:{first.id_col}; spec ids must be unique",
                )
            )
        else:
            first_by_id[(job.root, summary.id)] = (job, summary)
    for index, job in enumerate(jobs):
        located = results[index].test_plan
        if located is None:
            continue
        known = _specs_of_root(job.root, specs_by_root, contexts[job.root])
        report.findings.extend(
            test_plan_references(located, job.display, known, contexts[job.root])
        )
    report.findings.sort(key=lambda f: (f.path, f.line, f.col, f.code))
    return report


def _specs_of_root(
    root: Path | None, seen: dict[Path | None, dict[str, SpecSummary]], ctx: Context
) -> dict[str, SpecSummary]:
    """Specs a test plan may name: those of this run, plus the rest of the repository's."""
    known = dict(seen.get(root, {}))
    if root is not None and (root / SPECS_DIR).is_dir():
        for path in sorted((root / SPECS_DIR).glob("*.y*ml")):
            if classify(path) != "spec" or path.stem in known or not inside(root, path):
                continue
            result = lint_one(Job(str(path), path, "spec", root), ctx)
            if result.spec is not None:
                known.setdefault(result.spec.id, result.spec)
    return known
