"""YAML loading that remembers where every key and value stands.

PyYAML's `safe_load` throws positions away and silently keeps the last of two duplicate
keys. We compose the node graph with libyaml (`CSafeLoader`, the fastest loader that keeps
each node's mark: ~1.7 ms for a 100-line spec) and build plain Python data ourselves,
recording the 1-based line and column of every value and every mapping key by its path
(the same tuple pydantic uses as an error `loc`), and every duplicate key we meet.
"""

from __future__ import annotations

import functools
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Path = tuple[str | int, ...]

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = yaml.resolver.Resolver()


@functools.lru_cache(maxsize=2048)
def _resolve(kind: type[Node], value: str, implicit: tuple[bool, bool]) -> str:
    tag: str = yaml.resolver.Resolver.resolve(_RESOLVER, kind, value, implicit)  # type: ignore[no-untyped-call]
    return tag


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """The safe loader, with the tag of short plain scalars (`true`, `13`, `intimidation`…)
    looked up once: PyYAML resolves each one in Python, a tenth of composing a spec. The
    safe loader has no path resolvers, so a scalar's tag depends on its text alone."""

    def resolve(self, kind: type[Node], value: Any, implicit: Any) -> Any:
        if kind is ScalarNode and len(value) <= 64:
            return _resolve(kind, value, tuple(implicit))
        return super().resolve(kind, value, implicit)


_MERGE_TAG = "tag:yaml.org,2002:merge"
_SCALAR_CONSTRUCTORS = SafeConstructor.yaml_constructors
# Bounds on what one document may build: real content nests a few levels and holds a few
# thousand values; deeper nesting would exhaust Python's recursion limit, and aliases that
# multiply (`b: [*a, *a, ...]`, a "billion laughs") would expand exponentially.
MAX_DEPTH = 100
MAX_VALUES = 100_000


@dataclass(frozen=True, slots=True)
class Mark:
    """A 1-based position in a file."""

    line: int
    col: int


@dataclass(frozen=True, slots=True)
class YamlProblem:
    """Something wrong found while building the data (not a syntax error)."""

    code: str
    mark: Mark
    message: str


@dataclass(slots=True)
class Located:
    """Plain data plus where each piece of it came from."""

    data: Any
    values: dict[Path, Mark] = field(default_factory=dict)
    keys: dict[Path, Mark] = field(default_factory=dict)
    problems: list[YamlProblem] = field(default_factory=list)

    def value_mark(self, path: Path) -> Mark:
        """The mark of the value at `path`, or of its nearest located ancestor."""
        for end in range(len(path), -1, -1):
            mark = self.values.get(path[:end])
            if mark is not None:
                return mark
        return Mark(1, 1)

    def key_mark(self, path: Path) -> Mark:
        """The mark of the key that introduces `path` (falls back to the value's mark)."""
        return self.keys.get(path) or self.value_mark(path)


class YamlSyntaxError(Exception):
    """The text is not YAML; `mark` is where the parser gave up."""

    def __init__(self, message: str, mark: Mark) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


class _Positions:
    """Editor positions for parser marks.

    YAML also ends lines at NEL (U+0085) and U+2028/U+2029, which editors do not (pasted
    text carries them), and libyaml puts an error at the end of a file without a final
    newline on a line past the last one. So when the text has such a character, or for an
    error, the position is recounted from the mark's character index at \\n, \\r\\n and \\r
    only: a finding's line is the line the author sees.
    """

    def __init__(self, text: str, *, recount: bool = False) -> None:
        self.starts: list[int] | None = None
        if recount or "\x85" in text or "\u2028" in text or "\u2029" in text:
            self.starts = [0, *(m.end() for m in re.finditer(r"\r\n|\r|\n", text))]

    def at_index(self, index: int) -> Mark:
        starts = self.starts if self.starts is not None else [0]
        line = bisect_right(starts, index) - 1
        return Mark(line + 1, index - starts[line] + 1)

    def of(self, mark: Any) -> Mark:
        if self.starts is None:
            return Mark(mark.line + 1, mark.column + 1)
        return self.at_index(mark.index)

    def node_mark(self, node: Node) -> Mark:
        return self.at_index(node.start_mark.index)


