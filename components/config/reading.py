"""Reading the stack configuration from Pulumi: every config value the engine hands the
program (all namespaces, as strings), the keys stored as secrets, the provider keys and regions
the installed SDKs know, and `config_from_stack` / `load_config`, which turn it into a
`DeliveryConfig` or one `ConfigError` listing every problem of the file.

`__main__.py` hands `config_from_stack` the raw stack config before any resource is declared,
so a typo never half-applies a stack.
"""

from __future__ import annotations

import ast
import difflib
import functools
import importlib.util
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

from pydantic import ValidationError

from components.config.messages import ConfigError, cross_field_problems, error_lines
from components.config.schema import (
    NAMESPACE,
    SECRET_ALLOWED_KEYS,
    SECRET_PLACEHOLDER,
    DeliveryConfig,
    known_regions,
)

# DeliveryConfig's own boolean keys (the CLI passes top-level values as strings).
_TOP_LEVEL_BOOLEANS = frozenset(
    (field.alias or name) for name, field in DeliveryConfig.model_fields.items() if field.annotation is bool
)


def current_secret_keys() -> frozenset[str]:
    """The config keys the engine marked secret (stored with `secure:`): the CLI hands them
    over in PULUMI_CONFIG_SECRET_KEYS (`get_config_secret_keys_env`); `set_all_config` (the
    automation API, mocks, offline runs) records them for `is_config_secret`."""
    from pulumi.runtime import config as runtime_config

    return frozenset(runtime_config.get_config_secret_keys_env()) | frozenset(
        key for key in current_stack_config() if runtime_config.is_config_secret(key)
    )


def current_stack_config() -> dict[str, str]:
    """Every config value the engine handed this program (all namespaces), so keys we
    do not know are seen, not silently ignored as `pulumi.Config.get` would."""
    from pulumi.runtime import config as runtime_config

    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


# Config namespaces a stack of this program may use, besides its own: the providers it
# runs (their keys are read from the installed SDKs) and Pulumi's own (`pulumi:tags`, ...,
# validated by the engine).
PROVIDER_PACKAGES = {"aws": "pulumi_aws", "docker": "pulumi_docker"}
ENGINE_NAMESPACE = "pulumi"


def _config_keys_in(source: str) -> frozenset[str]:
    """The configuration keys a provider SDK's generated config module (`<package>/config/vars.py`)
    reads: each of its accessors (a property) is `return __config__.get('<key>')` or another
    `get_*` of the module's `pulumi.Config`. A property that reads no key written out there
    means the generator has changed, and a key could go unseen: refused rather than guessed."""
    keys: set[str] = set()
    accessors = 0
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef) or not any(
            _named_property(decorator) for decorator in node.decorator_list
        ):
            continue
        accessors += 1
        read = {
            call.args[0].value
            for call in ast.walk(node)
            if isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and isinstance(call.func.value, ast.Name)
            and call.func.value.id == "__config__"
            and call.args
            and isinstance(call.args[0], ast.Constant)
            and isinstance(call.args[0].value, str)
        }
        if not read:
            raise RuntimeError(
                f"the config accessor {node.name!r} reads no key written as __config__.get('<key>')"
            )
        keys |= read
    if not accessors:
        raise RuntimeError("no config accessors (properties) found")
    return frozenset(keys)


def _named_property(decorator: ast.expr) -> bool:
    """`@property`, or `@_builtins.property` as the generated modules write it."""
    return (isinstance(decorator, ast.Name) and decorator.id == "property") or (
        isinstance(decorator, ast.Attribute) and decorator.attr == "property"
    )


@functools.cache
def provider_config_keys(namespace: str) -> frozenset[str]:
    """The configuration keys a provider SDK reads, asked of the installed SDK: its generated
    `<package>.config` accessors are the one place the keys are written (the SDKs publish no
    list of them), read from the module's source rather than run, so that no global of the SDK
    (its module's `pulumi.Config`) is swapped while a program may be reading it. The same keys as
    the SDK's `ProviderArgs` takes (tests/test_config.py compares them)."""
    package = PROVIDER_PACKAGES[namespace]
    # Found, not imported: nothing of the SDK runs to answer.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{package} is not installed; see requirements.txt")
    source = (Path(spec.submodule_search_locations[0]) / "config" / "vars.py").read_text(encoding="utf-8")
    try:
        return _config_keys_in(source)
    except RuntimeError as error:
        raise RuntimeError(f"{package}/config/vars.py has changed shape: {error}") from None


