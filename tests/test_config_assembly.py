"""An environment's config is assembled from the units (components/units/__init__.py): each deploy
target's variant joined with every gate's option, and `DeliveryConfig` rebuilt with the result.
The schema knows no gate; a toy gate's option is assembled the way the real ones are; and the
cycle (the registry imports the units, the units import the config package) holds whichever
module a program imports first."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
import types
import typing
from pathlib import Path
from typing import Literal, Optional

import pytest
from pydantic import ValidationError, ValidationInfo, model_validator

import components.config
import components.config.schema
from components.cloudformation import CloudFormationEnvironment
from components.config import DeliveryConfig, EnvironmentConfig, EnvironmentGates, Section
from components.config.messages import error_lines
from components.units import GATES, TARGET_VARIANTS, assemble, drift_check, verify

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = Path(components.config.schema.__file__)


class ToyGateOption(Section):
    """A gate's option as a unit declares one: its key, and a rule that reads the keys every
    environment has (`approval`)."""

    toy_gate: Optional[Literal["soft", "hard"]] = None
    """A toy gate's setting."""

    @model_validator(mode="after")
    def _only_gated(self, info: ValidationInfo) -> ToyGateOption:
        if self.toy_gate == "hard" and not self.approval:
            raise ValueError(".toyGate: hard only for a gated environment")
        return self


DEV = {"name": "dev", "stackName": "shop-dev"}
GATED = {**DEV, "approval": True, "approvers": ["arn:aws:iam::123456789012:role/release-managers"]}


def problems(model: type, raw: dict) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(raw)
    return [line for error in caught.value.errors() for line in error_lines(error)]


def unknown_keys(model: type, raw: dict) -> list[tuple]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(raw)
    return [error["loc"] for error in caught.value.errors() if error["type"] == "extra_forbidden"]


def test_a_gate_option_assembled_into_the_variant_takes_its_camel_case_key():
    model = assemble(TARGET_VARIANTS, [ToyGateOption])
    assert model.model_validate({**DEV, "toyGate": "soft"}).toy_gate == "soft"
    assert model.model_validate(DEV).toy_gate is None
    assert problems(model, {**DEV, "toyGate": "firm"}) == [
        "ecs-delivery:toyGate: 'firm' is not allowed: one of soft, hard"
    ]
    assert unknown_keys(model, {**DEV, "toy_gate": "soft"}) == [("toy_gate",)]


def test_the_option_s_rule_reads_the_keys_of_the_variant_it_joins():
    model = assemble(TARGET_VARIANTS, [ToyGateOption])
    assert model.model_validate({**GATED, "toyGate": "hard"}).toy_gate == "hard"
    assert problems(model, {**DEV, "toyGate": "hard"}) == [
        "ecs-delivery:.toyGate: hard only for a gated environment"
    ]


def test_without_the_option_its_key_is_unknown():
    assert unknown_keys(assemble(TARGET_VARIANTS, []), {**DEV, "toyGate": "soft"}) == [("toyGate",)]


def test_a_key_two_units_claim_is_refused_when_assembling():
    class Clashing(Section):
        toy_gate: Optional[str] = None

    class StackNameToo(Section):
        stack_name: Optional[str] = None

    with pytest.raises(TypeError, match=r"^Clashing\.toy_gate: already a key of ToyGateOption$"):
        assemble(TARGET_VARIANTS, [ToyGateOption, Clashing])
    with pytest.raises(
        TypeError, match=r"^StackNameToo\.stack_name: already a key of CloudFormationEnvironment$"
    ):
        assemble(TARGET_VARIANTS, [StackNameToo])


def test_with_two_deploy_targets_an_environment_is_either_variant_with_every_option():
    class ToyTarget(EnvironmentGates):
        service_name: str

    either = typing.get_args(assemble([*TARGET_VARIANTS, ToyTarget], [ToyGateOption]))
    assert [model.__name__ for model in either] == ["CloudFormationEnvironment", "ToyTarget"]
    assert [model.model_validate({**DEV, "toyGate": "soft"}).toy_gate for model in either[:1]] == ["soft"]
    assert (
        either[1].model_validate({"name": "dev", "serviceName": "shop", "toyGate": "soft"}).toy_gate == "soft"
    )


