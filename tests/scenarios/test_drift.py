"""The drift-check gate, by scenario, through the pipeline-run simulator on the four-environment
fixture (tests/fixtures/stacks: qa has `driftCheck: warn`, production `driftCheck: block`).

Someone changes production's service in the console (its desired count, D1), and the next
release comes. With `block`, production's plan stage stops at CheckDrift: nobody is asked to
approve, the stack keeps what it runs (and the change made outside), and qa, before it, releases
as usual. With `warn` (qa), the approval's summary carries the drift. The expectations are
literals, from check-drift's summary format and the stage shapes docs/drift.md describes.
"""

from __future__ import annotations

import pytest

from tests.conftest import FOUR_ENVIRONMENTS, run_stack, shared_scope
from tests.scenarios.scenarios import Result, Scenario, app, tag

OK = ("STANDARD", "Succeeded")
FAILED = ("STANDARD", "Failed")
A1, A2 = tag(1), tag(2)
DESIRED_COUNT = {
    "LogicalResourceId": "Service",
    "ResourceType": "AWS::ECS::Service",
    "StackResourceDriftStatus": "MODIFIED",
    "PropertyDifferences": [
        {
            "PropertyPath": "/DesiredCount",
            "ExpectedValue": "2",
            "ActualValue": "5",
            "DifferenceType": "NOT_EQUAL",
        }
    ],
}


@pytest.fixture(scope=shared_scope)
def four():
    return run_stack(FOUR_ENVIRONMENTS).mocks


@pytest.fixture
def scenario(four):
    played = Scenario(four)
    yield played
    played.run.close()


def approval_summaries(s: Scenario, stage: str) -> list[str]:
    return [request.summary for request in s.run.approvals if request.stage == stage]


def test_a_first_release_has_nothing_to_check_and_goes_through(scenario):
    scenario.mark()
    scenario.release()
    result = scenario.result()
    assert result.runs == (OK,)
    assert result.approvals == 2
    (summary,) = approval_summaries(scenario, "production-approval")
    # The check runs beside the plan's change set, which may have created the stack (waiting in
    # REVIEW_IN_PROGRESS) before the check reads it: either way nothing is deployed yet.
    assert (
        "; drift: no stack yet: nothing deployed can have drifted" in summary
        or "; drift: the stack holds only a change set (REVIEW_IN_PROGRESS): nothing can have drifted"
        in summary
    )


def test_drift_in_production_stops_its_plan_before_anyone_is_asked(scenario):
    scenario.release()
    scenario.world.drifts["todobackend-prod"] = [DESIRED_COUNT]
    scenario.mark()
    scenario.release(app=app(2))
    assert scenario.result() == Result(
        1,
        # qa's two change sets, production's plan one (created beside the check).
        3,
        1,
        1,
        (FAILED,),
        {
            "dev": ("UPDATE_COMPLETE", f"{A2} v1"),
            "staging": ("UPDATE_COMPLETE", f"{A2} v1"),
            "qa": ("UPDATE_COMPLETE", f"{A2} v1"),
            "production": ("CREATE_COMPLETE", f"{A1} v1"),
        },
    )
    assert scenario.run.executions[-1].stages["production-plan"] == "Failed"
    assert "production-approval" not in scenario.run.executions[-1].stages


def test_drift_in_qa_is_shown_to_its_approver_and_the_release_goes_on(scenario):
    scenario.release()
    scenario.world.drifts["todobackend-qa"] = [DESIRED_COUNT]
    scenario.mark()
    scenario.release(app=app(2))
    result = scenario.result()
    assert result.runs == (OK,)
    assert result.environments["qa"] == ("UPDATE_COMPLETE", f"{A2} v1")
    (_, summary) = approval_summaries(scenario, "qa-approval")
    assert summary.startswith("qa: 2 changes — ")
    assert "; drift: 1 drifted: Service MODIFIED (/DesiredCount) | " in summary
    (_, production) = approval_summaries(scenario, "production-approval")
    assert "; drift: in sync: no resource drifted | " in production


def test_once_the_drift_is_resolved_production_releases_again(scenario):
    scenario.release()
    scenario.world.drifts["todobackend-prod"] = [DESIRED_COUNT]
    scenario.release(app=app(2))
    # Brought into the template, or undone: detection finds nothing.
    scenario.world.drifts["todobackend-prod"] = []
    scenario.mark()
    scenario.release(app=app(2))
    result = scenario.result()
    assert result.runs == (OK,)
    assert result.environments["production"] == ("UPDATE_COMPLETE", f"{A2} v1")


def test_a_change_made_while_the_approval_waits_stops_the_release_and_its_rollback(scenario):
    scenario.release()

    def approve_after_someone_changes_production(request):
        # While the approver reads a review that said "in sync", someone changes the service.
        if request.stage == "production-approval":
            scenario.world.drifts["todobackend-prod"] = [DESIRED_COUNT]
        return ("Approved", 30)

    scenario.world.decide = approve_after_someone_changes_production
    scenario.mark()
    scenario.release(app=app(2))
    result = scenario.result()
    # block checks again before the execute: production's release stage fails, its rollback
    # (onFailure: ROLLBACK) runs the same check and fails too; nothing was executed.
    assert result.runs == (FAILED, ("ROLLBACK", "Failed"))
    assert result.environments["production"] == ("CREATE_COMPLETE", f"{A1} v1")
    assert result.environments["qa"] == ("UPDATE_COMPLETE", f"{A2} v1")
    (summary,) = [s for s in approval_summaries(scenario, "production-approval") if A2 in s]
    assert "; drift: in sync: no resource drifted | " in summary
