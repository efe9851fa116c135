"""Fewer round trips where they buy nothing (issue 28): what the gated path merged, held by the
day-two scenarios. docs/operations.md, "Why each step is there", argues each step kept or
merged; these tests hold the one merge made: the release's record and its smoke test run side
by side (one run order) instead of one after the other, and every protection they gave
sequentially still holds."""

from __future__ import annotations

from tests.conftest import actions_of, run_stack
from tests.scenarios.scenarios import SCENARIOS, Scenario, app, tag
from tests.support.pipeline_run import ActionFailed


def release_actions(stack: str, environment: str) -> dict[str, int]:
    return {a["name"]: int(a.get("runOrder", 1)) for a in actions_of(run_stack(stack).mocks, environment)}


def test_the_record_and_the_smoke_test_share_the_run_order_after_the_execute():
    for stack, environment in (("prod", "production"), ("four-environments", "production")):
        orders = release_actions(stack, environment)
        assert orders["RecordRelease"] == orders["Verify"] == orders["ExecuteChangeSet"] + 1, (stack, orders)
        # Nothing runs after them: the release stage is one round trip shorter.
        assert max(orders.values()) == orders["Verify"]


def test_a_failed_smoke_test_still_leaves_the_release_recorded_and_rolls_it_back():
    scenario = Scenario(run_stack("prod").mocks)
    try:
        SCENARIOS["failed verify"](scenario)
        failed, rollback = scenario.run.executions[-2:]
        assert (failed.stages["production"], rollback.type, rollback.status) == (
            "Failed",
            "ROLLBACK",
            "Succeeded",
        )
        # The record ran beside the failing smoke test, as it ran before it when they were in
        # sequence: the release that failed is on record, and the rollback (which confirms
        # against the record of the release it returns to) brought back the earlier one.
        recorded = {
            executed for (environment, executed) in scenario.run.records if environment == "production"
        }
        assert failed.id in recorded
        assert rollback.target in recorded
        assert scenario.run.environments()["production"][1].startswith(tag(1))
    finally:
        scenario.run.close()


def test_a_record_that_cannot_be_written_fails_the_stage_though_the_smoke_test_passed():
    """A release without a record could not be rolled back to (docs/operations.md): the stage
    fails and rolls back as it did when the record ran first, and the smoke test beside it ran
    to its end (CodePipeline starts the actions of one run order together)."""
    scenario = Scenario(run_stack("prod").mocks)
    verified: list[tuple[str, str]] = []
    original_verify, original_record = scenario.run._verify, scenario.run._record

    def verify(environment):
        verified.append((environment["ENVIRONMENT"], scenario.run.executions[-1].id))
        return original_verify(environment)

    def record(environment, buildspec):
        # The new release's record fails; the rollback's (a new execution) is written.
        current = scenario.run.executions[-1]
        if current.type == "STANDARD" and current.id != first_id:
            raise ActionFailed("the record table refused the write")
        return original_record(environment, buildspec)

    try:
        scenario.release()
        first_id = scenario.run.executions[-1].id
        scenario.run._verify, scenario.run._record = verify, record
        verified.clear()
        scenario.release(app=app(2))
        failed = next(e for e in scenario.run.executions if e.type == "STANDARD" and e.id != first_id)
        assert failed.stages["production"] == "Failed"
        # The failed release's own smoke test ran (not only the rollback's).
        assert ("production", failed.id) in verified
        rollbacks = [e for e in scenario.run.executions if e.type == "ROLLBACK"]
        assert [(r.rollback_of, r.target) for r in rollbacks] == [("production", first_id)]
    finally:
        scenario.run._verify, scenario.run._record = original_verify, original_record
        scenario.run.close()
