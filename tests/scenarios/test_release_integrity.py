"""Release integrity, by scenario, through the pipeline-run simulator: what reaches production is
exactly what was approved, by an approver; the image it runs stays pullable; and a bad release
comes back even when CodePipeline cannot roll back (after a pipeline update), from the release
record. The expectations are literals, worked out from the rules the simulator follows (its
docstring: P8, P10-P12, E1-E2) and from the stages docs/operations.md describes.
"""

from __future__ import annotations

import json

import pytest

from offline import redeploy
from tests.conftest import config_with, run_config, run_stack, shared_scope
from tests.scenarios.scenarios import Result, Scenario, app, tag
from tests.support.aws_stubs import REVIEW_AWS

OK = ("STANDARD", "Succeeded")
FAILED = ("STANDARD", "Failed")
ROLLED_BACK = ("ROLLBACK", "Succeeded")
A1, A2, A3, A9 = tag(1), tag(2), tag(3), tag(9)


@pytest.fixture(scope=shared_scope)
def prod():
    return run_stack("prod").mocks


@pytest.fixture
def scenario(prod):
    played = Scenario(prod)
    yield played
    played.run.close()


def failing_in_production(s: Scenario, version: str) -> None:
    s.world.smoke_passes = lambda environment, stack: (
        not (environment == "production" and (stack.version or "").startswith(version))
    )


def production_log(s: Scenario) -> str:
    return "\n".join(line for e in s.run.executions for line in e.log)


# -- only what was approved, by an approver ---------------------------------------------------------
def test_each_release_is_recorded_with_its_approver_and_commits(scenario):
    scenario.release()
    scenario.release(app=app(2))
    records = {
        execution: item
        for (environment, execution), item in scenario.run.records.items()
        if environment == "production"
    }
    assert [
        (r["kind"]["S"], r["imageTag"]["S"], r["appCommit"]["S"])
        for r in sorted(records.values(), key=lambda r: r["recordedAt"]["S"])
    ] == [
        ("approved", A1, app(1)),
        ("approved", A2, app(2)),
    ]
    assert {r["approvedBy"]["S"] for r in records.values()} == {
        "arn:aws:sts::123456789012:assumed-role/release-managers/alice"
    }
    # Each release's image carries its mark.
    assert sorted(len(marks) for marks in scenario.world.marks.values()) == [1, 1]


def test_an_approval_by_someone_not_named_releases_nothing(scenario):
    scenario.release()
    scenario.world.approved_by = lambda request: "arn:aws:sts::123456789012:assumed-role/Admin/mallory"
    scenario.mark()
    scenario.release(app=app(2))
    # The confirm refuses: the release stage fails, and its rollback (onFailure: ROLLBACK) returns
    # to the recorded release production still runs, asking nobody.
    assert scenario.result() == Result(
        1,
        3,
        1,
        1,
        (FAILED, ROLLED_BACK),
        # Nothing changed in production: the rollback's change set was empty.
        {"dev": ("UPDATE_COMPLETE", f"{A2} v1"), "production": ("CREATE_COMPLETE", f"{A1} v1")},
    )
    assert "who is not among the approvers of production" in production_log(scenario)


def test_an_image_swapped_behind_its_tag_after_the_review_releases_nothing(scenario):
    scenario.release()
    # While the approver reads the review, someone moves the reviewed tag to another image.
    scenario.world.decide = lambda request: (scenario.run.swap(A2, "evil") or "Approved", 30)
    scenario.mark()
    scenario.release(app=app(2))
    assert scenario.result().runs == (FAILED, ROLLED_BACK)
    assert scenario.run.environments()["production"] == ("CREATE_COMPLETE", f"{A1} v1")
    assert "the image behind the tag was replaced" in production_log(scenario)


# -- a rollback, and when CodePipeline refuses one ------------------------------------------------
def test_a_rollback_returns_to_the_recorded_release(scenario):
    scenario.release()
    failing_in_production(scenario, A2)
    scenario.mark()
    scenario.release(app=app(2))
    result = scenario.result()
    assert result.runs == (FAILED, ROLLED_BACK)
    assert result.environments["production"] == ("UPDATE_COMPLETE", f"{A1} v1")
    kinds = sorted(
        item["kind"]["S"] for (env, _), item in scenario.run.records.items() if env == "production"
    )
    assert kinds == ["approved", "approved", "rollback"]


