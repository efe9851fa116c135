"""The change-set review: its CodeBuild project and role, its place in the pipeline, and
its inline buildspec executed here against a stub `aws` command."""

from __future__ import annotations

import copy
import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from components.change_set_review import EXPORTED_VARIABLES
from tests.conftest import action_of, actions_of, only, policy, run_config, run_stack, shared_scope
from tests.support.aws_stubs import REVIEW_AWS as STUB_AWS
from tests.support.buildspec import run_buildspec, stub_environment
from tests.test_changeset_report import FIXTURES, hundreds_of_changes
from tests.test_changeset_report import report as changeset_report

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope=shared_scope)
def prod():
    return run_stack("prod").mocks


def review_project(mocks, environment: str = "production"):
    return only(mocks, "aws:codebuild/project:Project", f"review-{environment}-project")


def test_production_reviews_its_plan_and_confirms_its_release_with_one_project(prod):
    _recover, create, review = actions_of(prod, "production-plan")
    assert [(a["name"], a["runOrder"]) for a in (create, review)] == [
        ("CreateChangeSet", 2),
        ("ReviewChangeSet", 3),
    ]
    assert (review["category"], review["provider"]) == ("Build", "CodeBuild")
    assert review["configuration"]["ProjectName"] == review_project(prod).state["name"]
    assert review["namespace"] == "Plan-production"
    assert review["inputArtifacts"] == ["InfrastructureSource"]
    assert json.loads(review["configuration"]["EnvironmentVariables"]) == [
        {"name": "PIPELINE_EXECUTION_ID", "value": "#{codepipeline.PipelineExecutionId}"},
        {"name": "APP_COMMIT", "value": "#{AppSource.CommitId}"},
    ]
    confirm = action_of(prod, "production", "ConfirmChangeSet")
    assert confirm["configuration"]["ProjectName"] == review_project(prod).state["name"]


def test_the_approval_carries_the_review_variables(prod):
    approve = action_of(prod, "production-approval", "Approve")["configuration"]
    assert approve["CustomData"].startswith("#{Plan-production.REVIEW_SUMMARY}")
    assert approve["ExternalEntityLink"] == "#{Plan-production.CHANGE_SET_URL}"
    assert EXPORTED_VARIABLES == (
        "REVIEW_SUMMARY",
        "CHANGE_COUNT",
        "REPLACEMENT_COUNT",
        "REMOVAL_COUNT",
        "IMAGE_TAG",
        "CHANGE_SET_URL",
        "REPORT_URL",
        "FINGERPRINT",
        "PLAN_EXECUTION_ID",
    )


def test_ungated_environments_get_no_review(prod):
    assert [a["name"] for a in actions_of(prod, "dev")] == ["Deploy", "Verify"]
    assert [r.name for r in prod.resources if r.type == "ecs-delivery:change_set_review:ChangeSetReview"] == [
        "review-production"
    ]


def test_every_gated_environment_gets_its_own_review():
    environments = [
        {"name": "dev", "stackName": "shop-dev"},
        {
            "name": "staging",
            "stackName": "shop-staging",
            "approval": True,
            "approvers": ["arn:aws:iam::123456789012:role/release-managers"],
        },
        {
            "name": "production",
            "stackName": "shop-prod",
            "approval": True,
            "approvers": ["arn:aws:iam::123456789012:role/release-managers"],
        },
    ]
    from tests.conftest import config_with

    mocks = run_config(config_with(environments=environments)).mocks
    for environment, stack in (("staging", "shop-staging"), ("production", "shop-prod")):
        project = review_project(mocks, environment)
        variables = {v["name"]: v["value"] for v in project.inputs["environment"]["environmentVariables"]}
        assert variables["STACK_NAME"] == stack
        # The review reads the plan's change set; the confirm names the release's own.
        assert variables["CHANGE_SET_NAME"] == f"{stack}-plan"
        assert (
            variables["CHANGE_SET_NAME"]
            == action_of(mocks, f"{environment}-plan", "CreateChangeSet")["configuration"]["ChangeSetName"]
        )
        assert (
            action_of(mocks, f"{environment}-plan", "ReviewChangeSet")["configuration"]["ProjectName"]
            == project.state["name"]
        )


