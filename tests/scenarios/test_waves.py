"""A wave, by scenario, through the pipeline-run simulator on the waves fixture
(tests/fixtures/stacks/Pulumi.waves.yaml: ungated dev, then the wave `production` of the gated
prod-eu and prod-us, onFailure ROLLBACK).

A wave is one plan stage, one approval and one release stage (docs/waves.md): the approver is
asked once and sees both members' summaries; a rejection stops both; when one member's execute
fails, the other's beside it runs to its end, nothing after them starts, and the stage's
rollback runs every member's release again with the last successful execution's artifacts, so
both return to the last release. The expectations are literals worked out from those rules
(the simulator's P4, P8, W1, W2) and the review's summary format.
"""

from __future__ import annotations

import dataclasses

import pytest

from tests.conftest import run_stack, shared_scope
from tests.scenarios.scenarios import Result, Scenario, app, tag
from tests.support.pipeline_run import ActionRun, Template

WAVES = "waves"
OK = ("STANDARD", "Succeeded")
FAILED = ("STANDARD", "Failed")
ROLLED_BACK = ("ROLLBACK", "Succeeded")
A1, A2 = tag(1), tag(2)
COMMIT_1 = app(1)


@pytest.fixture(scope=shared_scope)
def waves():
    return run_stack(WAVES).mocks


@pytest.fixture
def scenario(waves):
    played = Scenario(waves)
    played.release()
    played.mark()
    yield played
    played.run.close()


def at(version: str, status: str = "UPDATE_COMPLETE") -> tuple[str, str]:
    return (status, version)


def created(version: str) -> tuple[str, str]:
    return ("CREATE_COMPLETE", version)


def ran(scenario: Scenario, execution: int, stage: str) -> list[tuple[str, bool]]:
    """(action, succeeded) of each action the `execution`-th run ran in `stage`, in order."""
    run = scenario.run.executions[execution]
    return [
        (entry.action["name"], entry.succeeded)
        for entry in scenario.run.timeline
        if isinstance(entry, ActionRun) and entry.execution is run and entry.stage == stage
    ]


RELEASED = [
    ("prod-eu-CreateChangeSet", True),
    ("prod-us-CreateChangeSet", True),
    ("prod-eu-ConfirmChangeSet", True),
    ("prod-us-ConfirmChangeSet", True),
    ("prod-eu-ExecuteChangeSet", True),
    ("prod-us-ExecuteChangeSet", True),
    ("prod-eu-RecordRelease", True),
    ("prod-eu-Verify", True),
    ("prod-us-RecordRelease", True),
]


def test_first_release_asks_once_for_the_wave_and_shows_both_members(waves):
    played = Scenario(waves)
    try:
        played.mark()
        played.release()
        # Two change sets per member (plan and release), a review per member, one approval.
        assert played.result() == Result(
            1,
            4,
            2,
            1,
            (OK,),
            {"dev": created(f"{A1} v1"), "prod-eu": created(f"{A1} v1"), "prod-us": created(f"{A1} v1")},
        )
        (request,) = played.run.approvals
        assert request.stage == "production-approval"
        assert request.summary == (
            "wave production: prod-eu: 3 changes — 0 replacements, 0 removals; image tag (none) → "
            f"{A1} | prod-us: 3 changes — 0 replacements, 0 removals; image tag (none) → {A1} | "
            f"commit {COMMIT_1}"
        )
        assert ran(played, 0, "production") == RELEASED
        # Each member's release is recorded under its own name, by the one approval.
        assert sorted(environment for environment, _ in played.run.records) == ["prod-eu", "prod-us"]
    finally:
        played.run.close()


def test_an_app_change_releases_both_members_with_one_approval(scenario):
    scenario.release(app=app(2))
    assert scenario.result() == Result(
        1,
        4,
        2,
        1,
        (OK,),
        {"dev": at(f"{A2} v1"), "prod-eu": at(f"{A2} v1"), "prod-us": at(f"{A2} v1")},
    )
    # Two changes each: the tag's (the task definition, replaced) and the digest's (the service).
    request = scenario.run.approvals[-1]
    assert request.summary == (
        "wave production: prod-eu: 2 changes — 1 replacement (ApplicationTaskDefinition), 0 removals; "
        f"image tag {A1} → {A2} | prod-us: 2 changes — 1 replacement (ApplicationTaskDefinition), "
        f"0 removals; image tag {A1} → {A2} | commit {app(2)}"
    )


