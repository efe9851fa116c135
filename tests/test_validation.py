"""Pipeline validation before declaration: one test per rule CodePipeline would only
enforce at `pulumi up`, each message naming the stage, environment and action."""

from __future__ import annotations

import dataclasses
import json

import pulumi
import pytest

from components.blueprint import BlueprintError, delivery_blueprint, validate_blueprint, worst_case_refs
from components.config import load_config
from offline.mocks import RecordingMocks
from tests.conftest import MINIMAL_RAW, config_with, run_config


@pytest.fixture
def blueprint():
    raw = {
        **MINIMAL_RAW,
        "environments": [
            {"name": "dev", "stackName": "app-dev"},
            {
                "name": "production",
                "stackName": "app-prod",
                "approval": True,
                "approvers": ["arn:aws:iam::123456789012:role/release-managers"],
            },
        ],
        "notifications": {"emails": ["platform-team@example.com"]},
    }
    config = load_config(raw)
    return delivery_blueprint(config, worst_case_refs(config))


def replace_stage(blueprint, index, **changes):
    stages = list(blueprint.stages)
    stages[index] = dataclasses.replace(stages[index], **changes)
    return dataclasses.replace(blueprint, stages=tuple(stages))


def replace_action(blueprint, stage_index, action_index, **changes):
    actions = list(blueprint.stages[stage_index].actions)
    actions[action_index] = dataclasses.replace(actions[action_index], **changes)
    return replace_stage(blueprint, stage_index, actions=tuple(actions))


def problems(blueprint) -> list[str]:
    with pytest.raises(BlueprintError) as caught:
        validate_blueprint(blueprint)
    return caught.value.problems


def test_the_generated_blueprint_is_valid(blueprint):
    validate_blueprint(blueprint)


def test_non_source_action_in_the_first_stage(blueprint):
    build_action = blueprint.stages[1].actions[0]
    broken = replace_stage(
        blueprint, 0, actions=(*blueprint.stages[0].actions, dataclasses.replace(build_action, name="Early"))
    )
    assert "stage 'Source', action 'Early': the first stage may hold only source actions" in problems(broken)


def test_source_action_after_the_first_stage(blueprint):
    source = dataclasses.replace(
        blueprint.stages[0].actions[0], name="Late", output_artifacts=("LateSource",), namespace="Late"
    )
    broken = replace_stage(blueprint, 2, actions=(*blueprint.stages[2].actions, source))
    assert problems(broken) == [
        "stage 'dev' (environment 'dev'), action 'Late': source actions belong in the first stage only"
    ]


def test_duplicate_stage_names(blueprint):
    broken = replace_stage(blueprint, 3, name="dev")
    assert "stage 'dev' (environment 'production'): duplicate stage name" in problems(broken)


def test_duplicate_action_names_in_a_stage(blueprint):
    broken = replace_action(blueprint, 5, 1, name="CreateChangeSet")
    assert problems(broken) == [
        "stage 'production' (environment 'production'), action 'CreateChangeSet': duplicate action name in the stage"
    ]


def test_duplicate_output_artifacts(blueprint):
    broken = replace_action(blueprint, 1, 0, output_artifacts=("ApplicationSource",))
    found = problems(broken)
    assert "stage 'Build', action 'Build': output artifact 'ApplicationSource' is already produced" in found


def test_input_artifact_nobody_produces(blueprint):
    broken = replace_action(
        blueprint, 2, 0, input_artifacts=("InfrastructureSource", "ApplicationVersion", "Ghost")
    )
    assert problems(broken) == [
        "stage 'dev' (environment 'dev'), action 'Deploy': input artifact 'Ghost' is produced by no earlier action"
    ]


RELEASE = 5  # Source, Build, dev, production-plan, production-approval, production


