"""Delivery units: the deploy target each environment has, and each gate it can ask for, one
unit each (the seam: `components/units/seam.py`; the recipe for a new one: docs/development.md,
"Where to add …").

`GATES` is every gate unit, in the order their actions take a slot they share. `target_of` and
`declare_target` choose an environment's deploy target: today every environment is a
CloudFormation stack (components/cloudformation.py, its actions, documents and config variant,
and components/cloudformation_target.py, its resources); a second target is chosen here by its
config variant.

An environment's config is assembled here too: `EnvironmentConfig` is each target's variant
(`TARGET_VARIANTS`) joined with every gate's option (its module's `CONFIG_OPTION`), and
`DeliveryConfig.environments` is rebuilt with it. `components.config` imports this module
before it hands out `DeliveryConfig` or `EnvironmentConfig`, so every importer gets the
assembled model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType, ModuleType
from typing import Any, Union

from pydantic import create_model

from components import cloudformation, cloudformation_target
from components.config.schema import DeliveryConfig, EnvironmentGates, Section
from components.units import drift_check, verify
from components.units.seam import TargetBinding, TargetContext

GATES = (drift_check, verify)
# Each deploy target's config variant: an environment is one of them.
TARGET_VARIANTS: tuple[type[EnvironmentGates], ...] = (cloudformation.CloudFormationEnvironment,)


def assemble(
    variants: Sequence[type[EnvironmentGates]],
    options: Sequence[type[Section]],
    *,
    only_for: Mapping[type[Section], Sequence[type[EnvironmentGates]]] = MappingProxyType({}),
) -> Any:
    """An environment's config model: each variant with every option's keys and rules (an
    option in `only_for`: with the variants named there alone, as a gate that works on one kind
    of target only); with several variants, their union (a second target then needs a
    discriminator that tells its variant by the keys it requires). The keys keep their order:
    the variant's, then each option's in `options` order (docs/configuration.md lists them so)."""
    # A union of one model is that model.
    return Union[
        tuple(
            _with_options(variant, [o for o in options if variant in only_for.get(o, (variant,))])
            for variant in variants
        )
    ]


def _own_members(model: type[Section]) -> dict[str, str]:
    """The rules, properties and methods `model` and its bases below `Section` define, each with
    the class that defines it."""
    return {
        name: cls.__name__
        for cls in reversed(model.__mro__)
        if issubclass(cls, Section) and cls is not Section
        for name in vars(cls)
        if not name.startswith("__") and name not in ("_abc_impl", "model_config")
    }


def _with_options(
    variant: type[EnvironmentGates], options: Sequence[type[Section]]
) -> type[EnvironmentGates]:
    seen = {name: variant.__name__ for name in variant.model_fields}
    # Attacked (round 7): the joined model takes one member per name, the first in its method
    # resolution order, so a rule another part names alike would be dropped without a word (a
    # gate's `_is_possible`, or one named `_gates_are_consistent`, which every environment's
    # rules are).
    members = _own_members(variant)
    for option in options:
        for name in option.model_fields:
            if name in seen:
                # Two units reading one key would each take it for their own.
                raise TypeError(f"{option.__name__}.{name}: already a key of {seen[name]}")
            seen[name] = option.__name__
        for name, owner in _own_members(option).items():
            if name in members:
                raise TypeError(f"{owner}.{name}: already a rule or member of {members[name]}")
            members[name] = owner
    # Pydantic orders the fields by the reversed method resolution order: the variant's first,
    # then the options', the last base's first.
    return create_model(variant.__name__, __base__=(*reversed(options), variant))


EnvironmentConfig = assemble(
    TARGET_VARIANTS,
    [gate.CONFIG_OPTION for gate in GATES],
    # A gate that works on some targets only names their variants (`FOR_TARGETS`).
    only_for={gate.CONFIG_OPTION: gate.FOR_TARGETS for gate in GATES if hasattr(gate, "FOR_TARGETS")},
)
DeliveryConfig.model_rebuild(_types_namespace={"EnvironmentConfig": EnvironmentConfig})


def target_of(env: EnvironmentConfig) -> ModuleType:
    """The module of the environment's deploy target's actions and documents (`DeployTarget`,
    components/blueprint.py)."""
    return cloudformation


def declare_target(env: EnvironmentConfig) -> Callable[[TargetContext], TargetBinding]:
    """What declares the environment's deploy target's resources."""
    return cloudformation_target.declare