def test_an_option_for_some_targets_joins_their_variants_alone():
    class ToyTarget(EnvironmentGates):
        service_name: str

    either = typing.get_args(
        assemble([*TARGET_VARIANTS, ToyTarget], [ToyGateOption], only_for={ToyGateOption: TARGET_VARIANTS})
    )
    assert either[0].model_validate({**DEV, "toyGate": "soft"}).toy_gate == "soft"
    assert unknown_keys(either[1], {"name": "dev", "serviceName": "shop", "toyGate": "soft"}) == [
        ("toyGate",)
    ]


def test_the_drift_check_is_a_gate_of_stacks_alone():
    # A second target's environments would not take driftCheck: CloudFormation's drift detection.
    assert (CloudFormationEnvironment,) == drift_check.FOR_TARGETS
    assert not hasattr(verify, "FOR_TARGETS")


def test_the_environments_are_the_variant_with_every_gate_s_option():
    keys = [field.alias for field in EnvironmentConfig.model_fields.values()]
    # The variant's keys first, then the gates' in GATES order (docs/configuration.md lists them so).
    assert keys[-2:] == ["driftCheck", "verify"]
    assert {"name", "approval", "stackName", "parameters", "deployment"} <= set(keys)
    for gate in GATES:
        assert set(gate.CONFIG_OPTION.model_fields) <= set(EnvironmentConfig.model_fields), gate.NAME
    assert DeliveryConfig.model_fields["environments"].annotation == list[EnvironmentConfig]


def test_the_assembled_gates_check_their_keys_in_the_whole_config():
    config = DeliveryConfig.model_validate(
        {
            "application": {"name": "shop", "repository": "acme/shop"},
            "infrastructure": {"repository": "acme/shop-infra"},
            "environments": [{**GATED, "driftCheck": "block", "verify": {"command": "make smoke"}}],
            "notifications": {"emails": ["platform@example.com"]},
        }
    )
    (env,) = config.environments
    assert (env.drift_check, env.verify.command) == ("block", "make smoke")


def test_a_unit_that_needs_the_model_while_the_registry_imports_it_is_told_why(monkeypatch):
    # What a module the registry imports finds while the registry is still importing the units.
    monkeypatch.setitem(sys.modules, "components.units", types.ModuleType("components.units"))
    with pytest.raises(ImportError) as caught:
        _ = components.config.EnvironmentConfig
    assert str(caught.value) == (
        "components.config.EnvironmentConfig is assembled by components.units, which is still importing the "
        "units: a module it imports may name it only in annotations (import it under TYPE_CHECKING)"
    )
    # DeliveryConfig is the same class before its rebuild and after: it is handed out.
    assert components.config.DeliveryConfig is components.config.schema.DeliveryConfig


def test_a_name_the_package_does_not_have_is_an_attribute_error_as_for_any_module():
    with pytest.raises(AttributeError) as caught:
        _ = components.config.EnvironmentConfigs
    assert str(caught.value) == "module 'components.config' has no attribute 'EnvironmentConfigs'"
    assert not hasattr(components.config, "VerifyOption")  # a unit's own name is not handed out here


