"""The release-time model (tests/support/durations.py, rules T1-T6 of the simulator) on the
prod example and the four-environment fixture: which steps a simple release's critical path
holds, and what they cost. The expected totals are worked out here by hand from the figures'
values as durations.py cites them (written out as literals, not read from the module):

    CodePipeline action 1 s, source fetch 5 s, EC2 provisioning 10 s, Lambda start 2 s,
    image pull 30 s per GB, build phases 3 s, AWS CLI call 1 s each, change set creation 10 s,
    CloudFormation polling 30 s (a wait loses half: 15 s).

The AWS CLI calls are those the real scripts make against the stubs in the simulator: the
recovery check 1 (describe-stacks), the review 5, the confirm 4, the recorder 5.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import FOUR_ENVIRONMENTS, run_stack, shared_scope
from tests.scenarios import release_time
from tests.scenarios.scenarios import Scenario
from tests.support.durations import Model, Part
from tests.support.pipeline_run import ActionRun, Execution

BUILD_IMAGE_GB = 1.15  # docs/build-image.md
TOOLS_IMAGE_GB = 0.35
TOOLS_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/todobackend/tools@sha256:" + "1" * 64

# One action on CodeBuild's EC2 compute with the build image: action, provisioning, pull, phases.
EC2_WITH_BUILD_IMAGE = 1 + 10 + 1.15 * 30 + 3  # 48.5
# The same on Lambda compute with the tools image.
LAMBDA_WITH_TOOLS_IMAGE = 1 + 2 + 0.35 * 30 + 3  # 16.5
CHANGE_SET = 1 + 10 + 15  # 26
EXECUTE = 1 + 15  # 16: the stack's update itself is the application's
APPROVE = 1  # the approver's answer is excluded

PROD_PATH = {
    "commit": ["Source/Application", "Build/Build"],
    "dev": ["dev/Deploy", "dev/Verify"],
    "production": [
        "production-plan/RecoverStack",
        "production-plan/CreateChangeSet",
        "production-plan/ReviewChangeSet",
        "production-approval/Approve",
        "production/CreateChangeSet",
        "production/ConfirmChangeSet",
        "production/ExecuteChangeSet",
        # The smoke test runs beside the record (one run order, T5): the record, with its
        # five AWS CLI calls, is the longer of the two.
        "production/RecordRelease",
    ],
}


def model(before: bool = False) -> Model:
    return Model(BUILD_IMAGE_GB, TOOLS_IMAGE_GB, before=before)


@pytest.fixture(scope=shared_scope)
def prod():
    return run_stack("prod").mocks


def environments(priced: release_time.Priced, when: str = "after"):
    ((_, status, before, after),) = priced.executions
    assert status == "Succeeded"
    return {e.name: e for e in (after if when == "after" else before)}


def on_lambda(projects: set[str]) -> Callable:
    """Declare `projects` on Lambda compute with the tools image, and every other project that
    is not privileged on the build image on EC2: the test says what each project runs, whatever
    the program declares today."""

    def adjust(run) -> None:
        (build,) = [p["environment"] for p in run.projects.values() if p["environment"].get("privilegedMode")]
        for name, project in list(run.projects.items()):
            if project["environment"].get("privilegedMode"):
                continue
            if name in projects:
                environment = {
                    "type": "LINUX_LAMBDA_CONTAINER",
                    "computeType": "BUILD_LAMBDA_1GB",
                    "image": TOOLS_IMAGE,
                }
            else:
                environment = {
                    "type": build["type"],
                    "computeType": "BUILD_GENERAL1_SMALL",
                    "image": build["image"],
                }
            # A copy: the mocks' recorded inputs are shared by every test of the module.
            run.projects[name] = {**project, "environment": {**project["environment"], **environment}}

    return adjust


ON_EC2 = on_lambda(set())
"""Every small project on the build image on EC2, as before the tools image."""


def test_a_simple_release_on_prod_has_the_expected_critical_path_and_overhead(prod):
    priced = release_time.play(prod, "app change", model(before=True), model(), adjust=ON_EC2)
    found = environments(priced)
    assert {name: [s.name for s in e.steps] for name, e in found.items()} == PROD_PATH
    assert [e.name for e in found.values() if e.gated] == ["production"]
    # Today every project runs the build image on EC2.
    assert found["commit"].overhead == pytest.approx((1 + 5) + EC2_WITH_BUILD_IMAGE)  # 54.5
    assert found["dev"].overhead == pytest.approx(EXECUTE + EC2_WITH_BUILD_IMAGE)  # 64.5
    assert found["production"].overhead == pytest.approx(
        (EC2_WITH_BUILD_IMAGE + 1)  # recovery check
        + CHANGE_SET
        + (EC2_WITH_BUILD_IMAGE + 5)  # review
        + APPROVE
        + CHANGE_SET
        + (EC2_WITH_BUILD_IMAGE + 4)  # confirm
        + EXECUTE
        + (EC2_WITH_BUILD_IMAGE + 5)  # record (the smoke test beside it is shorter)
    )
    assert found["production"].overhead == pytest.approx(278.0)
    assert found["production"].bake == 0
    excluded = [part for step in found["production"].steps for part in step.excluded]
    # The smoke test's command is the application's too, but its action is off the path.
    assert excluded == ["the approver's answer", "the stack's update"]
    # T3: "before" prices them the same way.
    assert environments(priced, "before") == found


def test_the_path_follows_the_compute_a_project_declares(prod):
    small = {
        "todobackend-prod-recover-production",
        "todobackend-prod-review-production",
        "todobackend-prod-record-production",
        "todobackend-prod-verify-production",
    }
    priced = release_time.play(prod, "app change", model(before=True), model(), adjust=on_lambda(small))
    after = environments(priced)
    assert [s.name for s in after["production"].steps] == PROD_PATH["production"]
    assert after["production"].overhead == pytest.approx(
        (LAMBDA_WITH_TOOLS_IMAGE + 1)
        + CHANGE_SET
        + (LAMBDA_WITH_TOOLS_IMAGE + 5)
        + APPROVE
        + CHANGE_SET
        + (LAMBDA_WITH_TOOLS_IMAGE + 4)
        + EXECUTE
        + (LAMBDA_WITH_TOOLS_IMAGE + 5)
    )
    assert after["production"].overhead == pytest.approx(150.0)
    # dev's verify project was left on EC2; the application build always is.
    assert after["dev"].overhead == pytest.approx(64.5)
    # Before (T3) prices the same projects on the build image on EC2 again.
    assert environments(priced, "before")["production"].overhead == pytest.approx(278.0)


def test_the_image_size_is_an_input_of_the_model(prod):
    found = environments(
        release_time.play(
            prod, "app change", Model(2.15, 0.35, before=True), Model(2.15, 0.35), adjust=ON_EC2
        )
    )
    # Each CodeBuild run pulls one more GB, 30 s: production's path has four, dev's and the
    # build's one each.
    assert found["production"].overhead == pytest.approx(278.0 + 4 * 30)
    assert found["dev"].overhead == pytest.approx(64.5 + 30)
    assert found["commit"].overhead == pytest.approx(54.5 + 30)


def test_a_bake_is_shown_apart_from_the_overhead():
    priced = release_time.play(run_stack(FOUR_ENVIRONMENTS).mocks, "app change", model(before=True), model())
    found = environments(priced)
    assert [s.name for s in found["staging"].steps] == ["staging/Deploy", "staging/bake"]
    assert (found["staging"].overhead, found["staging"].bake) == (pytest.approx(EXECUTE), 20 * 60)
    assert found["production"].bake == 30 * 60
    assert [e.name for e in found.values() if e.gated] == ["qa", "production"]


def test_an_impossible_compute_pair_is_named(prod):
    def mismatched(run) -> None:
        name = "todobackend-prod-review-production"
        project = run.projects[name]
        run.projects[name] = {
            **project,
            "environment": {
                **project["environment"],
                "type": "LINUX_LAMBDA_CONTAINER",
                "computeType": "BUILD_GENERAL1_SMALL",
            },
        }

    with pytest.raises(
        ValueError, match="todobackend-prod-review-production: environment type LINUX_LAMBDA_CONTAINER"
    ):
        release_time.play(prod, "app change", model(before=True), model(), adjust=mismatched)


def test_the_documented_release_time_is_what_the_model_says():
    runs = release_time.releases(run_stack)
    assert release_time.current() == release_time.render(
        runs, release_time.every_scenario(run_stack("prod").mocks)
    ), "docs/operations.md is out of date: run `venv/bin/python -m tests.scenarios.release_time --write`"


def test_the_bench_report_gives_before_after_and_the_goal_per_gated_environment(prod):
    small = {
        "todobackend-prod-recover-production",
        "todobackend-prod-review-production",
        "todobackend-prod-record-production",
        "todobackend-prod-verify-production",
        "todobackend-prod-verify-dev",
    }
    priced = release_time.play(prod, "app change", model(before=True), model(), adjust=on_lambda(small))
    lines = release_time.report({"prod": priced}).splitlines()
    assert "  commit: before 54.5 s, after 54.5 s" in lines
    assert "  dev: before 64.5 s, after 32.5 s" in lines  # 16 + 16.5
    assert "  production (gated): before 278 s, after 150 s" in lines
    assert "  commit to production: before 397 s, after 237 s" in lines
    assert (
        lines[-1]
        == "  goal: pipeline overhead per gated environment under one minute: production 150 s: NOT met"
    )


def test_aws_configure_is_not_an_api_call(prod):
    """A cross-account step's script sets its profile with `aws configure` first: local, no
    round trip to AWS, so not priced as a call."""
    played = Scenario(prod)
    try:
        ON_EC2(played.run)
        (plan,) = [s for s in played.run.stages if s["name"] == "production-plan"]
        (recover,) = [a for a in plan["actions"] if a["name"] == "RecoverStack"]
        calls = (
            ("configure", "set", "profile.recovery.role_arn", "arn:aws:iam::210987654321:role/recovery"),
            ("configure", "set", "profile.recovery.credential_source", "EcsContainer"),
            ("cloudformation", "describe-stacks", "--stack-name", "todobackend-prod"),
        )
        step = model().price(
            played.run, ActionRun(Execution("1", "STANDARD"), "production-plan", recover, True, calls)
        )
        assert step.parts[-1] == Part("1 AWS CLI calls", 1)
        assert step.overhead == pytest.approx(EC2_WITH_BUILD_IMAGE + 1)
    finally:
        played.run.close()
