"""The stack configuration's error text: every problem pydantic reports, as one line that
names the full config key (`ecs-delivery:environments[0].approvers`) and what it allows, in
the stack file's words rather than pydantic's (which name Python types and classes).

`ConfigError` carries the lines; `error_lines` words one pydantic error; `cross_field_problems`
runs the rules across keys once more over a broken config with its wrong values taken out,
so that they are reported in the same round as the rest.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from typing import Any, Optional

from pydantic import BaseModel, ValidationError

from components.config.schema import MAX_ENVIRONMENT_NAME, NAMESPACE, REPAIRING, DeliveryConfig


class ConfigError(ValueError):
    """Every problem found in the stack config, one readable line each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid stack configuration:\n" + "\n".join(f"  - {p}" for p in problems))


def _key(loc: tuple[Any, ...]) -> str:
    text = NAMESPACE + ":"
    for i, part in enumerate(loc):
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if i else "") + str(part)
    return text


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The camelCase keys allowed where an unknown key was found: follow the location's
    keys (list indexes skipped) through the nested config models."""
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        if field is None:
            return []
        # A section (`BuildConfig`), an optional one (`Optional[DockerHubConfig]`) or a
        # list of them (`list[EnvironmentConfig]`).
        candidates = [field.annotation, *getattr(field.annotation, "__args__", ())]
        nested = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if nested is None:
            return []
        model = nested
    return sorted(f.alias or n for n, f in model.model_fields.items())


# What a wrong YAML type is told, in the stack file's words (pydantic's messages name Python
# types and classes: "a valid dictionary or instance of VerifyConfig").
_TYPE_MESSAGES = {
    "bool_type": "true or false, unquoted (a YAML boolean)",
    "int_type": "a whole number, unquoted (a YAML integer)",
    "int_from_float": "a whole number",
    "model_type": "a mapping of keys (YAML `key: value` lines)",
    "model_attributes_type": "a mapping of keys (YAML `key: value` lines)",
    "dict_type": "a mapping of keys (YAML `key: value` lines)",
    "list_type": "a list (YAML `- item` lines, or [a, b])",
}


def _shown(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# YAML 1.1's booleans that YAML 1.2 reads as strings (yaml.org/type/bool.html). Pulumi reads
# stack files with go-yaml v3, which takes them for booleans only when decoding into a Go bool,
# never into the untyped values Pulumi's config holds: the program receives the text.
YAML11_BOOLEANS = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "on", "On", "ON"), True),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "off", "Off", "OFF"), False),
}


def _field_at(loc: tuple[Any, ...]) -> Optional[Any]:
    """The model field a location ends at (`build.timeoutMinutes`, `environments[0].alarms`), to
    read the bounds it declares; None inside a mapping of values (`parameters.<name>`)."""
    model: Optional[type[BaseModel]] = DeliveryConfig
    field = None
    for part in loc:
        if isinstance(part, int):
            continue  # an item of a list: the list's own field still says what it holds
        if model is None:
            return None
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        if field is None:
            return None
        candidates = [field.annotation, *getattr(field.annotation, "__args__", ())]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
    return field


def _constraints(loc: tuple[Any, ...]) -> dict[str, Any]:
    """The bounds the field at `loc` declares (`ge`, `le`, `min_length`, ...)."""
    field = _field_at(loc)
    found: dict[str, Any] = {}
    for constraint in field.metadata if field is not None else ():
        for name in ("ge", "gt", "le", "lt", "min_length", "max_length"):
            if hasattr(constraint, name):
                found[name] = getattr(constraint, name)
    return found


def _number_range(bounds: dict[str, Any]) -> str:
    low = bounds.get("ge", bounds["gt"] + 1 if "gt" in bounds else None)
    high = bounds.get("le", bounds["lt"] - 1 if "lt" in bounds else None)
    # A percentage's bounds are decimals (0.1); a count's whole numbers.
    kind = "a number" if isinstance(low, float) or isinstance(high, float) else "a whole number"
    if low is not None and high is not None:
        return f"{kind} from {low} to {high}"
    return f"{kind} of at least {low}" if low is not None else f"{kind} of at most {high}"


def _size_range(bounds: dict[str, Any], unit: str) -> str:
    low, high = bounds.get("min_length"), bounds.get("max_length")
    if low is not None and high is not None:
        return f"{low} to {high} {unit}"
    return f"at least {low} {unit}" if low is not None else f"at most {high} {unit}"


def _choices(expected: str) -> list[str]:
    """pydantic's "'a', 'b' or 'c'" (or "1, 3 or 5") as the values themselves."""
    return [quoted or number for quoted, number in re.findall(r"'((?:[^'\\]|\\.)*)'|(-?\d+)", expected)]