def identifiers(tree: ast.AST) -> set[str]:
    """Every name the module's code uses or defines (not its strings: docstrings may say what
    the units add)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            found.add(node.name)
        elif isinstance(node, ast.arg):
            found.add(node.arg)
        elif isinstance(node, ast.alias):
            found |= {node.name, node.asname or node.name}
        elif isinstance(node, ast.keyword) and node.arg:
            found.add(node.arg)
    return found


def test_the_schema_names_no_gate():
    names = identifiers(ast.parse(SCHEMA.read_text()))
    assert {"EnvironmentGates", "DeliveryConfig", "approval"} <= names  # the walk sees the schema's names
    assert sorted(name for name in names if "verify" in name.lower() or "drift" in name.lower()) == []


# A config with both gates, and each program's check that it was read with them.
GATED_CONFIG = """
RAW = {
    "application": {"name": "shop", "repository": "acme/shop"},
    "infrastructure": {"repository": "acme/shop-infra"},
    "environments": [{
        "name": "prod", "stackName": "shop-prod", "approval": True, "driftCheck": "warn",
        "approvers": ["arn:aws:iam::123456789012:role/release-managers"], "verify": {},
    }],
    "notifications": {"emails": ["platform@example.com"]},
}
"""
IMPORT_ORDERS = {
    "a gate unit first": """
        import components.units.drift_check
        from components.config import load_config
        assert load_config(RAW).environments[0].drift_check == "warn"
    """,
    "DeliveryConfig first": """
        from components.config import DeliveryConfig
        assert DeliveryConfig.model_validate(RAW).environments[0].verify.command == "make smoke"
    """,
    "EnvironmentConfig first": """
        from components.config import EnvironmentConfig
        assert EnvironmentConfig.model_validate(RAW["environments"][0]).drift_check == "warn"
    """,
}


def run_fresh(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - this interpreter, a script written above
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )


@pytest.mark.parametrize("script", IMPORT_ORDERS.values(), ids=IMPORT_ORDERS.keys())
def test_the_cycle_holds_whichever_module_comes_first(script):
    ran = run_fresh(GATED_CONFIG + textwrap.dedent(script))
    assert ran.returncode == 0, ran.stderr


def test_the_configuration_reference_runs_on_its_own():
    ran = subprocess.run(
        [sys.executable, "-m", "offline.config_reference"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert "`ecs-delivery:environments[].driftCheck`" in ran.stdout
    assert "`ecs-delivery:environments[].verify.timeoutMinutes`" in ran.stdout


def test_the_program_runs_under_mocks_in_a_fresh_interpreter():
    ran = run_fresh(
        textwrap.dedent(
            """
            from pathlib import Path
            from offline.program import load_stack_config, run_program
            run = run_program(load_stack_config("four-environments", Path("tests/fixtures/stacks")))
            print(sum(r.type == "ecs-delivery:drift_check:DriftCheck" for r in run.mocks.resources))
            """
        )
    )
    assert ran.returncode == 0, ran.stderr
    # Pulumi.four-environments.yaml asks two environments for the drift check.
    assert ran.stdout.split()[-1] == "2"


# Under `make mutate` a fresh interpreter records no mutant's tests, and importing mutmut's
# rewritten modules some twenty times takes minutes: the other import orders still run there.
@pytest.mark.skipif(bool(os.environ.get("MUTANT_UNDER_TEST")), reason="mutation testing: see above")
def test_every_module_the_registry_imports_can_come_first():
    # A cycle can only bite a module the registry imports (it would find that module half done);
    # any other module imports the registry whole. One interpreter, our modules forgotten before
    # each: the same for them as a fresh one (the SDKs stay loaded; they import none of ours).
    script = textwrap.dedent(
        """
        import importlib, sys

        def ours():
            return sorted(m for m in sys.modules if m == "components" or m.startswith("components."))

        import components.units
        closure, failed = ours(), []
        for module in closure:
            for name in ours():
                del sys.modules[name]
            try:
                importlib.import_module(module)
                importlib.import_module("components.config").load_config(RAW)
            except Exception as error:
                failed.append(f"{module}: {error!r}")
        print(closure)
        print(failed)
        """
    )
    ran = run_fresh(GATED_CONFIG + script)
    assert ran.returncode == 0, ran.stderr
    closure, failed = (ast.literal_eval(line) for line in ran.stdout.splitlines()[-2:])
    assert failed == []
    assert {"components.cloudformation", "components.units.drift_check", "components.config.reading"} <= set(
        closure
    )


def test_a_rule_two_units_name_alike_is_refused_when_assembling():
    # Attacked (round 7): the assembled model keeps one member per name, so the second of two
    # rules named alike would be dropped silently; and a rule named like `EnvironmentGates`'
    # would drop every environment's own rules (approvers for a gated environment among them).
    class OtherGateOption(Section):
        other_gate: Optional[Literal["soft", "hard"]] = None

        @model_validator(mode="after")
        def _only_gated(self, info: ValidationInfo) -> OtherGateOption:
            if self.other_gate == "hard" and not self.approval:
                raise ValueError(".otherGate: hard only for a gated environment")
            return self

    class ShadowingOption(Section):
        shadow: Optional[str] = None

        @model_validator(mode="after")
        def _gates_are_consistent(self, info: ValidationInfo) -> ShadowingOption:
            return self

    with pytest.raises(
        TypeError, match=r"^OtherGateOption\._only_gated: already a rule or member of ToyGateOption$"
    ):
        assemble(TARGET_VARIANTS, [ToyGateOption, OtherGateOption])
    with pytest.raises(
        TypeError,
        match=r"^ShadowingOption\._gates_are_consistent: already a rule or member of EnvironmentGates$",
    ):
        assemble(TARGET_VARIANTS, [ShadowingOption])
    # The units as they are assemble (every rule named once).
    assemble(TARGET_VARIANTS, [gate.CONFIG_OPTION for gate in GATES])