def _mark(node: Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def load_yaml(text: str, *, positions: bool = True) -> Located:
    """Parse one YAML document; raises `YamlSyntaxError` for text that is not YAML.

    Without `positions` the data (and any problem) is the same but no value's or key's mark
    is recorded: what loading a file lint has already checked needs, at half the cost."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        where = error.problem_mark or error.context_mark
        mark = _Positions(text, recount=True).of(where) if where else Mark(1, 1)
        problem = error.problem or error.context or "not valid YAML"
        if error.context and error.problem and "expected a single document" not in problem:
            problem = f"{problem} ({error.context})"
        if where and text[where.index : where.index + 1] == "\t":  # libyaml says only "found
            problem = "found a tab"  # character that cannot start any token"
        raise YamlSyntaxError(_syntax_message(problem), mark) from None
    except yaml.YAMLError as error:  # e.g. ReaderError: a control character in the text
        mark = Mark(1, 1)
        position = getattr(error, "position", None)
        if isinstance(position, int):
            # libyaml reports a byte offset into the UTF-8 text, PyYAML a character offset.
            if _BaseLoader is not yaml.SafeLoader:
                position = len(text.encode("utf-8")[:position].decode("utf-8", "ignore"))
            mark = _Positions(text, recount=True).at_index(position)
        raise YamlSyntaxError(_syntax_message(str(error).splitlines()[0]), mark) from None
    except RecursionError:  # PyYAML's pure-Python composer (no libyaml) on deep nesting
        message = "the document nests too deeply to read; simplify it"
        raise YamlSyntaxError(message, Mark(1, 1)) from None
    located = Located(data=None)
    if root is not None:
        builder = _Builder(located, _Positions(text), record=positions)
        located.data = builder.build(root, (), 0)
    return located


def _syntax_message(problem: str) -> str:
    problem = " ".join(problem.split())
    if "found character '\\t'" in problem or "found a tab" in problem:
        return "tab character used for indentation; YAML indents with spaces only"
    if "expected a single document" in problem:
        return "more than one YAML document (`---`) in the file; keep one document per file"
    return problem


class _Builder:
    """Plain data from the node graph, with the same problems and bounds either way; with
    `record`, also the mark of every value and key (`Located.values`, `Located.keys`).
    Without it a problem's marks are taken only when one is found: loading a file lint has
    already checked costs about 0.7x as much (1.5 ms vs 2.2 ms for the sample repo's five
    files)."""

    def __init__(self, located: Located, positions: _Positions, *, record: bool) -> None:
        self.located = located
        self.record = record
        self.constructor = SafeConstructor()
        self.active: set[int] = set()  # guards against recursive aliases (`&a [*a]`)
        self.count = 0
        # The common case (no YAML-only line breaks) keeps the parser's own line and column.
        self._mark = _mark if positions.starts is None else positions.node_mark

    def _count(self, node: Node, depth: int) -> None:
        """One more value at `depth`: past the bounds the whole file is unusable (one
        finding, no more)."""
        self.count += 1
        if self.count > MAX_VALUES:
            message = (
                f"the document expands to more than {MAX_VALUES} values (aliases that "
                "multiply?); simplify it"
            )
            raise YamlSyntaxError(message, self._mark(node))
        if depth > MAX_DEPTH:
            message = f"the document nests deeper than {MAX_DEPTH} levels; simplify it"
            raise YamlSyntaxError(message, self._mark(node))

    def _cycle(self, node: Node) -> bool:
        """`node` is being built already (`&a [*a]`): reported once here, built as null."""
        if id(node) not in self.active:
            return False
        self.located.problems.append(
            YamlProblem("M101", self._mark(node), "an alias refers to itself; remove the cycle")
        )
        return True

    def build(self, node: Node, path: Path, depth: int) -> Any:
        """The data of `node`, at `path` (kept `()` when not recording: building the paths
        costs 5% of a data-only load) and `depth`."""
        # A mapping already recorded its values' marks.
        if self.record and path not in self.located.values:
            self.located.values[path] = self._mark(node)
        self._count(node, depth)
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        if self._cycle(node):
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                if not self.record:
                    return [self.build(item, path, depth + 1) for item in node.value]
                return [
                    self.build(item, (*path, index), depth + 1)
                    for index, item in enumerate(node.value)
                ]
            if isinstance(node, MappingNode):
                return self._mapping(node, path, depth)
        finally:
            self.active.discard(id(node))
        return None  # pragma: no cover - libyaml only makes the three node kinds

    def _scalar(self, node: ScalarNode) -> Any:
        construct = _SCALAR_CONSTRUCTORS.get(node.tag)
        if construct is None:
            self.located.problems.append(
                YamlProblem(
                    "M101",
                    self._mark(node),
                    f"unsupported YAML tag {node.tag!r}; remove the tag and write a plain value",
                )
            )
            return node.value
        try:
            return construct(self.constructor, node)
        except (ConstructorError, ValueError, OverflowError) as error:
            self.located.problems.append(
                YamlProblem("M101", self._mark(node), f"cannot read value {node.value!r}: {error}")
            )
            return node.value

    def _not_a_key(self, key_node: Node) -> None:
        self.located.problems.append(
            YamlProblem(
                "M101", self._mark(key_node), "a key must be a plain word, not a list or mapping"
            )
        )

    def _duplicate_key(self, key: str, at: Mark, first: Mark) -> None:
        self.located.problems.append(
            YamlProblem(
                "M102",
                at,
                f"duplicate key '{key}' (first at line {first.line}); YAML would keep "
                "only the last one: merge the two or remove one",
            )
        )

    def _mapping(self, node: MappingNode, path: Path, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        seen: dict[str, Node] = {}
        merged: list[tuple[Node, Path]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.append((value_node, path))
                continue
            if not isinstance(key_node, ScalarNode):
                self._not_a_key(key_node)
                continue
            # Keys stay the text the author wrote: `on:` or `1:` must not become True or 1.
            key = str(key_node.value)
            if key in seen:
                self._duplicate_key(key, self._mark(key_node), self._mark(seen[key]))
            seen[key] = key_node
            child = path
            if self.record:
                child = (*path, key)
                self.located.keys[child] = self._mark(key_node)
                self.located.values[child] = self._mark(value_node)
            result[key] = self.build(value_node, child, depth + 1)
        for value_node, at in merged:
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for source in sources:
                extra = self.build(source, at, depth)
                if isinstance(extra, dict):
                    for key, value in extra.items():
                        result.setdefault(key, value)
        return result


def scalar_str(value: Any) -> str:
    """How a scalar reads back in a message."""
    return value if isinstance(value, str) else yaml.safe_dump(value).removesuffix("\n...\n")


__all__ = [
    "Located",
    "Mark",
    "Path",
    "YamlProblem",
    "YamlSyntaxError",
    "load_yaml",
    "scalar_str",
]