def test_a_rejected_approval_releases_no_member(scenario):
    scenario.world.decide = lambda request: ("Rejected", 30)
    scenario.release(app=app(2))
    # Both members planned and reviewed; nothing of the wave's release stage ran.
    assert scenario.result() == Result(
        1,
        2,
        2,
        1,
        (FAILED,),
        {"dev": at(f"{A2} v1"), "prod-eu": created(f"{A1} v1"), "prod-us": created(f"{A1} v1")},
    )
    assert ran(scenario, 1, "production") == []
    assert scenario.run.executions[1].stages["production-approval"] == "Failed"


def test_one_members_failed_execute_rolls_the_whole_wave_back(scenario):
    """v2 fails in prod-us's stack only. prod-eu's execute, beside it, runs and takes v2; no
    record or verify starts (run order 4); the stage fails and its rollback runs both members'
    release with the first run's artifacts: prod-eu returns to v1 (a recorded release, so its
    confirm lets it through without an approval), prod-us, which CloudFormation already rolled
    back, gets an empty change set and stays as it is."""
    scenario.release(
        infra=scenario.infra(
            "2" * 40, Template("v2", fails_in=frozenset({"todobackend-prod-us"})), scenario.mocks
        )
    )
    # 2 plan + 2 release change sets in the failed run, 2 more in the rollback.
    assert scenario.result() == Result(
        0,
        6,
        2,
        1,
        (FAILED, ROLLED_BACK),
        {
            "dev": at(f"{A1} v2"),
            "prod-eu": at(f"{A1} v1"),
            "prod-us": at(f"{A1} v1", "UPDATE_ROLLBACK_COMPLETE"),
        },
    )
    assert ran(scenario, 1, "production") == [
        ("prod-eu-CreateChangeSet", True),
        ("prod-us-CreateChangeSet", True),
        ("prod-eu-ConfirmChangeSet", True),
        ("prod-us-ConfirmChangeSet", True),
        ("prod-eu-ExecuteChangeSet", True),
        ("prod-us-ExecuteChangeSet", False),
    ]
    # The rollback: every member's release again, nothing asked.
    assert ran(scenario, 2, "production") == RELEASED
    assert len(scenario.run.approvals) == 2
    first, _, rollback = scenario.run.executions
    assert rollback.target == first.id
    assert sorted(scenario.run.records) == sorted(
        (member, execution.id) for member in ("prod-eu", "prod-us") for execution in (first, rollback)
    )


def test_a_member_without_changes_goes_through_its_release_as_a_no_op(scenario):
    """Only prod-eu's own parameters change (its template configuration file): the wave is
    approved once, prod-eu is updated, and prod-us, whose change set is empty, runs its release
    all the same (a stage cannot skip some of its actions): confirmed, executed as a no-op,
    recorded again."""
    commit = scenario.infra("2" * 40, Template("v1"), scenario.mocks)
    files = {**commit.files, "prod-eu.json": {**commit.files["prod-eu.json"], "ApplicationDesiredCount": "3"}}
    scenario.release(infra=dataclasses.replace(commit, files=files))
    assert scenario.result() == Result(
        0,
        4,
        2,
        1,
        (OK,),
        {"dev": created(f"{A1} v1"), "prod-eu": at(f"{A1} v1"), "prod-us": created(f"{A1} v1")},
    )
    assert scenario.run.approvals[-1].summary == (
        "wave production: prod-eu: 1 change — 0 replacements, 0 removals | "
        f"prod-us: no changes to stack todobackend-prod-us | commit {COMMIT_1}"
    )
    assert scenario.world.stacks["todobackend-prod-eu"].parameters["ApplicationDesiredCount"] == "3"
    assert "ApplicationDesiredCount" not in scenario.world.stacks["todobackend-prod-us"].parameters
    assert ran(scenario, 1, "production") == RELEASED


def test_a_wave_with_no_changes_asks_nobody(scenario):
    scenario.release()
    # The plan finds nothing in either member: WAVE_CHANGE_COUNT is 0, approval and release skip.
    assert scenario.result() == Result(
        0,
        2,
        2,
        0,
        (OK,),
        {"dev": created(f"{A1} v1"), "prod-eu": created(f"{A1} v1"), "prod-us": created(f"{A1} v1")},
    )
    stages = scenario.run.executions[1].stages
    assert (stages["production-approval"], stages["production"]) == ("Skipped", "Skipped")