def _range_problem(error: Any, loc: tuple[Any, ...]) -> Optional[str]:
    """A bound, a length or a choice broken, in the stack file's words (pydantic says "Input
    should be greater than or equal to 5")."""
    kind, value, context = error["type"], error.get("input"), error.get("ctx") or {}
    bounds = {**_constraints(loc), **{k: v for k, v in context.items() if k in ("ge", "gt", "le", "lt")}}
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return f"{_shown(value)} is not allowed: {_number_range(bounds)}"
    if kind in ("too_short", "too_long"):
        bounds.update({k: context[k] for k in ("min_length", "max_length") if k in context})
        unit = "entries" if context.get("field_type") == "Dictionary" else "items"
        size = context.get("actual_length", len(value) if hasattr(value, "__len__") else "?")
        given = "an empty list" if size == 0 else f"a list of {size} {unit}"
        return f"{given} is not allowed: {_size_range(bounds, unit)}"
    if kind in ("string_too_short", "string_too_long"):
        bounds.update({k: context[k] for k in ("min_length", "max_length") if k in context})
        given = "an empty text" if value == "" else f"a text of {len(value)} characters"
        return f"{given} is not allowed: {_size_range(bounds, 'characters')}"
    if kind == "literal_error":
        choices = _choices(context.get("expected", ""))
        close = difflib.get_close_matches(str(value), choices, n=1) if isinstance(value, str) else []
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{_shown(value)} is not allowed: one of {', '.join(choices)}{hint}"
    return None


def error_lines(error: Any) -> list[str]:
    # "[key]" marks a problem with a mapping's key rather than its value.
    loc = tuple(p for p in error["loc"] if p != "[key]")
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(DeliveryConfig, loc)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1) if loc else []
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        hint += f" (allowed: {', '.join(allowed)})" if allowed else ""
        return [f"{_key(loc)}: unknown key{hint}"]
    if kind == "missing":
        return [f"{_key(loc)}: required"]
    value = error.get("input")
    if kind == "bool_type" and isinstance(value, str) and value in YAML11_BOOLEANS:
        meaning = "true" if YAML11_BOOLEANS[value] else "false"
        return [
            f"{_key(loc)}: {value!r} is not allowed: in YAML 1.2 (as Pulumi reads it) {value} is a string; "
            f"write {meaning}"
        ]
    if kind in _TYPE_MESSAGES:
        return [f"{_key(loc)}: {_shown(value)} is not allowed: {_TYPE_MESSAGES[kind]}"]
    in_range = _range_problem(error, loc)
    if in_range:
        return [f"{_key(loc)}: {in_range}"]
    if kind == "string_type":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            # The stack file's fix and the command line's (docs/configuration-cli.md): the CLI
            # stores an unquoted id as a number too, unless told it is a string.
            path = _key(loc).removeprefix(NAMESPACE + ":")
            return [
                f'{_key(loc)}: {value} is a number here: quote it in the stack file ("{value}"), or from the '
                f"command line add --type string (pulumi config set --path '{path}' {value} --type string); "
                "YAML reads unquoted digits as a number"
            ]
        return [f"{_key(loc)}: {_shown(value)} is not allowed: a string"]
    message = error["msg"].removeprefix("Value error, ")
    if kind == "value_error" and not loc:
        # Cross-field problems are already written against their own keys.
        return [f"{NAMESPACE}:{line}" for line in message.splitlines()]
    lines = message.splitlines()
    if kind == "value_error" and lines and all(line.startswith(".") for line in lines):
        # A section's own cross-field problems, written against keys inside it.
        return [f"{_key(loc)}{line}" for line in lines]
    return [f"{_key(loc)}: {message}"]