def test_after_a_pipeline_update_a_bad_release_is_redeployed_from_the_record(
    scenario, tmp_path, monkeypatch, capsys
):
    scenario.release()
    # `pulumi up` changes the pipeline (say, an alarm added): a new structure version (P11).
    scenario.run.update_pipeline()
    failing_in_production(scenario, A2)
    scenario.mark()
    scenario.release(app=app(2))
    # The release fails its smoke test and CodePipeline refuses to roll back: production keeps A2.
    assert scenario.result().runs == (FAILED,)
    assert scenario.run.environments()["production"] == ("UPDATE_COMPLETE", f"{A2} v1")
    assert "started in an older pipeline structure; CodePipeline refuses the rollback" in production_log(
        scenario
    )

    # The operator asks the record what to release again (offline/redeploy.py, against the world).
    records = tmp_path / "records"
    records.mkdir()
    for (environment, execution), item in scenario.run.records.items():
        (records / f"{environment}__{execution}.json").write_text(json.dumps(item))
    (tmp_path / "executions.json").write_text(json.dumps({e.id: e.status for e in scenario.run.executions}))
    (tmp_path / "aws").write_text(REVIEW_AWS)
    (tmp_path / "aws").chmod(0o755)
    for name, value in {
        "AWS_CLI": str(tmp_path / "aws"),
        "STUB_LOG": str(tmp_path / "aws.log"),
        "STUB_RECORDS": str(records),
        "STUB_EXECUTIONS": str(tmp_path / "executions.json"),
    }.items():
        monkeypatch.setenv(name, value)
    arguments = [
        "--pipeline",
        "todobackend-prod",
        "--table",
        "todobackend-prod-releases",
        "--environment",
        "production",
    ]
    assert redeploy.main(arguments) == 0
    said = capsys.readouterr().out
    first = scenario.run.executions[0].id
    assert f"production's release of execution {first}" in said and f"application {app(1)}" in said
    assert "would run: aws codepipeline start-pipeline-execution" in said
    assert redeploy.main([*arguments, "--execute"]) == 0
    (start,) = [
        json.loads(line)
        for line in (tmp_path / "aws.log").read_text().splitlines()
        if "start-pipeline-execution" in line
    ]
    fields = start[start.index("--source-revisions") + 1 : start.index("--output")]
    overrides = [dict(pair.split("=", 1) for pair in field.split(",")) for field in fields]
    assert {o["revisionType"] for o in overrides} == {"COMMIT_ID"}
    revisions = {o["actionName"]: o["revisionValue"] for o in overrides}
    assert revisions == {"Application": app(1), "Infrastructure": "1" * 40}

    # The run it starts, with those revisions (P12): nothing is built, the change back is planned,
    # approved and released, and production is back at the last good release.
    scenario.mark()
    scenario.run.start(source_revisions=revisions)
    scenario.run.run()
    assert scenario.result() == Result(
        0,
        2,
        1,
        1,
        (OK,),
        {"dev": ("UPDATE_COMPLETE", f"{A1} v1"), "production": ("UPDATE_COMPLETE", f"{A1} v1")},
    )


def test_the_redeploy_refuses_when_no_release_of_the_environment_succeeded(tmp_path, monkeypatch, capsys):
    (tmp_path / "records").mkdir()
    (tmp_path / "aws").write_text(REVIEW_AWS)
    (tmp_path / "aws").chmod(0o755)
    (tmp_path / "executions.json").write_text("{}")
    for name, value in {
        "AWS_CLI": str(tmp_path / "aws"),
        "STUB_LOG": str(tmp_path / "aws.log"),
        "STUB_RECORDS": str(tmp_path / "records"),
        "STUB_EXECUTIONS": str(tmp_path / "executions.json"),
    }.items():
        monkeypatch.setenv(name, value)
    assert redeploy.main(["--pipeline", "p", "--table", "t", "--environment", "production"]) == 1
    assert "no release of production is recorded in t" in capsys.readouterr().err