def test_input_artifact_produced_only_later_in_the_same_stage(blueprint):
    change_set, confirm, execute, *rest = blueprint.stages[RELEASE].actions
    broken = replace_stage(
        blueprint,
        RELEASE,
        actions=(
            change_set,
            dataclasses.replace(confirm, input_artifacts=("Report",)),
            dataclasses.replace(execute, output_artifacts=("Report",)),
            *rest,
        ),
    )
    assert (
        "stage 'production' (environment 'production'), action 'ConfirmChangeSet': input artifact 'Report' is produced by no earlier action"
        in problems(broken)
    )


def test_input_artifact_produced_at_the_same_run_order(blueprint):
    # Equal run orders run in parallel (CodePipeline): the producer is not "earlier".
    change_set, confirm, execute, *rest = blueprint.stages[RELEASE].actions
    broken = replace_stage(
        blueprint,
        RELEASE,
        actions=(
            dataclasses.replace(change_set, output_artifacts=("Report",)),
            dataclasses.replace(confirm, run_order=change_set.run_order, input_artifacts=("Report",)),
            execute,
            *rest,
        ),
    )
    assert (
        "stage 'production' (environment 'production'), action 'ConfirmChangeSet': input artifact 'Report' is produced by no earlier action"
        in problems(broken)
    )


@pytest.mark.parametrize("name", ["Application Source", "x" * 101, "", "build/version"])
def test_artifact_names_outside_the_allowed_pattern(blueprint, name):
    broken = replace_action(blueprint, 0, 0, output_artifacts=(name,))
    assert any(f"artifact name {name!r} must match [A-Za-z0-9_-]{{1,100}}" in p for p in problems(broken))


def test_parameter_overrides_over_one_kilobyte(blueprint):
    action = blueprint.stages[2].actions[0]
    overrides = json.loads(action.configuration["ParameterOverrides"])
    overrides.update({f"Param{i}": "v" * 40 for i in range(20)})
    configuration = {**action.configuration, "ParameterOverrides": json.dumps(overrides)}
    broken = replace_action(blueprint, 2, 0, configuration=configuration)
    (problem,) = [p for p in problems(broken) if "bytes" in p]
    assert problem.startswith("stage 'dev' (environment 'dev'), action 'Deploy': ParameterOverrides is ")
    assert "bytes; CloudFormation actions allow 1024" in problem


def test_configuration_value_over_1000_characters(blueprint):
    (approve,) = blueprint.stages[4].actions
    broken = replace_action(
        blueprint, 4, 0, configuration={**approve.configuration, "CustomData": "x" * 1001}
    )
    assert problems(broken) == [
        "stage 'production-approval' (environment 'production'), action 'Approve': configuration CustomData is 1001 characters; CodePipeline allows 1000"
    ]


def test_get_param_artifact_must_be_an_input(blueprint):
    broken = replace_action(blueprint, 2, 0, input_artifacts=("InfrastructureSource",))
    # Both the tag and the digest are read from the build's version artifact.
    assert (
        problems(broken)
        == [
            "stage 'dev' (environment 'dev'), action 'Deploy': Fn::GetParam reads artifact 'ApplicationVersion', which is not an input of the action"
        ]
        * 2
    )


def test_too_many_parameters_in_config_fail_before_anything_is_declared():
    parameters = {f"Parameter{i}": "value-" + "x" * 30 for i in range(30)}
    bad = config_with(
        environments=[{"name": "dev", "stackName": "todobackend-dev", "parameters": parameters}]
    )
    mocks = RecordingMocks()
    with pytest.raises(pulumi.RunError) as caught:
        run_config(bad, mocks=mocks)
    assert "stage 'dev' (environment 'dev'), action 'Deploy': ParameterOverrides is" in str(caught.value)
    assert mocks.resources == []


def test_the_error_reads_as_one_block_with_a_line_per_problem():
    from components.blueprint import BlueprintError

    assert str(BlueprintError(["stage 'a': one", "stage 'b': two"])) == (
        "invalid pipeline:\n  - stage 'a': one\n  - stage 'b': two"
    )
