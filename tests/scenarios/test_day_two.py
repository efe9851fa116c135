"""Day two, by scenario: what each kind of run costs and where it leaves each environment,
for the dev and prod example stacks and the four-environment fixture (their copies in
tests/fixtures/stacks), run through the pipeline-run simulator (tests/support/pipeline_run.py).

The expected numbers are written out here, worked out from the stage shapes the README and
docs/operations.md describe; the simulator follows CodePipeline's and CloudFormation's
documented behaviour, and runs the application's buildspec, the review and the recovery for
real against stubs.
"""

from __future__ import annotations

import pytest

from tests.conftest import FOUR_ENVIRONMENTS, run_stack
from tests.scenarios.scenarios import SCENARIOS, Result, play, tag

OK = ("STANDARD", "Succeeded")
FAILED = ("STANDARD", "Failed")
ROLLED_BACK = ("ROLLBACK", "Succeeded")
A1, A2, A3 = tag(1), tag(2), tag(3)


def at(version: str, status: str = "UPDATE_COMPLETE") -> tuple[str, str]:
    return (status, version)


def created(version: str) -> tuple[str, str]:
    return ("CREATE_COMPLETE", version)


EXPECTED: dict[str, dict[str, Result]] = {
    "dev": {
        "first release": Result(1, 0, 0, 0, (OK,), {"sandbox": created(f"{A1} v1")}),
        "app change": Result(1, 0, 0, 0, (OK,), {"sandbox": at(f"{A2} v1")}),
        # The image of this commit is in the registry: nothing is built.
        "infrastructure-only change": Result(0, 0, 0, 0, (OK,), {"sandbox": at(f"{A1} v2")}),
        "re-run with nothing new": Result(0, 0, 0, 0, (OK,), {"sandbox": created(f"{A1} v1")}),
        # Nothing to approve: the change goes out.
        "rejected approval": Result(1, 0, 0, 0, (OK,), {"sandbox": at(f"{A2} v1")}),
        # No onFailure: CloudFormation's own rollback leaves the stack as it was.
        "failed execute, then rollback": Result(
            0, 0, 0, 0, (FAILED,), {"sandbox": at(f"{A1} v1", "UPDATE_ROLLBACK_COMPLETE")}
        ),
        "failed verify": Result(1, 0, 0, 0, (OK,), {"sandbox": at(f"{A2} v1")}),
        "alarm during bake": Result(1, 0, 0, 0, (OK,), {"sandbox": at(f"{A2} v1")}),
        "push outside the window": Result(1, 0, 0, 0, (OK,), {"sandbox": at(f"{A2} v1")}),
        "two pushes in quick succession": Result(2, 0, 0, 0, (OK, OK), {"sandbox": at(f"{A3} v1")}),
        # REPLACE_ON_FAILURE deletes the stack its first create left in ROLLBACK_COMPLETE.
        "failed first create, then fixed": Result(0, 0, 0, 0, (OK,), {"sandbox": created(f"{A1} v2")}),
        "failed first create in the last environment, then fixed": Result(
            0, 0, 0, 0, (OK,), {"sandbox": created(f"{A1} v2")}
        ),
    },
    "prod": {
        # Gated: the plan's change set and the release's, one review, one approval.
        "first release": Result(
            1, 2, 1, 1, (OK,), {"dev": created(f"{A1} v1"), "production": created(f"{A1} v1")}
        ),
        "app change": Result(1, 2, 1, 1, (OK,), {"dev": at(f"{A2} v1"), "production": at(f"{A2} v1")}),
        "infrastructure-only change": Result(
            0, 2, 1, 1, (OK,), {"dev": at(f"{A1} v2"), "production": at(f"{A1} v2")}
        ),
        # The plan finds nothing to change: approval and release are skipped.
        "re-run with nothing new": Result(
            0, 1, 1, 0, (OK,), {"dev": created(f"{A1} v1"), "production": created(f"{A1} v1")}
        ),
        # The run ends at the rejection: no rollback, no second request.
        "rejected approval": Result(
            1, 1, 1, 1, (FAILED,), {"dev": at(f"{A2} v1"), "production": created(f"{A1} v1")}
        ),
        # Production's update fails; the rollback returns to the last release without asking
        # (its change set is empty: CloudFormation already rolled the stack back).
        "failed execute, then rollback": Result(
            0,
            3,
            1,
            1,
            (FAILED, ROLLED_BACK),
            {"dev": at(f"{A1} v2"), "production": at(f"{A1} v1", "UPDATE_ROLLBACK_COMPLETE")},
        ),
        "failed verify": Result(
            1, 3, 1, 1, (FAILED, ROLLED_BACK), {"dev": at(f"{A2} v1"), "production": at(f"{A1} v1")}
        ),
        # The prod example watches no alarm.
        "alarm during bake": Result(1, 2, 1, 1, (OK,), {"dev": at(f"{A2} v1"), "production": at(f"{A2} v1")}),
        # The run fails at production-plan's entry: production is not planned, nobody is asked.
        "push outside the window": Result(
            1, 0, 0, 0, (FAILED,), {"dev": at(f"{A2} v1"), "production": created(f"{A1} v1")}
        ),
        # The second release is planned while the first waits for its approval; its own
        # release then finds the same changes against the moved stack and confirms them.
        "two pushes in quick succession": Result(
            2, 4, 2, 2, (OK, OK), {"dev": at(f"{A3} v1"), "production": at(f"{A3} v1")}
        ),
        "failed first create, then fixed": Result(
            0, 2, 1, 1, (OK,), {"dev": created(f"{A1} v2"), "production": created(f"{A1} v2")}
        ),
        # RecoverStack deletes production's ROLLBACK_COMPLETE stack; the plan creates it again.
        "failed first create in the last environment, then fixed": Result(
            0, 2, 1, 1, (OK,), {"dev": at(f"{A1} v2"), "production": created(f"{A1} v2")}
        ),
    },
    FOUR_ENVIRONMENTS: {
        "first release": Result(
            1, 4, 2, 2, (OK,), {e: created(f"{A1} v1") for e in ("dev", "qa", "staging", "production")}
        ),
        "app change": Result(
            1, 4, 2, 2, (OK,), {e: at(f"{A2} v1") for e in ("dev", "qa", "staging", "production")}
        ),
        "infrastructure-only change": Result(
            0, 4, 2, 2, (OK,), {e: at(f"{A1} v2") for e in ("dev", "qa", "staging", "production")}
        ),
        "re-run with nothing new": Result(
            0, 2, 2, 0, (OK,), {e: created(f"{A1} v1") for e in ("dev", "qa", "staging", "production")}
        ),
        # qa's approver rejects: staging, before qa, has the change; production is not reached.
        "rejected approval": Result(
            1,
            1,
            1,
            1,
            (FAILED,),
            {
                "dev": at(f"{A2} v1"),
                "staging": at(f"{A2} v1"),
                "qa": created(f"{A1} v1"),
                "production": created(f"{A1} v1"),
            },
        ),
        "failed execute, then rollback": Result(
            0,
            5,
            2,
            2,
            (FAILED, ROLLED_BACK),
            {
                "dev": at(f"{A1} v2"),
                "qa": at(f"{A1} v2"),
                "staging": at(f"{A1} v2"),
                "production": at(f"{A1} v1", "UPDATE_ROLLBACK_COMPLETE"),
            },
        ),
        "failed verify": Result(
            1,
            5,
            2,
            2,
            (FAILED, ROLLED_BACK),
            {
                "dev": at(f"{A2} v1"),
                "qa": at(f"{A2} v1"),
                "staging": at(f"{A2} v1"),
                "production": at(f"{A1} v1"),
            },
        ),
        # staging's alarms go off in its bake: it rolls back, and the run stops there, before
        # qa is planned.
        "alarm during bake": Result(
            1,
            0,
            0,
            0,
            (FAILED, ROLLED_BACK),
            {
                "dev": at(f"{A2} v1"),
                "staging": at(f"{A1} v1"),
                "qa": created(f"{A1} v1"),
                "production": created(f"{A1} v1"),
            },
        ),
        # qa has a window too: the run stops at qa-plan, after staging.
        "push outside the window": Result(
            1,
            0,
            0,
            0,
            (FAILED,),
            {
                "dev": at(f"{A2} v1"),
                "staging": at(f"{A2} v1"),
                "qa": created(f"{A1} v1"),
                "production": created(f"{A1} v1"),
            },
        ),
        "two pushes in quick succession": Result(
            2, 8, 4, 4, (OK, OK), {e: at(f"{A3} v1") for e in ("dev", "qa", "staging", "production")}
        ),
        "failed first create, then fixed": Result(
            0, 4, 2, 2, (OK,), {e: created(f"{A1} v2") for e in ("dev", "qa", "staging", "production")}
        ),
        "failed first create in the last environment, then fixed": Result(
            0,
            4,
            2,
            2,
            (OK,),
            {
                "dev": at(f"{A1} v2"),
                "qa": at(f"{A1} v2"),
                "staging": at(f"{A1} v2"),
                "production": created(f"{A1} v2"),
            },
        ),
    },
}