def test_review_project_is_small_unprivileged_and_pinned(prod):
    project = review_project(prod).inputs
    environment = project["environment"]
    assert environment["privilegedMode"] is False
    assert environment["computeType"] == "BUILD_GENERAL1_SMALL"
    assert environment["image"] == only(prod, "docker:index/image:Image").state["repoDigest"]
    assert environment["imagePullCredentialsType"] == "SERVICE_ROLE"
    # Names and locations, none of them a secret: plain text, which the console shows.
    assert {v["type"] for v in environment["environmentVariables"]} == {"PLAINTEXT"}
    # A review that hangs (an unreachable endpoint) gives up in 10 minutes, not CodeBuild's 60.
    assert project["buildTimeout"] == 10
    # The console names what the project and its role are for.
    assert project["description"] == "Describe and render the production change set for its approver"
    role = only(prod, "aws:iam/role:Role", "review-production-role").inputs
    assert role["description"] == "CodeBuild: review the production change set"
    variables = {v["name"]: v["value"] for v in environment["environmentVariables"]}
    assert variables == {
        "ENVIRONMENT": "production",
        "STACK_NAME": "todobackend-prod",
        "CHANGE_SET_NAME": "todobackend-prod-plan",
        "IMAGE_PARAMETER": "ApplicationImageTag",
        "REPORT_BUCKET": only(prod, "aws:s3/bucket:Bucket").state["bucket"],
        "REPORT_PREFIX": "reviews/production",
    }


def test_review_role_reads_only_its_stack_and_writes_only_its_prefix(prod):
    statements = {
        s["Sid"]: s
        for s in policy(only(prod, "aws:iam/rolePolicy:RolePolicy", "review-production-policy"))["Statement"]
    }
    bucket = only(prod, "aws:s3/bucket:Bucket").state["arn"]
    assert statements["DescribeChangeSet"] == {
        "Sid": "DescribeChangeSet",
        "Effect": "Allow",
        "Action": ["cloudformation:DescribeChangeSet", "cloudformation:DescribeStacks"],
        "Resource": ["arn:aws:cloudformation:eu-west-1:123456789012:stack/todobackend-prod/*"],
    }
    assert statements["WriteReport"]["Action"] == ["s3:PutObject"]
    assert statements["WriteReport"]["Resource"] == [f"{bucket}/reviews/production/*"]
    writes = [s for s in statements.values() if any(a.startswith("s3:Put") for a in s["Action"])]
    assert writes == [statements["WriteReport"]]
    actions = {a for s in statements.values() for a in s["Action"]}
    assert not any(
        a.startswith(("cloudformation:Execute", "cloudformation:Create", "cloudformation:Delete"))
        for a in actions
    )
    assert not any(a.startswith("ecr:Put") or a.startswith("iam:") for a in actions)


# -- the inline buildspec, run here -------------------------------------------------


def run_review(
    tmp_path: Path, pages: list[dict], extra: dict[str, str] | None = None
) -> tuple[dict[str, str], list[list[str]], Path]:
    """Run the review project's inline buildspec as CodeBuild does (tests/support/buildspec.py),
    with the renderer from build-image/ and a stub `aws` that serves the pages; it must succeed."""
    result, calls, uploaded = run_review_project(tmp_path, pages, extra)
    assert result.succeeded, result.output
    return result.exported, calls, uploaded


def run_review_project(tmp_path: Path, pages: list[dict], extra: dict[str, str] | None = None):
    """The same run, whatever its outcome: (BuildResult, aws calls, the upload folder)."""
    mocks = run_stack("prod").mocks
    project = review_project(mocks).inputs
    buildspec = yaml.safe_load(project["source"]["buildspec"])
    bin_dir, pages_dir, s3, work = (tmp_path / d for d in ("bin", "pages", "s3", "work"))
    for folder in (bin_dir, pages_dir, s3, work):
        folder.mkdir()
    (bin_dir / "aws").write_text(STUB_AWS)
    (bin_dir / "aws").chmod(0o755)
    for number, page in enumerate(pages, start=1):
        (pages_dir / f"page-{number}.json").write_text(json.dumps(page))
    # The image's review script; its renderer (at its image path in CodeBuild) is the
    # project's copy, run by this interpreter, the one the tests import the renderer with.
    shutil.copy(ROOT / "build-image" / "review-change-set", bin_dir / "review-change-set")
    variables = {v["name"]: v["value"] for v in project["environment"]["environmentVariables"]}
    environment = {
        "AWS_REGION": "eu-west-1",
        "CODEBUILD_BUILD_NUMBER": "17",
        "PIPELINE_EXECUTION_ID": "0f1e2d3c-aaaa-bbbb-cccc-123456789abc",
        "APP_COMMIT": "8c1d2aa4f0e",
        "STUB_LOG": str(tmp_path / "aws.log"),
        "STUB_STACK": str(FIXTURES / "stack.json"),
        "STUB_PAGES": str(pages_dir),
        "STUB_S3": str(s3),
        "CHANGESET_RENDERER": str(ROOT / "build-image" / "changeset_report.py"),
        "PYTHON": sys.executable,
        **variables,
        **(extra or {}),
    }
    result = run_buildspec(
        buildspec,
        source_dir=work,
        environment=stub_environment(bin_dir, environment),
        state_dir=tmp_path / "runner",
    )
    log = tmp_path / "aws.log"
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return (
        result,
        calls,
        s3 / variables["REPORT_BUCKET"] / "reviews" / "production" / environment["PIPELINE_EXECUTION_ID"],
    )