def _is_deployment(loc: tuple[Any, ...]) -> bool:
    """An environment's `deployment` itself: its own rules across its keys."""
    return len(loc) == 3 and loc[0] == "environments" and loc[2] == "deployment"


_PLACEHOLDER = "placeholder-for-a-wrong-value"
# What stands in for a wrong required value of application and infrastructure in the second pass.
_SECTION_PLACEHOLDERS = {"name": _PLACEHOLDER, "repository": "placeholder/placeholder"}


def cross_field_problems(raw: Mapping[str, Any], errors: list[Any], context: dict[str, Any]) -> list[str]:
    """The checks across keys (unique names, stage counts, accounts) run only on a valid
    model; so that they are not left to a second round, run them once more with every wrong
    value taken out: a wrong environment key is dropped (a wrong name or stack name stands in
    as a placeholder), a wrong section falls back to its default. Problems about the
    placeholders themselves are not reported, nor a problem about a key whose own value is
    already reported wrong."""
    repaired: dict[str, Any] = json.loads(json.dumps(raw, default=str))
    environments = repaired.get("environments")
    for error in errors:
        loc = tuple(p for p in error["loc"] if p != "[key]")
        if not loc:
            continue
        if loc[0] == "environments" and len(loc) == 2:
            continue  # an environment's own cross-key problem: not checked in this pass
        if loc[0] == "environments" and len(loc) >= 3 and isinstance(environments, list):
            index, key = loc[1], loc[2]
            if isinstance(index, int) and index < len(environments) and isinstance(environments[index], dict):
                value = error.get("input")
                if error["type"] == "string_type" and len(loc) == 3 and isinstance(value, int):
                    # An unquoted number: take it as the text it was meant to be.
                    environments[index][key] = str(value)
                elif key == "deployment" and len(loc) >= 4 and isinstance(environments[index].get(key), dict):
                    # A wrong key of the deployment: only it is dropped, so that the deployment's
                    # own rules (which keys go with which strategy) are checked in this round too.
                    environments[index][key].pop(loc[3], None)
                elif (
                    error["type"] == "bool_type"
                    and len(loc) == 3
                    and isinstance(value, str)
                    and value in YAML11_BOOLEANS
                ):
                    # `approval: yes`: what it was meant to say, so that what depends on the
                    # environment being gated is checked in this round too.
                    environments[index][key] = YAML11_BOOLEANS[value]
                else:
                    environments[index].pop(key, None)
            continue
        field = next((f for n, f in DeliveryConfig.model_fields.items() if (f.alias or n) == loc[0]), None)
        section = repaired.get(loc[0])
        if field is None:
            repaired.pop(loc[0], None)  # an unknown key
        elif field.is_required() and len(loc) >= 2 and isinstance(section, dict) and isinstance(loc[1], str):
            # A wrong key inside application or infrastructure: its default, or a stand-in.
            if loc[1] in _SECTION_PLACEHOLDERS:
                section[loc[1]] = _SECTION_PLACEHOLDERS[loc[1]]
            else:
                section.pop(loc[1], None)
        elif field.is_required():
            return []  # application, infrastructure, environments themselves: nothing to check against
        else:
            repaired.pop(loc[0], None)
    if isinstance(environments, list):
        for index, environment in enumerate(environments):
            if not isinstance(environment, dict):
                return []
            environment.setdefault("name", f"{_PLACEHOLDER}-{index}"[:MAX_ENVIRONMENT_NAME])
            environment.setdefault("stackName", f"Placeholder{index}")
    wrong = {_key(tuple(p for p in error["loc"] if p != "[key]")) for error in errors}

    def already_wrong(line: str) -> bool:
        key = line.partition(": ")[0]
        # The key itself, or one of its items (`notifications.emails` and `...emails[0]`).
        return key in wrong or any(re.fullmatch(re.escape(key) + r"\[\d+\]", w) for w in wrong)

    try:
        DeliveryConfig.model_validate(repaired, context={**context, REPAIRING: True})
    except ValidationError as exc:
        return [
            line
            for error in exc.errors()
            if not error["loc"] or _is_deployment(error["loc"])
            for line in error_lines(error)
            if _PLACEHOLDER[:20] not in line
            and "Placeholder" not in line
            and "placeholder/placeholder" not in line
            and not already_wrong(line)
        ]
    return []
