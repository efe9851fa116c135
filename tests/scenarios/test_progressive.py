"""Progressive delivery through the simulator (issue 27, rules S1-S6 of
tests/support/pipeline_run.py). On the `progressive` fixture stack: A1 released everywhere,
then A2 pushed; dev takes it linearly, production as a canary behind an approval, tested by the
lifecycle-hook function the program declares. On the `prod` fixture (its production a canary of
10% for 15 minutes, then 15 minutes of bake; dev rolling): the same, as the example ships it.

Every expected minute is worked out here from the fixture's figures (written out below and
checked against what the program declares) and the simulator's action times; every expected
traffic share from the same figures.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_config, run_stack
from tests.scenarios import progressive
from tests.scenarios.progressive import hook_fails_for_a2, play, production_alarm_after
from tests.scenarios.scenarios import Result, app, tag
from tests.support.pipeline_run import ACTION_MINUTES, APPROVAL_MINUTES, BUILD_MINUTES, PipelineRun

A1, A2 = tag(1), tag(2)
OK = ("STANDARD", "Succeeded")
FAILED = ("STANDARD", "Failed")
ROLLED_BACK = ("ROLLBACK", "Succeeded")

# tests/fixtures/stacks/Pulumi.progressive.yaml
DEV_STEP, DEV_STEP_BAKE, DEV_BAKE = 25.0, 2, 4
CANARY, CANARY_BAKE, PROD_BAKE = 10.0, 5, 15

# The linear steps: 25, 50, 75, 100 (no step bake after 100: "LinearConfiguration").
DEV_STEPS = 4
DEV_MINUTES = (DEV_STEPS - 1) * DEV_STEP_BAKE + DEV_BAKE  # 10
PROD_MINUTES = CANARY_BAKE + PROD_BAKE  # 20

# From the push: two source actions and the build, then dev's deploy action starts the update.
DEV_START = 2 * ACTION_MINUTES + BUILD_MINUTES + ACTION_MINUTES
# production-plan (recover, change set, review), the approval, then the release's change set,
# confirm and execute: the update starts.
PROD_START = DEV_START + DEV_MINUTES + 3 * ACTION_MINUTES + APPROVAL_MINUTES + 3 * ACTION_MINUTES


@pytest.fixture(scope="module")
def mocks():
    return run_stack(progressive.STACK).mocks


def _overrides(mocks, stage: str, action: str) -> dict:
    (pipeline,) = [r for r in mocks.resources if r.type == "aws:codepipeline/pipeline:Pipeline"]
    (declared,) = [
        a["configuration"]
        for s in pipeline.inputs["stages"]
        if s["name"] == stage
        for a in s["actions"]
        if a["name"] == action
    ]
    return json.loads(declared["ParameterOverrides"])


def test_the_pipeline_passes_the_fixtures_figures_the_scenarios_count_with(mocks):
    dev = _overrides(mocks, "dev", "Deploy")
    assert {k: dev[k] for k in dev if k.startswith(("Deployment", "Linear"))} == {
        "DeploymentStrategy": "LINEAR",
        "DeploymentAlarmNames": "dev-5xx",
        "DeploymentBakeMinutes": str(DEV_BAKE),
        "LinearStepPercent": str(DEV_STEP),
        "LinearStepBakeMinutes": str(DEV_STEP_BAKE),
    }
    for stage in ("production-plan", "production"):
        production = _overrides(mocks, stage, "CreateChangeSet")
        assert {k: production[k] for k in production if k.startswith(("Deployment", "Canary"))} == {
            "DeploymentStrategy": "CANARY",
            "DeploymentAlarmNames": "prod-5xx,prod-latency",
            "DeploymentBakeMinutes": str(PROD_BAKE),
            "CanaryPercent": str(CANARY),
            "CanaryBakeMinutes": str(CANARY_BAKE),
        }


def test_the_program_passes_its_hook_function_to_production(mocks):
    for stage in ("production-plan", "production"):
        assert _overrides(mocks, stage, "CreateChangeSet")["TestHookFunctionArn"].startswith(
            "arn:aws:lambda:"
        )


def test_a_release_goes_to_dev_step_by_step_then_to_production_as_a_canary(mocks):
    s, pushed = play(mocks)
    try:
        assert s.result().runs == (OK,)
        assert s.result().approvals == 1
        dev, production = s.deployment("dev"), s.deployment("production")
        assert (dev.strategy, dev.started, dev.ended) == (
            "LINEAR",
            pushed + DEV_START,
            pushed + DEV_START + 10,
        )
        assert s.run.traffic("dev")[-4:] == [
            (pushed + DEV_START, {A2: 25.0, A1: 75.0}),
            (pushed + DEV_START + 2, {A2: 50.0, A1: 50.0}),
            (pushed + DEV_START + 4, {A2: 75.0, A1: 25.0}),
            (pushed + DEV_START + 6, {A2: 100.0}),
        ]
        # Production completes when the canary's bake and the final bake are over.
        assert (production.strategy, production.started, production.ended) == (
            "CANARY",
            pushed + PROD_START,
            pushed + PROD_START + 20,
        )
        assert s.run.traffic("production")[-2:] == [
            (pushed + PROD_START, {A2: CANARY, A1: 100 - CANARY}),
            (pushed + PROD_START + CANARY_BAKE, {A2: 100.0}),
        ]
        assert s.result().environments == {
            "dev": ("UPDATE_COMPLETE", f"{A2} v1"),
            "production": ("UPDATE_COMPLETE", f"{A2} v1"),
        }
    finally:
        s.run.close()


def test_a_failing_test_hook_rolls_back_before_users_see_the_release_and_nobody_is_asked_again(mocks):
    s, pushed = play(mocks, hook_fails_for_a2)
    try:
        result = s.result()
        # The release stage fails; its onFailure ROLLBACK starts a rollback execution, whose
        # change set finds production already on A1: the service is not deployed again.
        assert result.runs == (FAILED, ROLLED_BACK)
        assert result.approvals == 1
        assert result.change_sets == 3  # plan, release, and the rollback's empty one
        assert result.environments["production"] == ("UPDATE_ROLLBACK_COMPLETE", f"{A1} v1")
        # dev has no testPaths, so no TestHookFunctionArn: no hook runs there, A2 goes out (S3).
        assert result.environments["dev"] == ("UPDATE_COMPLETE", f"{A2} v1")
        (failed,) = [e for e in s.run.executions if e.status == "Failed"]
        assert failed.stages["production"] == "Failed"
        production = s.deployment("production")
        assert (production.new, production.failed_at, production.ended) == (
            A2,
            pushed + PROD_START,
            pushed + PROD_START,
        )
        assert "POST_TEST_TRAFFIC_SHIFT" in production.failure
        assert [d.stack for d in s.run.deployments if d.started > pushed] == [
            "todobackend-dev",
            "todobackend-prod",
        ]
        # Users of production never had A2.
        assert all(A2 not in shares for _, shares in s.run.traffic("production"))
    finally:
        s.run.close()


def test_an_alarm_during_the_canary_rolls_back_with_users_on_it_only_at_the_canary_share(mocks):
    s, pushed = play(mocks, production_alarm_after(3))
    try:
        result = s.result()
        assert result.runs == (FAILED, ROLLED_BACK)
        assert result.approvals == 1
        assert result.environments["production"] == ("UPDATE_ROLLBACK_COMPLETE", f"{A1} v1")
        assert s.run.traffic("production")[-2:] == [
            (pushed + PROD_START, {A2: CANARY, A1: 100 - CANARY}),
            (pushed + PROD_START + 3, {A1: 100.0}),
        ]
        assert max(shares.get(A2, 0) for _, shares in s.run.traffic("production")) == CANARY
        assert s.deployment("production").failure == "alarm prod-5xx in ALARM"
    finally:
        s.run.close()


def test_an_alarm_during_the_final_bake_rolls_back_after_users_had_all_of_it(mocks):
    s, pushed = play(mocks, production_alarm_after(CANARY_BAKE + 3, alarm="prod-latency"))
    try:
        assert s.result().runs == (FAILED, ROLLED_BACK)
        assert s.run.traffic("production")[-3:] == [
            (pushed + PROD_START, {A2: CANARY, A1: 100 - CANARY}),
            (pushed + PROD_START + CANARY_BAKE, {A2: 100.0}),
            (pushed + PROD_START + CANARY_BAKE + 3, {A1: 100.0}),
        ]
    finally:
        s.run.close()


def test_an_alarm_the_environment_does_not_name_does_not_stop_it(mocks):
    s, _ = play(mocks, production_alarm_after(3, alarm="dev-5xx"))
    try:
        assert s.result().runs == (OK,)
        assert s.result().environments["production"] == ("UPDATE_COMPLETE", f"{A2} v1")
    finally:
        s.run.close()


def test_an_alarm_at_a_given_minute_stops_dev_mid_way_and_production_is_not_reached(mocks):
    def alarm_at_the_second_step(world) -> None:
        # A1's first release takes 45 minutes from minute 0 (dev created, production created
        # through plan, approval and release), so A2 is pushed at 45 (asserted below).
        world.alarm_from["dev-5xx"] = 45 + DEV_START + DEV_STEP_BAKE + 1

    s, pushed = play(mocks, alarm_at_the_second_step)
    try:
        assert pushed == 45
        result = s.result()
        # dev declares no onFailure: the stage and the run fail, nothing rolls back.
        assert result.runs == (FAILED,)
        assert result.approvals == 0
        assert result.environments == {
            "dev": ("UPDATE_ROLLBACK_COMPLETE", f"{A1} v1"),
            "production": ("CREATE_COMPLETE", f"{A1} v1"),
        }
        assert s.run.traffic("dev")[-3:] == [
            (pushed + DEV_START, {A2: 25.0, A1: 75.0}),
            (pushed + DEV_START + 2, {A2: 50.0, A1: 50.0}),
            (pushed + DEV_START + 3, {A1: 100.0}),
        ]
    finally:
        s.run.close()


def test_the_documented_strategy_table_is_what_the_simulator_says(mocks):
    variant = run_config(progressive.variant_config(), stack=progressive.STACK).mocks
    assert progressive.current() == progressive.render(mocks, variant), (
        "docs/operations.md is out of date: run `venv/bin/python -m tests.scenarios.progressive --write`"
    )


def test_each_strategys_formula_gives_the_minutes_the_simulator_waited():
    rows = [line.split(" | ") for line in progressive.current().splitlines()[2:]]
    assert [row[0].strip("| ") for row in rows] == ["rolling", "blue-green", "canary", "linear"]
    assert [(row[3], row[4].strip(" |")) for row in rows] == [
        ("0", "0"),
        ("4", "4"),
        ("20", "20"),
        ("10", "10"),
    ]


# -- the prod example: dev rolling, production a canary (tests/fixtures/stacks/Pulumi.prod.yaml) --
# canaryBakeMinutes + bakeMinutes
PROD_EXAMPLE_CANARY_MINUTES = 15 + 15


def _play_prod_example(setup=None):
    scenario = progressive.ProgressiveScenario(run_stack("prod").mocks)
    scenario.release()
    if setup is not None:
        setup(scenario.world)
    scenario.mark()
    scenario.release(app=app(2))
    return scenario.result(), scenario


def _deployments(scenario) -> list[tuple]:
    return [(d.stack, d.strategy, d.ended - d.started, d.failure) for d in scenario.run.deployments]


def test_the_prod_example_waits_for_its_canary_and_bake_and_updates_dev_in_place():
    result, scenario = _play_prod_example()
    try:
        assert result == Result(
            1,
            2,
            1,
            1,
            (OK,),
            {"dev": ("UPDATE_COMPLETE", f"{A2} v1"), "production": ("UPDATE_COMPLETE", f"{A2} v1")},
        )
        # dev is ROLLING: no deployment to wait for; its users move to A2 at once.
        assert _deployments(scenario) == [("todobackend-prod", "CANARY", PROD_EXAMPLE_CANARY_MINUTES, None)]
        assert list(scenario.run.traffic("dev")[-1][1]) == [A2]
    finally:
        scenario.run.close()


def test_the_prod_examples_failing_test_is_rolled_back_by_ecs_once_and_not_asked_again():
    result, scenario = _play_prod_example(hook_fails_for_a2)
    try:
        # ECS rolls the service back; the stack update fails and rolls back; the stage's
        # onFailure ROLLBACK finds the stack already at the last release: its change set has no
        # changes, nothing is deployed, no approval is asked.
        assert result == Result(
            1,
            3,
            1,
            1,
            (FAILED, ROLLED_BACK),
            {"dev": ("UPDATE_COMPLETE", f"{A2} v1"), "production": ("UPDATE_ROLLBACK_COMPLETE", f"{A1} v1")},
        )
        # Before production traffic moved: no bake waited.
        assert _deployments(scenario) == [
            ("todobackend-prod", "CANARY", 0, "the lifecycle hook at POST_TEST_TRAFFIC_SHIFT answered FAILED")
        ]
    finally:
        scenario.run.close()


def test_the_prod_examples_alarm_during_the_bake_rolls_back_after_users_had_all_of_it():
    def alarm(world) -> None:
        world.deployment_alarm_after = lambda name, stack, image: (
            15 + 5
            if (name, stack, image) == ("todobackend-prod-target-5xx", "todobackend-prod", A2)
            else None
        )

    result, scenario = _play_prod_example(alarm)
    try:
        assert result.runs == (FAILED, ROLLED_BACK)
        assert result.environments["production"] == ("UPDATE_ROLLBACK_COMPLETE", f"{A1} v1")
        assert result.approvals == 1
        assert _deployments(scenario) == [
            ("todobackend-prod", "CANARY", 15 + 5, "alarm todobackend-prod-target-5xx in ALARM")
        ]
        assert [shares for _, shares in scenario.run.traffic("production")][-3:] == [
            {A2: 10.0, A1: 90.0},
            {A2: 100.0},
            {A1: 100.0},
        ]
    finally:
        scenario.run.close()


def test_cloudformation_waits_for_the_prod_examples_canary_and_its_bake(monkeypatch):
    # The same run with every update completing at once (no S1) ends exactly the canary's
    # minutes earlier on the simulated clock: production's update waited for them.
    _, waiting = _play_prod_example()
    monkeypatch.setattr(PipelineRun, "_start_deployment", lambda self, *args: False)
    _, not_waiting = _play_prod_example()
    try:
        assert waiting.run.now - not_waiting.run.now == PROD_EXAMPLE_CANARY_MINUTES
    finally:
        waiting.run.close()
        not_waiting.run.close()