def test_buildspec_describes_renders_uploads_and_exports(tmp_path):
    release = json.loads((FIXTURES / "release.json").read_text())
    exports, calls, uploaded = run_review(tmp_path, [release])
    # Every page of the change set first (a confirm stops there), then the stack's parameters.
    assert calls[0] == [
        "cloudformation", "describe-change-set", "--stack-name", "todobackend-prod",
        "--change-set-name", "todobackend-prod-plan", "--output", "json",
    ]  # fmt: skip
    assert calls[1][:2] == ["cloudformation", "describe-stacks"]
    assert exports["REVIEW_SUMMARY"] == (
        "production: 3 changes — 1 replacement (ApplicationTaskDefinition), 0 removals; image tag 5fdbe62 → 8c1d2aa"
    )
    assert exports["CHANGE_COUNT"] == "3"
    assert exports["IMAGE_TAG"] == "8c1d2aa"
    bucket = uploaded.parts[-4]
    assert exports["REPORT_URL"] == (
        f"https://eu-west-1.console.aws.amazon.com/s3/object/{bucket}?region=eu-west-1"
        "&prefix=reviews/production/0f1e2d3c-aaaa-bbbb-cccc-123456789abc/report.html"
    )
    assert exports["CHANGE_SET_URL"].startswith("https://eu-west-1.console.aws.amazon.com/cloudformation/")
    assert sorted(p.name for p in uploaded.iterdir()) == [
        "changes-1.json", "exports.sh", "report.html", "report.md", "summary.txt",
    ]  # fmt: skip
    assert "- application commit: `8c1d2aa4f0e`" in (uploaded / "report.md").read_text()
    # What the release's confirm compares with, and the execution that reviewed it.
    assert exports["FINGERPRINT"] == changeset_report.fingerprint([release])
    assert exports["PLAN_EXECUTION_ID"] == "0f1e2d3c-aaaa-bbbb-cccc-123456789abc"


# -- the same project confirming a release's change set ----------------------------------
PLAN_EXECUTION = "0f1e2d3c-aaaa-bbbb-cccc-123456789abc"  # the run_review execution


def confirm(tmp_path, pages, **variables):
    """The ConfirmChangeSet action: the review project with the action's variables."""
    action = action_of(run_stack("prod").mocks, "production", "ConfirmChangeSet")
    declared = {v["name"]: v["value"] for v in json.loads(action["configuration"]["EnvironmentVariables"])}
    assert set(declared) == {
        "REVIEW_MODE", "CHANGE_SET_NAME", "EXPECTED_FINGERPRINT", "PLAN_EXECUTION_ID", "PIPELINE_EXECUTION_ID",
    }  # fmt: skip
    resolved = {
        "REVIEW_MODE": declared["REVIEW_MODE"],
        "CHANGE_SET_NAME": declared["CHANGE_SET_NAME"],
        "PLAN_EXECUTION_ID": PLAN_EXECUTION,
        "PIPELINE_EXECUTION_ID": PLAN_EXECUTION,
        **variables,
    }
    return run_review_project(tmp_path, pages, resolved)