# -- the images an environment runs stay ------------------------------------------------------------
@pytest.fixture(scope=shared_scope)
def small_registry():
    """The book's two environments, a repository that keeps few images: the newest 3, and 2
    releases per gated environment."""
    approvers = ["arn:aws:iam::123456789012:role/release-managers"]
    environments = [
        {"name": "dev", "stackName": "todobackend-dev", "templateConfiguration": "dev.json"},
        {
            "name": "production",
            "stackName": "todobackend-prod",
            "templateConfiguration": "prod.json",
            "approval": True,
            "approvers": approvers,
            "verify": {},
            "onFailure": {"result": "ROLLBACK"},
        },
    ]
    config = config_with(environments=environments, ecr={"maxImageCount": 3, "keepReleases": 2})
    return run_config(config, stack="retention").mocks


def test_the_image_production_runs_and_its_rollback_target_outlive_unreleased_commits(small_registry, say):
    s = Scenario(small_registry)
    try:
        s.release()  # A1 released to production
        s.release(app=app(2))  # A2 released to production
        s.world.decide = lambda request: ("Rejected", 30)
        for number in range(3, 9):  # six commits dev takes and production's approvers reject
            # Nine pipeline runs in all, a few seconds each: a line keeps the tier from looking hung.
            say(f"… lifecycle scenario: commit {number} of 9, which production's approvers reject")
            s.release(app=app(number))
        expired = s.run.expire_images()
        # The three newest unreleased images stay (maxImageCount), and both releases
        # (keepReleases): what production runs (A2) and what it would roll back to (A1).
        assert expired == [tag(3), tag(4), tag(5)]
        assert sorted(image.rsplit(":", 1)[1] for image in s.world.registry) == sorted(
            [A1, A2, tag(6), tag(7), tag(8)]
        )
        # A release that fails in production rolls back to A2, whose image is still there.
        s.world.decide = lambda request: ("Approved", 30)
        failing_in_production(s, A9)
        s.mark()
        s.release(app=app(9))
        assert s.result().runs == (FAILED, ROLLED_BACK)
        assert s.run.environments()["production"] == ("UPDATE_COMPLETE", f"{A2} v1")
    finally:
        s.run.close()


def test_without_the_release_rule_the_lifecycle_would_expire_what_production_runs(small_registry):
    """The lifecycle as it was before release marks: count every tagged image alike."""
    s = Scenario(small_registry)
    try:
        s.release()
        s.release(app=app(2))
        s.world.decide = lambda request: ("Rejected", 30)
        for number in range(3, 9):
            s.release(app=app(number))
        before = {
            "rules": [
                {
                    "rulePriority": 1,
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": 7,
                    },
                    "action": {"type": "expire"},
                },
                {
                    "rulePriority": 2,
                    "selection": {
                        "tagStatus": "tagged",
                        "tagPatternList": ["*"],
                        "countType": "imageCountMoreThan",
                        "countNumber": 3,
                    },
                    "action": {"type": "expire"},
                },
            ]
        }
        assert s.run.expire_images(before) == [A1, A2, tag(3), tag(4), tag(5)]
        # A release that fails in production has nothing left to roll back to: A2 is gone.
        s.world.decide = lambda request: ("Approved", 30)
        failing_in_production(s, A9)
        s.mark()
        s.release(app=app(9))
        assert s.result().runs == (FAILED, ("ROLLBACK", "Failed"))
        # The rollback's confirm finds no image behind A2's mark (the template pins the digest,
        # so the mark, not the tag, says whether it is still there) and executes nothing:
        # production stays on the release that failed.
        log = production_log(s)
        assert "no longer one of the releases production keeps" in log
        assert "the registry has no image by that mark); nothing is executed" in log
    finally:
        s.run.close()


def test_release_tags_a_build_pushes_cannot_push_production_images_out(small_registry):
    """Any build may push any tag, `release-...` too: the marked images' rule keeps by age, not
    by count, so junk marks keep themselves and push nothing out."""
    s = Scenario(small_registry)
    try:
        s.release()
        s.release(app=app(2))
        repository = next(iter(s.world.registry)).rsplit(":", 1)[0]
        for junk in (
            "release-x1",
            "release-x2",
            "release-x3",
            "release-production.99991231T235959Z-ffffffff",
        ):
            s.world.registry.add(f"{repository}:{junk}")
            s.world.pushed_at[f"{repository}:{junk}"] = s.run.now
        s.run.expire_images()
        kept = {image.rsplit(":", 1)[1] for image in s.world.registry}
        assert {A1, A2} <= kept
    finally:
        s.run.close()
