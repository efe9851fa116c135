"""Read a `Pulumi.<stack>.yaml` the way the Pulumi CLI reads it, for the offline tools and tests.

The CLI parses stack files with Go's yaml.v3 (pulumi/pulumi, sdk/go/common/workspace/loaders.go
`LoadProjectStackBytes`: `yaml.Unmarshal` into an untyped value): YAML 1.2, where `yes`, `no`,
`on` and `off` are strings, and a mapping that repeats a key is an error (go-yaml v3, decode.go:
"mapping key ... already defined at line ..."). PyYAML reads YAML 1.1, where `yes` is true and
a repeated key silently wins: an `approval: false` appended under a gated environment would
synthesise an ungated production here while `pulumi up` refuses the file. So the offline tools
read stack files with ruamel.yaml in YAML 1.2 and refuse what the CLI refuses, naming the line
and the key.

ruamel.yaml's own constructor stops at the first repeated key and names neither its path nor
the other line, so the document is composed into nodes and built here: every repeated key of
the file is reported in one round, with its path in the stack file's words
(`ecs-delivery:environments[1].approval`). Scalars are still resolved and constructed by
ruamel.yaml (YAML 1.2 core schema), except timestamps, which yaml.v3 hands to an untyped value
as the text they were written as.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Optional, Union

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

PathPart = Union[str, int]

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class StackFileError(ValueError):
    """The stack file cannot be read as Pulumi would read it; `problems` holds one line each."""

    def __init__(self, message: str, problems: Optional[list[str]] = None):
        self.problems = problems or [message]
        super().__init__(message)


def _yaml() -> YAML:
    # The pure-Python parser: its marks (line, column) are the same with or without the C
    # extension, and stack files are small. YAML 1.2 is ruamel.yaml's default; said here
    # because it is the point.
    yaml = YAML(typ="safe", pure=True)
    yaml.version = (1, 2)
    return yaml


def key_path(parts: list[PathPart]) -> str:
    """A path as the stack file's reader says it: the config key with its namespace, then
    `.key` and `[index]` (`ecs-delivery:environments[1].approval`); outside `config:` the
    top-level key."""
    if len(parts) > 1 and parts[0] == "config":
        parts = parts[1:]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _key_text(value: Any) -> str:
    """A key as the program receives it (the CLI hands config over as JSON, whose keys are
    text): `1` and `"1"` name the same key."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


@dataclass
class _Reader:
    yaml: YAML
    project: str
    repeated: list[str]

    def scalar(self, node: ScalarNode) -> Any:
        if node.tag == _TIMESTAMP_TAG:
            return node.value
        return self.yaml.constructor.construct_object(node, deep=True)

    def build(self, node: Node, path: list[PathPart], ancestors: tuple[int, ...] = ()) -> Any:
        if id(node) in ancestors:
            raise StackFileError(
                f"line {node.start_mark.line + 1}: {key_path(path)} refers to itself through an alias"
            )
        ancestors += (id(node),)
        if isinstance(node, SequenceNode):
            return [self.build(item, [*path, index], ancestors) for index, item in enumerate(node.value)]
        if not isinstance(node, MappingNode):
            return self.scalar(node)
        built: dict[Any, Any] = {}
        first_line: dict[str, tuple[int, int, str]] = {}
        merged: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged += value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                continue
            if not isinstance(key_node, ScalarNode):
                raise StackFileError(
                    f"line {key_node.start_mark.line + 1}: a key inside {key_path(path) or 'the file'} "
                    "is a list or a mapping; keys are names"
                )
            key = self.scalar(key_node)
            text = _key_text(key)
            # The CLI namespaces a config key written without one (`application` becomes
            # `ecs-delivery:application`, loaders.go `stackConfigNamespacedWithProject`); written
            # both ways, which one the program gets depends on Go's map order.
            same = f"{self.project}:{text}" if path == ["config"] and ":" not in text else text
            line, column = key_node.start_mark.line + 1, key_node.start_mark.column + 1
            if same in first_line:
                first, first_column, written = first_line[same]
                # Two keys on one line: a flow mapping (`{a: 1, a: 2}`).
                before = f"column {first_column}" if first == line else f"line {first}"
                if written == text:
                    self.repeated.append(
                        f"line {line}: {key_path([*path, text])} is set again (first at {before})"
                    )
                else:
                    self.repeated.append(
                        f"line {line}: {text!r} is {same}, already set as {written!r} at {before}; Pulumi "
                        "would keep either one"
                    )
                continue
            first_line[same] = (line, column, text)
            built[key] = self.build(value_node, [*path, text], ancestors)
        # `<<: *defaults` (yaml.v3 merges them too): the mapping's own keys win.
        for source in merged:
            for key, value in self.build(source, path, ancestors).items():
                built.setdefault(key, value)
        return built


