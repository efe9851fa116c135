"""The unit seam (components/units/seam.py): the blueprint, the environment and the pipeline loop
over `GATES` and name no unit, the environment and the pipeline know no deploy target, and every
unit has the whole protocol."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from components.config import Section
from components.units import GATES, TARGET_VARIANTS, seam

ROOT = Path(__file__).resolve().parent.parent
# The modules that must carry any gate without knowing it.
SEAM_USERS = (
    "components/blueprint.py",
    "components/environment.py",
    "components/pipeline.py",
    "components/spec.py",
)
# Nothing outside the CloudFormation unit knows CloudFormation: the environment, the pipeline and
# the refs import neither of its modules, nor does the blueprint (it asks `target_of`).
# The registry: the units, and the choice of an environment's deploy target.
ALLOWED = {
    "components.units",
    "components.units.seam",
    "components.units.GATES",
    "components.units.target_of",
    "components.units.declare_target",
}


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("module", SEAM_USERS)
def test_the_modules_around_the_seam_import_no_unit(module):
    units = {name for name in imported_modules(ROOT / module) if name.startswith("components.units")}
    assert units - ALLOWED - {f"components.units.seam.{name}" for name in dir(seam)} == set()


@pytest.mark.parametrize("module", SEAM_USERS)
def test_the_blueprint_the_environment_the_pipeline_and_the_refs_import_no_deploy_target(module):
    imported = imported_modules(ROOT / module)
    assert {
        name
        for name in imported
        if name.split(".")[:2] in (["components", "cloudformation"], ["components", "cloudformation_target"])
    } == set()


@pytest.mark.parametrize("module", SEAM_USERS)
def test_the_modules_around_the_seam_name_no_unit(module):
    tree = ast.parse((ROOT / module).read_text())
    strings = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)}
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert [unit.NAME for unit in GATES if unit.NAME in strings] == []
    assert [unit.__name__ for unit in GATES if unit.__name__.rsplit(".", 1)[-1] in names] == []


@pytest.mark.parametrize("unit", GATES, ids=lambda unit: unit.NAME)
def test_every_unit_has_the_whole_protocol(unit):
    for name in ("applies", "worst_case_refs", "actions", "review_checks", "declare"):
        assert inspect.isfunction(getattr(unit, name, None)), f"{unit.__name__} has no {name}()"
    assert isinstance(unit.NAME, str) and unit.NAME
    assert len({u.NAME for u in GATES}) == len(GATES)
    # Its config option, joined to the targets it names (all, when it names none).
    assert issubclass(unit.CONFIG_OPTION, Section)
    assert set(getattr(unit, "FOR_TARGETS", TARGET_VARIANTS)) <= set(TARGET_VARIANTS)


def test_each_unit_puts_its_actions_only_in_named_slots():
    from components.config import config_from_stack
    from offline.program import load_stack_config
    from tests.conftest import FIXTURE_STACKS

    stack = load_stack_config("four-environments", FIXTURE_STACKS)
    config = config_from_stack(
        stack.values, stack="four-environments", secret_keys=frozenset(stack.secret_keys)
    )
    for unit in GATES:
        for env in config.environments:
            if unit.applies(env):
                refs = unit.worst_case_refs(env)
                slots = unit.actions(env, refs, outputs_namespace="Outputs-x")
                assert set(slots) <= set(seam.SLOTS), (unit.NAME, sorted(slots))
