"""Progressive delivery in the pipeline-run simulator (E27 in tests/support/pipeline_run.py):
the prod example's production takes each release as a canary (10% for 15 minutes, then 15
minutes of bake), tested on the test listener first, and ECS rolls it back when the test or its
alarm fails; dev takes it as a rolling update. Expected values written out from the prod
fixture's `deployment` keys (tests/fixtures/stacks/Pulumi.prod.yaml)."""

from __future__ import annotations

from tests.conftest import run_stack
from tests.scenarios.scenarios import Result, Scenario, app, tag
from tests.support.pipeline_run import PipelineRun

OK = ("STANDARD", "Succeeded")
FAILED = ("STANDARD", "Failed")
ROLLED_BACK = ("ROLLBACK", "Succeeded")
A1, A2 = tag(1), tag(2)
# The canary's bake and the bake after it (canaryBakeMinutes + bakeMinutes).
CANARY_MINUTES = 15 + 15


def _play(fails=None) -> tuple[Result, Scenario]:
    scenario = Scenario(run_stack("prod").mocks)
    scenario.release()
    if fails is not None:
        scenario.world.ecs_deployment_fails = fails
    scenario.mark()
    scenario.run.ecs_deployments.clear()
    scenario.release(app=app(2))
    return scenario.result(), scenario


def _for_the_new_release(kind: str, what: str):
    def fails(stack: str, parameters) -> tuple[str, str] | None:
        new = parameters.get("ApplicationImageTag") == tag(2)
        return (kind, what) if stack == "todobackend-prod" and new else None

    return fails


def test_a_canary_release_waits_for_its_steps_and_bake():
    result, scenario = _play()
    try:
        assert result == Result(
            1,
            2,
            1,
            1,
            (OK,),
            {"dev": ("UPDATE_COMPLETE", f"{A2} v1"), "production": ("UPDATE_COMPLETE", f"{A2} v1")},
        )
        assert scenario.run.ecs_deployments == [
            ("todobackend-dev", "ROLLING", 0, None),
            ("todobackend-prod", "CANARY", CANARY_MINUTES, None),
        ]
        assert scenario.run.counts.ecs_rollbacks == 0
    finally:
        scenario.run.close()


def test_a_failing_test_on_the_test_listener_is_rolled_back_by_ecs_once_and_not_asked_again():
    result, scenario = _play(_for_the_new_release("hook", "/todos answered 500"))
    try:
        # ECS rolls the service back; the stack update fails and rolls back; the stage's
        # onFailure ROLLBACK finds the stack already at the last release: its change set has no
        # changes, nothing is executed, no approval is asked.
        assert result == Result(
            1,
            3,
            1,
            1,
            (FAILED, ROLLED_BACK),
            {"dev": ("UPDATE_COMPLETE", f"{A2} v1"), "production": ("UPDATE_ROLLBACK_COMPLETE", f"{A1} v1")},
        )
        assert scenario.run.ecs_deployments == [
            ("todobackend-dev", "ROLLING", 0, None),
            # Before production traffic moved: no bake waited.
            ("todobackend-prod", "CANARY", 0, "hook: /todos answered 500"),
        ]
        assert scenario.run.counts.ecs_rollbacks == 1
    finally:
        scenario.run.close()


def test_an_alarm_during_the_bake_rolls_back_after_the_wait():
    result, scenario = _play(_for_the_new_release("alarm", "todobackend-prod-target-5xx"))
    try:
        assert result.runs == (FAILED, ROLLED_BACK)
        assert result.environments["production"] == ("UPDATE_ROLLBACK_COMPLETE", f"{A1} v1")
        assert result.approvals == 1
        assert scenario.run.ecs_deployments[-1] == (
            "todobackend-prod",
            "CANARY",
            CANARY_MINUTES,
            "alarm: todobackend-prod-target-5xx",
        )
        assert scenario.run.counts.ecs_rollbacks == 1
    finally:
        scenario.run.close()


def test_cloudformation_waits_for_the_canary_and_its_bake(monkeypatch):
    # The same run without E27 (no ECS deployment inside the update) ends exactly the canary's
    # minutes earlier on the simulated clock: the production update waited for them.
    _, waiting = _play()
    monkeypatch.setattr(PipelineRun, "_ecs_deployment", lambda self, stack, parameters: None)
    _, not_waiting = _play()
    try:
        assert waiting.run.now - not_waiting.run.now == CANARY_MINUTES
    finally:
        waiting.run.close()
        not_waiting.run.close()
