"""Progressive delivery: an environment's `deployment` (strategy, steps, bake times, alarms,
test paths), its refusals, and the template parameters it reaches the template as.

Bounds and defaults are the AWS::ECS::Service registry schema's (DeploymentConfiguration,
CanaryConfiguration, LinearConfiguration), written out here as literals."""

from __future__ import annotations

import copy
import json

import pytest

from components import cloudformation
from components.blueprint import BlueprintError, delivery_blueprint, validate_blueprint, worst_case_refs
from components.config import ConfigError, load_config
from components.spec import EnvironmentRefs, PipelineRefs
from tests.conftest import MINIMAL_RAW


def with_deployment(deployment: dict, **environment: object) -> dict:
    raw = copy.deepcopy(MINIMAL_RAW)
    raw["environments"][0].update(deployment=deployment, **environment)
    return raw


def problems_for(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(raw)
    return caught.value.problems


KEY = "ecs-delivery:environments[0].deployment"


def test_no_deployment_is_todays_behaviour_and_passes_no_parameter():
    config = load_config(MINIMAL_RAW)
    env = config.environments[0]
    assert env.deployment is None
    assert cloudformation.deployment_parameters(env, _refs(env.name)) == {}


def test_the_schemas_defaults_fill_a_canary():
    env = load_config(with_deployment({"strategy": "canary"})).environments[0]
    assert cloudformation.deployment_parameters(env, _refs(env.name)) == {
        "DeploymentStrategy": "CANARY",
        "DeploymentAlarmNames": "",
        "DeploymentBakeMinutes": "15",
        "CanaryPercent": "5.0",
        "CanaryBakeMinutes": "10",
    }


def test_a_linear_deployment_passes_its_steps_and_its_alarms_as_one_list():
    deployment = {
        "strategy": "linear",
        "stepPercent": 20,
        "stepBakeMinutes": 3,
        "bakeMinutes": 30,
        "alarms": ["app-5xx", "app-latency"],
    }
    env = load_config(with_deployment(deployment)).environments[0]
    assert cloudformation.deployment_parameters(env, _refs(env.name)) == {
        "DeploymentStrategy": "LINEAR",
        "DeploymentAlarmNames": "app-5xx,app-latency",
        "DeploymentBakeMinutes": "30",
        "LinearStepPercent": "20.0",
        "LinearStepBakeMinutes": "3",
    }


def test_rolling_passes_the_strategy_and_alarms_only():
    env = load_config(with_deployment({"strategy": "rolling", "alarms": ["a"]})).environments[0]
    assert cloudformation.deployment_parameters(env, _refs(env.name)) == {
        "DeploymentStrategy": "ROLLING",
        "DeploymentAlarmNames": "a",
    }


def test_blue_green_with_test_paths_passes_the_hook_function_and_its_invoke_role():
    env = load_config(with_deployment({"strategy": "blue-green", "testPaths": ["/todos"]})).environments[0]
    refs = _refs(env.name, hook=True)
    assert cloudformation.deployment_parameters(env, refs) == {
        "DeploymentStrategy": "BLUE_GREEN",
        "DeploymentAlarmNames": "",
        "DeploymentBakeMinutes": "15",
        "TestHookFunctionArn": "arn:aws:lambda:eu-west-1:123456789012:function:hook",
        "TestHookRoleArn": "arn:aws:iam::123456789012:role/ecs-delivery/invoke-hook",
    }


def test_the_parameters_reach_the_deploy_actions_parameter_overrides():
    raw = with_deployment({"strategy": "canary", "canaryPercent": 10, "alarms": ["app-5xx"]})
    config = load_config(raw)
    env = config.environments[0]
    overrides = json.loads(cloudformation.parameter_overrides(config, env, _refs(env.name)))
    assert overrides["DeploymentStrategy"] == "CANARY"
    assert overrides["CanaryPercent"] == "10.0"
    assert overrides["DeploymentAlarmNames"] == "app-5xx"
    assert overrides["ApplicationImageTag"] == {
        "Fn::GetParam": ["ApplicationVersion", "version.json", "Version"]
    }


@pytest.mark.parametrize(
    ("deployment", "expected"),
    [
        (
            {"strategy": "canery"},
            [
                f"{KEY}.strategy: 'canery' is not allowed: one of rolling, blue-green, canary, linear (did you mean 'canary'?)"
            ],
        ),
        (
            {"strategy": "canary", "canaryPercent": 0.0},
            [f"{KEY}.canaryPercent: 0.0 is not allowed: a number from 0.1 to 100.0"],
        ),
        (
            {"strategy": "canary", "canaryPercent": 12.34},
            [
                f"{KEY}.canaryPercent: 12.34 is not allowed: a multiple of 0.1 (ECS shifts traffic in tenths of a percent)"
            ],
        ),
        (
            {"strategy": "linear", "stepPercent": 2.9},
            [f"{KEY}.stepPercent: 2.9 is not allowed: a number from 3.0 to 100.0"],
        ),
        (
            {"strategy": "blue-green", "bakeMinutes": 1441},
            [f"{KEY}.bakeMinutes: 1441 is not allowed: a whole number from 0 to 1440"],
        ),
        (
            {"strategy": "canary", "canaryBakeMinutes": -1},
            [f"{KEY}.canaryBakeMinutes: -1 is not allowed: a whole number from 0 to 1440"],
        ),
        (
            {"strategy": "blue-green", "canaryPercent": 10, "stepBakeMinutes": 5},
            [
                f"{KEY}.canaryPercent: only with strategy canary (the strategy is blue-green)",
                f"{KEY}.stepBakeMinutes: only with strategy linear (the strategy is blue-green)",
            ],
        ),
        (
            {"strategy": "rolling", "bakeMinutes": 5, "testPaths": ["/"]},
            [
                f"{KEY}.bakeMinutes: only with strategy blue-green, canary or linear (the template sets a bake "
                "time for those only)",
                f"{KEY}.testPaths: only with strategy blue-green, canary or linear (a rolling deployment has no "
                "test listener)",
            ],
        ),
        (
            # 1440 + 600 > 33 hours (1980 minutes): the registry schema's CanaryConfiguration.
            {"strategy": "canary", "canaryBakeMinutes": 1440, "bakeMinutes": 600},
            [
                f"{KEY}.canaryBakeMinutes: bakeMinutes + canaryBakeMinutes is 2040 minutes; CloudFormation "
                "refuses a canary deployment over 1980 (33 hours)"
            ],
        ),
        (
            # 11%: floor(100 / 11) = 9 steps (the schema's own example); 15 + 9 x 219 = 1986.
            {"strategy": "linear", "stepPercent": 11, "stepBakeMinutes": 219},
            [
                f"{KEY}.stepBakeMinutes: bakeMinutes + stepBakeMinutes x 9 steps is 1986 minutes; CloudFormation "
                "refuses a linear deployment over 1980 (33 hours)"
            ],
        ),
        (
            {"alarms": ["a,b", "c", "c"]},
            [
                f"{KEY}.alarms[0]: 'a,b' is not allowed: a CloudWatch alarm name (1-255 characters, no control "
                "characters, no ',': the template receives the names as one comma-separated list)",
            ],
        ),
        (
            {"alarms": ["c", "c"]},
            [f"{KEY}.alarms: each alarm once"],
        ),
        (
            {"alarms": ["a", "b", "c", "d", "e", "f"]},
            [f"{KEY}.alarms: a list of 6 items is not allowed: at most 5 items"],
        ),
        (
            {"strategy": "canary", "testPaths": ["todos"]},
            [
                f"{KEY}.testPaths[0]: 'todos' is not allowed: a URL path starting with '/' (at most 200 "
                "characters, no spaces, no ',')"
            ],
        ),
        (
            {"strategy": "linear", "stepPercent": 10, "color": "blue"},
            [
                f"{KEY}.color: unknown key (allowed: alarms, bakeMinutes, canaryBakeMinutes, canaryPercent, "
                "stepBakeMinutes, stepPercent, strategy, testPaths)"
            ],
        ),
    ],
)
def test_each_broken_rule_names_its_key(deployment, expected):
    assert problems_for(with_deployment(deployment)) == expected


def test_a_linear_deployment_of_exactly_33_hours_is_allowed():
    # 10%: 100 / 10 - 1 = 9 steps (the step bake is not applied after 100%); 0 + 9 x 220 = 1980.
    deployment = {"strategy": "linear", "stepPercent": 10, "stepBakeMinutes": 220, "bakeMinutes": 0}
    assert load_config(with_deployment(deployment)).environments[0].deployment.step_bake == 220


def test_wrong_values_and_keys_that_do_not_fit_the_strategy_are_reported_in_one_round():
    deployment = {"strategy": "canary", "canaryPercent": 200, "stepPercent": 10}
    assert problems_for(with_deployment(deployment)) == [
        f"{KEY}.canaryPercent: 200 is not allowed: a number from 0.1 to 100.0",
        f"{KEY}.stepPercent: only with strategy linear (the strategy is canary)",
    ]


def test_a_parameter_the_deployment_sets_is_refused_in_parameters():
    raw = with_deployment({"strategy": "canary"}, parameters={"CanaryBakeMinutes": "3", "Other": "x"})
    assert problems_for(raw) == [
        "ecs-delivery:environments[0].parameters.CanaryBakeMinutes: set by the pipeline from "
        "environments[0].deployment; remove it (and set environments[0].deployment instead)",
    ]


def test_a_deployment_parameter_is_refused_in_parameters_without_a_deployment_too():
    # Otherwise it would skip every check of `deployment`, and the review would still show it as
    # how the release reaches users.
    raw = copy.deepcopy(MINIMAL_RAW)
    raw["environments"][0]["parameters"] = {
        "DeploymentStrategy": "CANARY",
        "TestHookFunctionArn": "arn:aws:lambda:eu-west-1:123456789012:function:always-ok",
    }
    assert problems_for(raw) == [
        "ecs-delivery:environments[0].parameters.DeploymentStrategy: set by the pipeline from "
        "environments[0].deployment; remove it (and set environments[0].deployment instead)",
        "ecs-delivery:environments[0].parameters.TestHookFunctionArn: set by the pipeline from "
        "environments[0].deployment; remove it (and set environments[0].deployment instead)",
    ]


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_a_percentage_that_is_not_a_finite_number_is_named(value):
    (problem,) = problems_for(with_deployment({"strategy": "canary", "canaryPercent": value}))
    assert problem == f"{KEY}.canaryPercent: {value} is not allowed: a finite number"


def test_the_parameter_overrides_of_a_large_deployment_stay_within_one_kilobyte():
    # Five alarm names of 60 characters and the hook's two ARNs at their worst-case length:
    # the blueprint's check refuses the config before any resource is declared.
    alarms = [f"{index}".ljust(60, "x") for index in range(5)]
    raw = with_deployment({"strategy": "canary", "alarms": alarms, "testPaths": ["/todos"]})
    config = load_config(raw)
    with pytest.raises(BlueprintError) as caught:
        validate_blueprint(delivery_blueprint(config, worst_case_refs(config)))
    assert any(
        "ParameterOverrides is" in problem
        and "allow 1024 (move parameters into the template configuration file)" in problem
        for problem in caught.value.problems
    )
    # The same deployment with short names fits.
    raw["environments"][0]["deployment"]["alarms"] = ["app-5xx", "app-latency"]
    config = load_config(raw)
    validate_blueprint(delivery_blueprint(config, worst_case_refs(config)))


def _refs(name: str, *, hook: bool = False) -> PipelineRefs:
    return PipelineRefs(
        connection_arn="arn:aws:codeconnections:eu-west-1:123456789012:connection/x",
        build_project="build",
        notification_topic_arn="arn:aws:sns:eu-west-1:123456789012:topic",
        image_registry="123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        environments={
            name: EnvironmentRefs(
                target={
                    "deploy_role_arn": "arn:aws:iam::123456789012:role/ecs-delivery/deploy",
                    "boundary_arn": "arn:aws:iam::123456789012:policy/ecs-delivery/boundary",
                    "test_hook_function_arn": "arn:aws:lambda:eu-west-1:123456789012:function:hook"
                    if hook
                    else None,
                    "test_hook_role_arn": "arn:aws:iam::123456789012:role/ecs-delivery/invoke-hook"
                    if hook
                    else None,
                }
            )
        },
    )
