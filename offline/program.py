"""Run the whole Pulumi program offline, under `RecordingMocks`, with a stack's config.

Used by the smoke tests and by `make synth`: no Pulumi CLI, no backend, no credentials,
no network. The stack file is read as the CLI reads it (YAML 1.2, a repeated key refused:
offline/stack_file.py) and handed to the program as the CLI would: structured values as JSON
strings, `secure:` values as secrets.
"""

from __future__ import annotations

import asyncio
import json
import runpy
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pulumi
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.config import SECRET_PLACEHOLDER
from offline.mocks import TEST_REGION, RecordingMocks, RecordingMonitor
from offline.stack_file import StackFileError, read_stack_file

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROJECT_NAME = "ecs-delivery"
PROGRAM_DEADLINE_SECONDS = 15


@dataclass
class StackConfig:
    values: dict[str, str]
    secret_keys: list[str]

    @property
    def region(self) -> Optional[str]:
        return self.values.get("aws:region")


def _without_ciphertext(value: Any) -> tuple[Any, bool]:
    """`value` with every `{"secure": <ciphertext>}` replaced by the placeholder, and
    whether there was one."""
    if isinstance(value, dict) and set(value) == {"secure"}:
        return SECRET_PLACEHOLDER, True
    if isinstance(value, dict):
        items = {k: _without_ciphertext(v) for k, v in value.items()}
        return {k: v for k, (v, _) in items.items()}, any(s for _, s in items.values())
    if isinstance(value, list):
        items = [_without_ciphertext(v) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


def stack_config_from_mapping(config: dict[str, Any]) -> StackConfig:
    """`config:` of a Pulumi.<stack>.yaml → the flat string map the CLI passes on."""
    values: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in (config or {}).items():
        if ":" not in key:
            key = f"{PROJECT_NAME}:{key}"
        value, secret = _without_ciphertext(value)
        if secret:
            # Offline there is no key to decrypt with: the program sees a marked secret, and
            # the whole key is secret, as the CLI marks it for a nested `secure:` value.
            secret_keys.append(key)
        if isinstance(value, str):
            values[key] = value
        elif isinstance(value, bool):
            values[key] = "true" if value else "false"
        else:
            values[key] = json.dumps(value)
    return StackConfig(values, secret_keys)


def load_stack_config(stack: str, project_dir: Path = PROJECT_DIR) -> StackConfig:
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))
        raise StackFileError(f"no stack file {path.name} (stacks here: {', '.join(known)})")
    document = read_stack_file(path.name, path.read_text(), PROJECT_NAME)
    if not isinstance(document, dict) or not isinstance(document.get("config", {}), dict):
        raise StackFileError(f"{path.name}: expected a mapping with a 'config:' mapping")
    return stack_config_from_mapping(document.get("config") or {})


@dataclass
class ProgramRun:
    stack: str
    mocks: RecordingMocks
    outputs: dict[str, Any]
    secret_outputs: set[str]


def _resolve(value: Any) -> tuple[Any, bool]:
    output = pulumi.Output.from_input(value)
    resolved = _sync_await(output.future())
    secret = bool(_sync_await(output.is_secret()))
    return resolved, secret


def run_with_deadline(program: Callable[[], None]) -> None:
    """Run a Pulumi program function under the installed mocks until every registration is
    done. An input that never resolves (an Output nobody fulfils) would leave the engine
    waiting for ever; a program run takes well under a second, so a deadline turns that into
    an error."""
    # What a failed run left waiting (its registrations, its outputs) would otherwise be awaited,
    # and its error raised, by the next run in this process: cleared as pulumi.runtime.test does.
    pulumi_settings.SETTINGS.rpc_manager.clear()
    pulumi_settings.SETTINGS.outputs.clear()
    try:
        _sync_await(asyncio.wait_for(run_pulumi_func(program), timeout=PROGRAM_DEADLINE_SECONDS))
    except TimeoutError:
        raise TimeoutError(
            f"the program did not finish within {PROGRAM_DEADLINE_SECONDS}s: some resource waits on "
            "an Output that never resolves"
        ) from None


def run_program(
    config: StackConfig,
    *,
    stack: str = "test",
    symbolic: bool = False,
    project_dir: Path = PROJECT_DIR,
    mocks: Optional[RecordingMocks] = None,
) -> ProgramRun:
    """Execute `__main__.py` under fresh mocks (or the given ones, to inspect what a
    failed run declared) and return what it declared and exported."""
    if mocks is None:
        mocks = RecordingMocks(region=config.region or TEST_REGION, symbolic=symbolic)
    # A fresh root stack per run, so runs in one process never see each other's exports.
    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(
        mocks, project=PROJECT_NAME, stack=stack, preview=False, monitor=RecordingMonitor(mocks)
    )
    pulumi.runtime.set_all_config(dict(config.values), list(config.secret_keys))
    if str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))

    def program() -> None:
        runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__")

    run_with_deadline(program)
    root = pulumi_settings.get_root_resource()
    outputs: dict[str, Any] = {}
    secret_outputs: set[str] = set()
    for name, value in (getattr(root, "outputs", None) or {}).items():
        outputs[name], secret = _resolve(value)
        if secret:
            secret_outputs.add(name)
    return ProgramRun(stack, mocks, outputs, secret_outputs)