def test_a_confirm_passes_the_change_set_that_makes_the_reviewed_changes(tmp_path):
    reviewed = json.loads((FIXTURES / "release.json").read_text())
    # Created again: another name, id and time, the same changes in another order.
    again = reviewed | {
        "ChangeSetName": "todobackend-prod-pipeline",
        "ChangeSetId": reviewed["ChangeSetId"].replace("plan", "pipeline") + "-2",
        "CreationTime": "2026-12-01T10:00:00Z",
        "Changes": list(reversed(reviewed["Changes"])),
    }
    result, calls, _ = confirm(
        tmp_path, [again], EXPECTED_FINGERPRINT=changeset_report.fingerprint([reviewed])
    )
    assert result.succeeded, result.output
    assert "todobackend-prod-pipeline is the change set reviewed and approved" in result.output
    # It describes the release's change set and nothing else: no report, no upload.
    assert [c[:2] for c in calls] == [["cloudformation", "describe-change-set"]]
    assert calls[0][calls[0].index("--change-set-name") + 1] == "todobackend-prod-pipeline"
    # A confirm reports nothing (its action has no namespace).
    assert [result.exported[n] for n in ("REVIEW_SUMMARY", "CHANGE_COUNT", "FINGERPRINT")] == ["", "", ""]


def test_a_confirm_stops_a_change_set_that_differs_from_the_reviewed_one(tmp_path):
    reviewed = json.loads((FIXTURES / "release.json").read_text())
    # Created again after someone pushed another image under the reviewed parameters' names.
    drifted = copy.deepcopy(reviewed)
    (tag,) = [p for p in drifted["Parameters"] if p["ParameterKey"] == "ApplicationImageTag"]
    tag["ParameterValue"] = "0badc0ffee00"
    result, _, _ = confirm(tmp_path, [drifted], EXPECTED_FINGERPRINT=changeset_report.fingerprint([reviewed]))
    assert not result.succeeded
    assert "is not the change set reviewed and approved" in result.output
    assert "nothing is executed" in result.output


def test_a_confirm_with_no_reviewed_fingerprint_stops(tmp_path):
    reviewed = json.loads((FIXTURES / "release.json").read_text())
    result, _, _ = confirm(tmp_path, [reviewed], EXPECTED_FINGERPRINT="")
    assert not result.succeeded
    assert "(fingerprint none)" in result.output


def test_a_confirm_in_a_rollback_restores_the_release_approved_when_it_shipped(tmp_path):
    """A rollback runs with the variables of the execution it rolls back to (AWS, "Configuring
    stage rollback"): its plan's id is not the running execution's."""
    reviewed = json.loads((FIXTURES / "release.json").read_text())
    result, calls, _ = confirm(
        tmp_path,
        [reviewed],
        EXPECTED_FINGERPRINT="fingerprint-of-the-plan-that-shipped-then",
        PIPELINE_EXECUTION_ID="9e8d7c6b-1111-2222-3333-444455556666",
    )
    assert result.succeeded, result.output
    assert calls == []
    assert f"runs with the plan of execution {PLAN_EXECUTION}" in result.output


def test_an_unknown_review_mode_is_refused(tmp_path):
    reviewed = json.loads((FIXTURES / "release.json").read_text())
    result, calls, _ = run_review_project(tmp_path, [reviewed], {"REVIEW_MODE": "approve"})
    assert not result.succeeded
    assert "REVIEW_MODE must be review or confirm, not 'approve'" in result.output
    assert calls == []


def test_buildspec_follows_every_page(tmp_path):
    pages = hundreds_of_changes()
    for number, page in enumerate(pages[:-1], start=2):
        page["NextToken"] = f"page-{number}"
    exports, calls, uploaded = run_review(tmp_path, pages)
    tokens = [c[c.index("--next-token") + 1] for c in calls if "--next-token" in c]
    assert tokens == ["page-2", "page-3"]
    assert exports["CHANGE_COUNT"] == "250"
    assert "## All 250 changes (from 3 pages)" in (uploaded / "report.md").read_text()


def test_a_review_in_another_account_describes_through_the_reader_role_only(tmp_path):
    release = json.loads((FIXTURES / "release.json").read_text())
    reader = (
        "arn:aws:iam::222222222222:role/ecs-delivery/app/review/production/production-reader-role-1a2b3c4"
    )
    exports, calls, _ = run_review(tmp_path, [release], {"READER_ROLE_ARN": reader})
    # A profile that assumes the reader with CodeBuild's own (container) credentials.
    assert calls[:2] == [
        ["configure", "set", "profile.reader.role_arn", reader],
        ["configure", "set", "profile.reader.credential_source", "EcsContainer"],
    ]
    describes = [c for c in calls if c[0] == "cloudformation"]
    assert describes and all(c[-2:] == ["--profile", "reader"] for c in describes)
    # The report still goes to the pipeline account's bucket with the review's own role.
    (upload,) = [c for c in calls if c[:2] == ["s3", "cp"]]
    assert "--profile" not in upload
    assert exports["CHANGE_COUNT"] == "3"
