"""Shared fixtures: one recording mock for every test, and helpers to declare
components or the whole program under it."""

from __future__ import annotations

import copy
import functools
import gc
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.sync_await import _sync_await

from offline.mocks import RecordedResource, RecordingMocks, RecordingMonitor
from offline.program import (
    ProgramRun,
    load_stack_config,
    run_program,
    run_with_deadline,
    stack_config_from_mapping,
)

# Python's cycle collector, at its default thresholds, ran a full collection over every module
# and cached program run dozens of times per xdist worker: about a fifth of `make unit`'s CPU
# (gen-2 collections of 0.25 s each). Collected less often here, and whatever collection
# loaded is moved out of its reach (`pytest_collection_finish`); cyclic garbage is still freed.
gc.set_threshold(20_000, 20, 20)

# The book's system (chapter 13), as ecs-delivery config.
BOOK_CONFIG: dict[str, Any] = {
    "aws:region": "us-east-1",
    "ecs-delivery:application": {
        "name": "todobackend",
        "repository": "docker-in-aws/todobackend",
        "branch": "master",
    },
    "ecs-delivery:infrastructure": {
        "repository": "docker-in-aws/todobackend-aws",
        "branch": "master",
    },
    "ecs-delivery:environments": [
        {"name": "dev", "stackName": "todobackend-dev", "templateConfiguration": "dev.json"},
        {
            "name": "production",
            "stackName": "todobackend-prod",
            "templateConfiguration": "prod.json",
            "approval": True,
            "approvers": ["arn:aws:iam::123456789012:role/release-managers"],
        },
    ],
    # A gated environment's approval requests need someone to go to.
    "ecs-delivery:notifications": {"emails": ["platform-team@example.com"]},
}


# The smallest valid config, in decoded form (what load_config takes).
MINIMAL_RAW: dict[str, Any] = {
    "application": {"name": "todobackend", "repository": "docker-in-aws/todobackend"},
    "infrastructure": {"repository": "docker-in-aws/todobackend-aws"},
    "environments": [{"name": "dev", "stackName": "todobackend-dev"}],
}


def config_with(**changes: Any) -> dict[str, Any]:
    """The book's config with top-level `ecs-delivery:` keys replaced."""
    config = copy.deepcopy(BOOK_CONFIG)
    for key, value in changes.items():
        config[f"ecs-delivery:{key}"] = value
    return config


def pytest_collection_finish(session: pytest.Session) -> None:
    gc.collect()
    gc.freeze()
    load_cfn_lint_rules_once()


def load_cfn_lint_rules_once() -> None:
    """cfn-lint's `main()` imports every rule module again and builds every rule afresh on each
    call, its own and policy/template_rules' (about 0.4 s of CPU a call, schemas read from
    disk included): here each folder's rules are built once per process and handed to every
    later run. cfn-lint itself runs one set of rule objects over every template of a command
    line, configuring (`configure`, from the defaults up) and initialising each for each
    template, so a run sees nothing of the one before. Only where a collected test module
    imported cfn-lint; not during mutmut's stats pass (nothing shared there)."""
    helpers = sys.modules.get("cfnlint.helpers")
    if helpers is None or mutation_stats():
        return
    load_plugins = helpers.load_plugins

    @functools.cache
    def loaded(directory: str, *args: Any) -> tuple[Any, ...]:
        return tuple(load_plugins(directory, *args))

    helpers.load_plugins = lambda directory, *args: list(loaded(directory, *args))


@pytest.fixture
def mocks() -> RecordingMocks:
    """Fresh mocks installed for a test that declares components itself."""
    recording = RecordingMocks()
    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(
        recording, project="ecs-delivery", stack="test", preview=False, monitor=RecordingMonitor(recording)
    )
    return recording


@pytest.fixture(scope="session")
def say(pytestconfig: pytest.Config) -> Callable[..., None]:
    """`say(text)`: a line on the terminal now, past pytest's capture (`say(text, end="")`
    writes it as it is): how a fixture or test that waits minutes on other processes
    (Terraform, a copy of the repository running its tiers) shows it is at work instead of
    leaving the tier silent. Without a terminal reporter (an xdist worker) it says nothing."""
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")

    def write(text: str, end: str = "\n") -> None:
        if reporter is None or capture is None:
            return
        terminal = pytestconfig.get_terminal_writer()
        with capture.global_and_fixture_disabled():
            if end == "\n":
                # A line of its own, also after `-q`'s progress dots.
                if terminal.width_of_current_line:
                    terminal.line()
                terminal.line(text)
            else:
                terminal.write(text + end, flush=True)

    return write


def declare(build: Callable[[], Any]) -> None:
    """Run `build` as a Pulumi program under the installed mocks and wait until every
    registration has been recorded, so assertions afterwards see all of it."""
    run_with_deadline(build)