def test_every_scenario_has_an_expectation_for_every_stack():
    for stack, expected in EXPECTED.items():
        assert list(expected) == list(SCENARIOS), stack


@pytest.mark.parametrize("stack", list(EXPECTED))
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_scenario(stack, scenario):
    assert play(run_stack(stack).mocks, scenario) == EXPECTED[stack][scenario]


# -- the acceptance, said once more in its own words ----------------------------------------
def test_an_infrastructure_only_change_builds_no_image():
    for stack in EXPECTED:
        assert play(run_stack(stack).mocks, "infrastructure-only change").image_builds == 0, stack


def test_a_rerun_with_nothing_new_asks_nobody_and_skips_production():
    result = play(run_stack("prod").mocks, "re-run with nothing new")
    assert result.approvals == 0
    from tests.scenarios.scenarios import Scenario

    scenario = Scenario(run_stack("prod").mocks)
    SCENARIOS["re-run with nothing new"](scenario)
    last = scenario.run.executions[-1]
    assert (last.stages["production-approval"], last.stages["production"]) == ("Skipped", "Skipped")
    scenario.run.close()


def test_a_rejected_approval_asks_no_one_again_in_that_run():
    from tests.scenarios.scenarios import Scenario

    scenario = Scenario(run_stack("prod").mocks)
    SCENARIOS["rejected approval"](scenario)
    rejected_run = scenario.run.executions[-1]
    asked = [a for a in scenario.run.approvals if a.execution == rejected_run.id]
    assert len(asked) == 1
    assert len(scenario.run.executions) == 2  # the first release and the rejected one: no rollback
    scenario.run.close()


def test_an_app_change_asks_one_review_and_one_approval_per_gated_environment():
    for stack, gated in (("prod", 1), (FOUR_ENVIRONMENTS, 2)):
        result = play(run_stack(stack).mocks, "app change")
        assert (result.reviews, result.approvals) == (gated, gated), stack
