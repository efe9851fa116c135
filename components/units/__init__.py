"""Delivery units: the deploy target each environment has, and each gate it can ask for, one
unit each (the seam: `components/units/seam.py`; the recipe for a new one: docs/development.md,
"Where to add …").

`GATES` is every gate unit, in the order their actions take a slot they share. `target_of` and
`declare_target` choose an environment's deploy target: today every environment is a
CloudFormation stack (components/cloudformation.py, its actions and documents, and
components/cloudformation_target.py, its resources); a second target is chosen here by its
config variant."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from components import cloudformation, cloudformation_target
from components.config import EnvironmentConfig
from components.units import drift_check, verify
from components.units.seam import TargetBinding, TargetContext

GATES = (drift_check, verify)


def target_of(env: EnvironmentConfig) -> ModuleType:
    """The module of the environment's deploy target's actions and documents (`DeployTarget`,
    components/blueprint.py)."""
    return cloudformation


def declare_target(env: EnvironmentConfig) -> Callable[[TargetContext], TargetBinding]:
    """What declares the environment's deploy target's resources."""
    return cloudformation_target.declare