def _namespace_problems(values: Mapping[str, str]) -> list[str]:
    problems = []
    known = [NAMESPACE, *PROVIDER_PACKAGES, ENGINE_NAMESPACE]
    for full_key in sorted(values):
        namespace, _, key = full_key.partition(":")
        if namespace in (NAMESPACE, ENGINE_NAMESPACE):
            continue
        if namespace not in PROVIDER_PACKAGES:
            problems.append(f"{full_key}: unknown namespace {namespace!r} (allowed: {', '.join(known)})")
            continue
        allowed = provider_config_keys(namespace)
        if key not in allowed:
            suggestion = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f" (did you mean {namespace}:{suggestion[0]}?)" if suggestion else ""
            problems.append(f"{full_key}: not a configuration key of the {namespace} provider{hint}")
    if "aws:region" not in values:
        problems.append(
            "aws:region: required: the region this stack deploys to (pulumi config set aws:region <region>)"
        )
    elif values["aws:region"] not in known_regions():
        close = difflib.get_close_matches(values["aws:region"], sorted(known_regions()), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(
            f"aws:region: {values['aws:region']!r} is not a region the installed AWS SDK knows{hint}"
        )
    return problems


def raw_config_from_pulumi(values: Mapping[str, str]) -> dict[str, Any]:
    """Pulumi hands structured config to programs as JSON strings; decode ours. Every key
    of every namespace must be known: a typo in a namespace or a provider key would
    otherwise be ignored silently and deploy a plausible but wrong stack."""
    raw: dict[str, Any] = {}
    problems: list[str] = _namespace_problems(values)
    for full_key, value in values.items():
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE:
            continue
        if isinstance(value, str) and value[:1] in ("{", "[") and value != SECRET_PLACEHOLDER:
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                problems.append(f"{full_key}: not valid JSON ({exc.msg})")
                continue
        elif key in _TOP_LEVEL_BOOLEANS and value in ("true", "false"):
            # The CLI hands a top-level YAML boolean over as its text; anything else (a quoted
            # "yes") stays a string, which the model refuses.
            value = value == "true"
        raw[key] = value
    if problems:
        raise ConfigError(problems)
    return raw


def config_from_stack(
    values: Mapping[str, str], *, stack: Optional[str] = None, secret_keys: frozenset[str] = frozenset()
) -> DeliveryConfig:
    """The whole stack config as the engine hands it over (every namespace, values as
    strings) → `DeliveryConfig`, or one ConfigError with every problem of the file: the
    namespaces and provider keys, the JSON, the stack name, and the model."""
    problems: list[str] = []
    try:
        raw = raw_config_from_pulumi(values)
    except ConfigError as error:
        problems += error.problems
        # What decoded is still checked, so that nothing waits for a second round.
        raw = {}
        for full_key, value in values.items():
            namespace, _, key = full_key.partition(":")
            if namespace != NAMESPACE:
                continue
            try:
                structured = value[:1] in ("{", "[") and value != SECRET_PLACEHOLDER
                raw[key] = json.loads(value) if structured else value
            except json.JSONDecodeError:
                continue
            if key in _TOP_LEVEL_BOOLEANS and raw[key] in ("true", "false"):
                raw[key] = raw[key] == "true"
    try:
        config = load_config(raw, stack=stack, secret_keys=secret_keys)
    except ConfigError as error:
        problems += [p for p in error.problems if p not in problems]
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    return config


def load_config(
    raw: Mapping[str, Any], stack: Optional[str] = None, secret_keys: frozenset[str] = frozenset()
) -> DeliveryConfig:
    """Validate the decoded `ecs-delivery:*` config or raise one ConfigError listing
    every problem. With `stack`, also check the physical names built from it; with
    `secret_keys` (full keys stored with `secure:`), refuse secrets where they make no sense."""
    secret_problems = [
        f"{key}: stored as a secret, but it names a resource or a setting that plans, the console "
        "and the stack outputs show anyway; set it in plain text (pulumi config set without --secret)"
        for key in sorted(secret_keys)
        if key.startswith(f"{NAMESPACE}:") and key.partition(":")[2] not in SECRET_ALLOWED_KEYS
    ]
    # The registry assembles an environment's keys from the units and rebuilds DeliveryConfig
    # with them; it imports the units, which import this package: so here, not at the top.
    import components.units  # noqa: F401

    context = {"stack": stack, "secret_keys": secret_keys}
    try:
        config = DeliveryConfig.model_validate(dict(raw), context=context)
    except ValidationError as exc:
        problems = [line for error in exc.errors() for line in error_lines(error)]
        problems += [p for p in cross_field_problems(raw, exc.errors(), context) if p not in problems]
        raise ConfigError(secret_problems + problems) from None
    if secret_problems:
        raise ConfigError(secret_problems)
    return config


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _provider_value(text: str) -> Any:
    """A provider setting as the SDK's `ProviderArgs` takes it: the CLI hands every value over as
    text, an object or list (`assumeRoles`, `defaultTags`) as JSON. Its keys stay as the stack
    wrote them (camelCase): plain values reach the provider as they are, which is how the provider
    reads the stack's own config."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return value if isinstance(value, (dict, list, bool, int)) else text


def stack_provider_settings(namespace: str = "aws") -> dict[str, Any]:
    """The stack's `<namespace>:` settings (all but `region`) as keyword arguments of an explicit
    provider. An explicit provider reads no stack config (pulumi/pulumi-aws#1307: "by design"),
    so a provider the program declares for another region would otherwise drop the stack's
    `aws:profile`, `aws:assumeRoles`, `aws:allowedAccountIds`, `aws:defaultTags`, … and act with
    whatever credentials the machine has. Secret values stay secret."""
    import pulumi

    values = current_stack_config()
    secret = current_secret_keys()
    settings: dict[str, Any] = {}
    for key in sorted(provider_config_keys(namespace) - {"region"}):
        full = f"{namespace}:{key}"
        if full not in values:
            continue
        value = _provider_value(values[full])
        settings[_snake(key)] = pulumi.Output.secret(value) if full in secret else value
    return settings