def resolve(output: Any) -> Any:
    return _sync_await(pulumi.Output.from_input(output).future())


def is_secret_output(output: Any) -> bool:
    return bool(_sync_await(pulumi.Output.from_input(output).is_secret()))


# The product's own stack files: every test that checks specific values runs on these. The
# root Pulumi.<stack>.yaml files are the adopter's to change; tests/test_your_stacks.py checks
# them with no literal expectations.
FIXTURE_STACKS = Path(__file__).parent / "fixtures" / "stacks"
PROJECT_DIR = Path(__file__).resolve().parent.parent
FOUR_ENVIRONMENTS = "four-environments"
CROSS_ACCOUNT = "cross-account"
# A wave of two gated production environments after dev (docs/waves.md).
WAVES = "waves"


def mutation_stats() -> bool:
    """True while `make mutate` maps each test to the functions it reaches (mutmut's stats
    pass). Then nothing is shared between tests: a program run cached or held by a module
    fixture would be credited to the first test that used it only, and mutmut would never
    run the tests that assert on its output."""
    return os.environ.get("MUTANT_UNDER_TEST") == "stats"


def shared_scope(fixture_name: str, config: pytest.Config) -> str:
    """`scope=shared_scope`: a module fixture, except during mutmut's stats pass."""
    return "function" if mutation_stats() else "module"


def _cached_unless_mapping(function):
    cached = functools.cache(function)

    @functools.wraps(function)
    def run(*args):
        return function(*args) if mutation_stats() else cached(*args)

    return run


@_cached_unless_mapping
def run_stack(stack: str) -> ProgramRun:
    """The program under mocks with one of the product's stack files (tests/fixtures/stacks),
    run once per test session: the records are only read (`RecordedResource.inputs` hands
    out fresh copies)."""
    return run_program(load_stack_config(stack, FIXTURE_STACKS), stack=stack)


def user_stacks() -> list[str]:
    """The adopter's stacks: whichever root Pulumi.<stack>.yaml files exist."""
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in PROJECT_DIR.glob("Pulumi.*.yaml"))


@_cached_unless_mapping
def run_user_stack(stack: str) -> ProgramRun:
    """The program under mocks with one of the adopter's root stack files."""
    return run_program(load_stack_config(stack, PROJECT_DIR), stack=stack)


YOURS = "yours:"


def any_stack(name: str) -> ProgramRun:
    """A product stack by name, or an adopter's as `yours:<stack>` (for the proofs that hold
    for any stack: the policy pack, permissions, isolation)."""
    return run_user_stack(name.removeprefix(YOURS)) if name.startswith(YOURS) else run_stack(name)


def with_user_stacks(*stacks: str) -> list[str]:
    return [*stacks, *(YOURS + s for s in user_stacks())]


def run_config(
    config: dict[str, Any], stack: str = "test", mocks: RecordingMocks | None = None
) -> ProgramRun:
    return run_program(stack_config_from_mapping(config), stack=stack, mocks=mocks)


def only(mocks: RecordingMocks, typ: str, name: str | None = None) -> RecordedResource:
    found = [
        r
        for r in mocks.resources
        if r.type == typ and (name is None or r.name == name or r.name.endswith(f"-{name}"))
    ]
    assert len(found) == 1, f"expected one {typ} {name or ''}, found {[r.name for r in found]}"
    return found[0]


def all_of(mocks: RecordingMocks, typ: str) -> list[RecordedResource]:
    return [r for r in mocks.resources if r.type == typ]


def policy(resource: RecordedResource, key: str = "policy") -> dict[str, Any]:
    """A JSON policy input, parsed; fails loudly if it is missing."""
    value = resource.inputs.get(key)
    assert isinstance(value, str), f"{resource.name}.{key} is {value!r}, not a JSON document"
    return json.loads(value)


def pipeline_inputs(mocks: RecordingMocks) -> dict[str, Any]:
    return only(mocks, "aws:codepipeline/pipeline:Pipeline").inputs


def pipeline_account(mocks: RecordingMocks) -> str:
    """The account the pipeline lives in, as the program declared it (its ARN): what a check
    that runs on any stack, an adopter's too, compares with, never a fixture's literal."""
    return only(mocks, "aws:codepipeline/pipeline:Pipeline").state["arn"].split(":")[4]


def stage_names(mocks: RecordingMocks) -> list[str]:
    return [stage["name"] for stage in pipeline_inputs(mocks)["stages"]]


def actions_of(mocks: RecordingMocks, stage: str) -> list[dict[str, Any]]:
    (found,) = [s for s in pipeline_inputs(mocks)["stages"] if s["name"] == stage]
    return found["actions"]


def action_of(mocks: RecordingMocks, stage: str, action: str) -> dict[str, Any]:
    (found,) = [a for a in actions_of(mocks, stage) if a["name"] == action]
    return found
