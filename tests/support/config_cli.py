"""A MODEL of what `pulumi config set` and `pulumi config rm` write into a stack file, for
testing docs/configuration-cli.md where no Pulumi CLI is installed. It is not the CLI.

It follows Pulumi's documented path syntax and value rules (the CLI reference, *pulumi config
set* / *pulumi config rm*, and the CLI's `sdk/go/common/resource/config/map.go`):

- a key without a namespace is the project's;
- with `--path`, `a.b`, `a[0]` and `a["b.c"]` walk maps and lists, creating what is missing;
  a list index one past the end appends, further is an error ("array index out of range");
- with `--path`, `true`/`false` become booleans and whole numbers numbers, except a number
  with a leading zero, which stays text; without `--path` a value is always text;
- `--type string|int|bool|float` forces the type; `--secret` stores `{"secure": …}` (here a
  fixed fake ciphertext: nothing is encrypted);
- `rm --path` removes a map key or a list item; a path that is not there changes nothing.

Kept minimal on purpose: no `set-all`, no `--plaintext` heuristics, no comments kept (the
real CLI's YAML layout was not observed).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

PROJECT = "ecs-delivery"
FAKE_CIPHERTEXT = "v1:model-not-encrypted"
_SEGMENT = re.compile(r'\.?(?P<name>[A-Za-z_][\w-]*)|\[(?P<index>\d+)\]|\["(?P<quoted>[^"]*)"\]')


class CliError(ValueError):
    """What the CLI would refuse."""


def parse_path(path: str) -> list[str | int]:
    segments: list[str | int] = []
    at = 0
    while at < len(path):
        match = _SEGMENT.match(path, at)
        if not match or (at == 0 and path.startswith(".")):
            raise CliError(f"invalid config key path: {path!r}")
        if match.group("index") is not None:
            segments.append(int(match.group("index")))
        else:
            segments.append(match.group("name") if match.group("name") is not None else match.group("quoted"))
        at = match.end()
    if not segments or not isinstance(segments[0], str):
        raise CliError("first path segment of config key must be a string")
    return segments


def _typed(value: str, path: bool, kind: str | None) -> Any:
    if kind == "string":
        return value
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "bool":
        return value == "true"
    if not path:
        return value
    if value in ("true", "false"):
        return value == "true"
    if len(value) > 1 and value.startswith("0"):
        return value
    if re.fullmatch(r"[+-]?\d+", value):
        return int(value)
    return value


def _container_for(segment: str | int) -> Any:
    return [] if isinstance(segment, int) else {}


def _set(container: Any, segments: list[str | int], value: Any) -> None:
    key, rest = segments[0], segments[1:]
    if isinstance(key, int):
        if not isinstance(container, list):
            raise CliError(f"an array was expected for index {key}")
        if key > len(container):
            raise CliError("array index out of range")
        if key == len(container):
            container.append(_container_for(rest[0]) if rest else value)
    elif not isinstance(container, dict):
        raise CliError(f"a map was expected for key {key!r}")
    if not rest:
        container[key] = value
        return
    if isinstance(key, str) and container.get(key) is None:
        container[key] = _container_for(rest[0])
    _set(container[key], rest, value)


def _remove(container: Any, segments: list[str | int]) -> None:
    key, rest = segments[0], segments[1:]
    if isinstance(key, int):
        if not isinstance(container, list) or key >= len(container):
            return
    elif not isinstance(container, dict) or key not in container:
        return
    if rest:
        _remove(container[key], rest)
    else:
        del container[key]


def run(command: str, stack_file: Path) -> None:
    """Apply one `pulumi config set|rm ...` command line to the stack file."""
    words = shlex.split(command)
    if words[:2] != ["pulumi", "config"] or len(words) < 4 or words[2] not in ("set", "rm"):
        raise CliError(f"not a command this model knows: {command}")
    verb, arguments = words[2], words[3:]
    path = secret = False
    kind = None
    positional: list[str] = []
    while arguments:
        word = arguments.pop(0)
        if word == "--path":
            path = True
        elif word == "--secret":
            secret = True
        elif word == "--type":
            kind = arguments.pop(0)
        elif word.startswith("--"):
            raise CliError(f"a flag this model does not know: {word}")
        else:
            positional.append(word)
    if secret and kind:
        raise CliError("if any flags in the group [secret plaintext type] are set none of the others can be")
    key = positional[0]
    namespace, _, name = key.partition(":") if ":" in key.split("[", 1)[0] else (PROJECT, "", key)
    segments = parse_path(name) if path else [name]
    segments[0] = f"{namespace}:{segments[0]}"
    document = yaml.safe_load(stack_file.read_text()) or {}
    config = document.setdefault("config", {})
    if verb == "rm":
        _remove(config, segments)
    else:
        value = {"secure": FAKE_CIPHERTEXT} if secret else _typed(positional[1], path, kind)
        _set(config, segments, value)
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