def _keys_before(node: Node, path: list[PathPart]) -> Iterator[tuple[list[PathPart], ScalarNode, Node]]:
    """Every key of a document in the order it is written, with its path and its value."""
    if isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            yield from _keys_before(item, [*path, index])
    elif isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode):
                key_path_parts = [*path, key_node.value]
                yield key_path_parts, key_node, value_node
                yield from _keys_before(value_node, key_path_parts)


def enclosing_key(text: str, line: int) -> Optional[str]:
    """The key whose value the 1-based `line` is written in, as far as the lines before it
    tell: the last key above it when that key's value is still open (`verify:` with nothing
    after it, or a block list), else the mapping that last key belongs to."""
    prefix = "".join(text.splitlines(keepends=True)[: line - 1])
    try:
        document = _yaml().compose(prefix)
    except MarkedYAMLError:
        return None
    last: Optional[tuple[list[PathPart], ScalarNode, Node]] = None
    for found in _keys_before(document, []) if document is not None else ():
        last = found
    if last is None:
        return None
    parts, _, value_node = last
    # `verify:` with nothing after it yet, or a block list the line may continue.
    opened = (isinstance(value_node, ScalarNode) and value_node.value == "" and not value_node.style) or (
        isinstance(value_node, SequenceNode) and not value_node.flow_style
    )
    return key_path(parts if opened else parts[:-1]) or None


def _tab_problem(name: str, text: str, error: MarkedYAMLError) -> Optional[str]:
    mark = error.problem_mark
    lines = text.splitlines()
    if mark is None or mark.line >= len(lines):
        return None
    written = lines[mark.line]
    if "\t" not in written[: mark.column + 1]:
        return None
    inside = enclosing_key(text, mark.line + 1)
    where = f" (inside {inside})" if inside else ""
    if written[: mark.column].strip():
        # After a key or a dash: the parser reads no tab where a value may start.
        what, fix = f"a tab follows {written[: mark.column].strip()!r}", "replace the tab with a space"
    else:
        what, fix = (
            f"a tab indents {written.strip()!r}",
            "replace the tab with spaces, lined up with the keys next to it",
        )
    return (
        f"{name} is not valid YAML: line {mark.line + 1}, column {mark.column + 1}: {what}{where}; "
        f"YAML indents and separates with spaces: {fix}"
    )


def read_stack_file(name: str, text: str, project: str) -> Any:
    """The stack file's document as plain Python values, read as the Pulumi CLI reads it, or a
    StackFileError naming the line and the key (every repeated key of the file at once)."""
    yaml = _yaml()
    try:
        document = yaml.compose(text)
    except MarkedYAMLError as error:
        tab = _tab_problem(name, text, error)
        if tab:
            raise StackFileError(tab) from None
        mark = error.problem_mark
        inside = enclosing_key(text, mark.line + 1) if mark is not None else None
        where = f" (inside {inside})" if inside else ""
        raise StackFileError(f"{name} is not valid YAML{where}: {error}") from None
    if document is None:
        return {}
    reader = _Reader(yaml, project, [])
    try:
        built = reader.build(document, [])
    except MarkedYAMLError as error:
        raise StackFileError(f"{name} is not valid YAML: {error}") from None
    except StackFileError as error:
        raise StackFileError(f"{name}: {error}") from None
    if reader.repeated:
        problems = reader.repeated
        raise StackFileError(
            f"{name} repeats keys, which the Pulumi CLI refuses (YAML 1.2: the keys of a mapping are "
            "unique; a YAML 1.1 reader would let the last one win silently). Keep one of each:\n"
            + "\n".join(f"  - {p}" for p in problems),
            problems,
        )
    return built
