"""The change-set review: its CodeBuild project and role, its place in the pipeline, and
its inline buildspec executed here against a stub `aws` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.change_set_review import EXPORTED_VARIABLES
from tests.conftest import action_of, actions_of, only, policy, run_config, run_stack, shared_scope
from tests.support.release_world import GateWorld
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
        "WAVE_CHANGE_COUNT",
        "REPLACEMENT_COUNT",
        "REMOVAL_COUNT",
        "IMAGE_TAG",
        "CHANGE_SET_URL",
        "REPORT_URL",
        "FINGERPRINT",
        "PLAN_EXECUTION_ID",
        "IMAGE_DIGEST",
        "RELEASE",
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
    assert (environment["type"], environment["computeType"]) == ("LINUX_LAMBDA_CONTAINER", "BUILD_LAMBDA_2GB")
    assert (
        environment["image"]
        == only(prod, "docker:index/image:Image", "tools-image-image").state["repoDigest"]
    )
    assert environment["imagePullCredentialsType"] == "SERVICE_ROLE"
    # Names and locations, none of them a secret: plain text, which the console shows.
    assert {v["type"] for v in environment["environmentVariables"]} == {"PLAINTEXT"}
    # A review that hangs (an unreachable endpoint) stops with Lambda compute's 15 minutes, not
    # CodeBuild's 60: Lambda compute takes no timeout of its own, and no cache setting.
    assert "buildTimeout" not in project
    assert "cache" not in project
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
        # What confirming a release checks (tests/test_release_gate.py).
        "PIPELINE_NAME": "todobackend-prod",
        "APPROVAL_STAGE": "production-approval",
        "APPROVAL_ACTION": "Approve",
        "APPROVERS": "arn:aws:iam::123456789012:role/release-managers",
        "DIGEST_PARAMETER": "ApplicationImageDigest",
        "IMAGE_REPOSITORY_NAME": "todobackend",
        "RECORD_TABLE": "todobackend-prod-releases",
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
        "Action": [
            "cloudformation:DescribeChangeSet",
            "cloudformation:DescribeStacks",
            "cloudformation:GetTemplate",
        ],
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
    # What a confirm reads in the pipeline's account, and nothing to write there.
    assert statements["LookUpReleasedImage"]["Action"] == ["ecr:DescribeImages"]
    assert statements["LookUpReleasedImage"]["Resource"] == [
        only(prod, "aws:ecr/repository:Repository", "app-image-repository").state["arn"]
    ]
    assert statements["LookUpApprover"] == {
        "Sid": "LookUpApprover",
        "Effect": "Allow",
        "Action": ["codepipeline:ListActionExecutions"],
        "Resource": ["arn:aws:codepipeline:eu-west-1:123456789012:todobackend-prod"],
    }
    assert statements["ReadReleaseRecord"] == {
        "Sid": "ReadReleaseRecord",
        "Effect": "Allow",
        "Action": ["dynamodb:GetItem", "dynamodb:Query"],
        "Resource": ["arn:aws:dynamodb:eu-west-1:123456789012:table/todobackend-prod-releases"],
        "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["production"]}},
    }


# -- the inline buildspec, run here -------------------------------------------------
EXECUTION = "0f1e2d3c-aaaa-bbbb-cccc-123456789abc"
TEMPLATE = "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n"


def run_review(
    tmp_path: Path, pages: list[dict], extra: dict[str, str] | None = None
) -> tuple[dict[str, str], list[list[str]], Path]:
    """Run the review project's inline buildspec as CodeBuild does (tests/support/buildspec.py),
    with the renderer from build-image/ and a stub `aws` that serves the pages; it must succeed."""
    result, calls, uploaded = run_review_project(tmp_path, pages, extra)
    assert result.succeeded, result.output
    return result.exported, calls, uploaded


def run_review_project(tmp_path: Path, pages: list[dict], extra: dict[str, str] | None = None, world=None):
    """The same run, whatever its outcome: (BuildResult, aws calls, the upload folder)."""
    project = review_project(run_stack("prod").mocks).inputs
    world = world or GateWorld(tmp_path)
    world.serve_pages(pages)
    world.serve_template(TEMPLATE)
    if not world.images():
        world.push("release-8c1d2aa", "8c1d2aa")
    variables = {v["name"]: v["value"] for v in project["environment"]["environmentVariables"]}
    result = world.run(
        project,
        {
            "CODEBUILD_BUILD_NUMBER": "17",
            "PIPELINE_EXECUTION_ID": EXECUTION,
            "APP_COMMIT": "8c1d2aa4f0e",
            **(extra or {}),
        },
    )
    return (
        result,
        world.calls(),
        tmp_path / "s3" / variables["REPORT_BUCKET"] / "reviews" / "production" / EXECUTION,
    )


def test_buildspec_describes_renders_uploads_and_exports(tmp_path):
    release = json.loads((FIXTURES / "release.json").read_text())
    world = GateWorld(tmp_path)
    digest = world.push("release-8c1d2aa", "8c1d2aa")
    result, calls, uploaded = run_review_project(tmp_path, [release], world=world)
    assert result.succeeded, result.output
    exports = result.exported
    # Every page of the change set with its property values, the template it deploys, what the
    # tag names in the registry, then the stack's parameters.
    assert calls[0] == [
        "cloudformation", "describe-change-set", "--stack-name", "todobackend-prod",
        "--change-set-name", "todobackend-prod-plan", "--include-property-values", "--output", "json",
    ]  # fmt: skip
    assert calls[1] == [
        "cloudformation", "get-template", "--stack-name", "todobackend-prod",
        "--change-set-name", "todobackend-prod-plan", "--template-stage", "Original", "--output", "json",
    ]  # fmt: skip
    assert calls[2][:2] == ["ecr", "describe-images"]
    assert calls[2][calls[2].index("--image-ids") + 1] == "imageTag=8c1d2aa"
    assert calls[3][:2] == ["cloudformation", "describe-stacks"]
    assert exports["REVIEW_SUMMARY"] == (
        "production: 3 changes — 1 replacement (ApplicationTaskDefinition), 0 removals; image tag 5fdbe62 → 8c1d2aa"
    )
    assert exports["CHANGE_COUNT"] == "3"
    assert exports["IMAGE_TAG"] == "8c1d2aa"
    assert exports["IMAGE_DIGEST"] == digest
    bucket = uploaded.parts[-4]
    assert exports["REPORT_URL"] == (
        f"https://eu-west-1.console.aws.amazon.com/s3/object/{bucket}?region=eu-west-1"
        "&prefix=reviews/production/0f1e2d3c-aaaa-bbbb-cccc-123456789abc/report.html"
    )
    assert exports["CHANGE_SET_URL"].startswith("https://eu-west-1.console.aws.amazon.com/cloudformation/")
    assert sorted(p.name for p in uploaded.iterdir()) == [
        "changes-1.json", "exports.sh", "report.html", "report.md", "summary.txt",
    ]  # fmt: skip
    report_md = (uploaded / "report.md").read_text()
    assert "- application commit: `8c1d2aa4f0e`" in report_md
    assert (
        f"- image digest: `{digest}` (what the tag names in the registry now; the template pins no digest)"
        in report_md
    )
    # What the release's confirm compares with, and the execution that reviewed it.
    template = {"TemplateBody": TEMPLATE, "StagesAvailable": ["Original"]}
    assert exports["FINGERPRINT"] == changeset_report.fingerprint([release], template)
    assert exports["PLAN_EXECUTION_ID"] == EXECUTION


def test_a_review_shows_the_digest_the_template_pins(tmp_path):
    release = json.loads((FIXTURES / "release.json").read_text())
    pinned = "sha256:" + "a" * 64
    release["Parameters"].append({"ParameterKey": "ApplicationImageDigest", "ParameterValue": pinned})
    exports, _, uploaded = run_review(tmp_path, [release])
    assert exports["IMAGE_DIGEST"] == pinned
    assert (
        f"- image digest: `{pinned}` (the template's ApplicationImageDigest parameter)"
        in (uploaded / "report.md").read_text()
    )


def test_a_review_whose_tag_is_not_in_the_registry_says_so(tmp_path):
    world = GateWorld(tmp_path)
    world.push("another", "0000000")
    release = json.loads((FIXTURES / "release.json").read_text())
    result, _, uploaded = run_review_project(tmp_path, [release], world=world)
    assert result.succeeded, result.output
    assert result.exported["IMAGE_DIGEST"] == ""
    assert (
        "image digest: **unknown**: the image tag is not in the registry"
        in (uploaded / "report.md").read_text()
    )


def test_an_unknown_review_mode_is_refused(tmp_path):
    reviewed = json.loads((FIXTURES / "release.json").read_text())
    result, calls, _ = run_review_project(tmp_path, [reviewed], {"REVIEW_MODE": "approve"})
    assert not result.succeeded
    assert "REVIEW_MODE must be review or confirm, not 'approve'" in result.output
    assert calls == []


def test_buildspec_follows_every_page(tmp_path):
    pages = hundreds_of_changes()
    exports, calls, uploaded = run_review(tmp_path, pages)
    tokens = [c[c.index("--next-token") + 1] for c in calls if "--next-token" in c]
    assert tokens == ["token-2", "token-3"]
    assert exports["CHANGE_COUNT"] == "250"
    assert "## All 250 changes (from 3 pages)" in (uploaded / "report.md").read_text()


def test_a_review_in_another_account_describes_through_the_reader_role_only(tmp_path):
    release = json.loads((FIXTURES / "release.json").read_text())
    reader = (
        "arn:aws:iam::222222222222:role/ecs-delivery/app/review/production/production-reader-role-1a2b3c4"
    )
    exports, calls, _ = run_review(
        tmp_path,
        [release],
        {"READER_ROLE_ARN": reader, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/creds"},
    )
    # A profile that assumes the reader with CodeBuild's own (container) credentials.
    assert calls[:2] == [
        ["configure", "set", "profile.reader.role_arn", reader],
        ["configure", "set", "profile.reader.credential_source", "EcsContainer"],
    ]
    describes = [c for c in calls if c[0] == "cloudformation"]
    assert describes and all(c[-2:] == ["--profile", "reader"] for c in describes)
    # The registry and the report upload stay in the pipeline account, with the review's own role.
    for call in calls:
        if call[0] in ("s3", "ecr"):
            assert "--profile" not in call
    assert exports["CHANGE_COUNT"] == "3"


def test_a_review_that_cannot_read_the_template_of_a_change_set_with_changes_fails(tmp_path):
    """Were the template left out, the plan's fingerprint would never match the release's."""
    world = GateWorld(tmp_path)
    world.push("release-8c1d2aa", "8c1d2aa")
    release = json.loads((FIXTURES / "release.json").read_text())
    world.serve_pages([release])
    project = review_project(run_stack("prod").mocks).inputs
    # No template served: GetTemplate answers with an error, as a refused call would.
    result = world.run(project, {"PIPELINE_EXECUTION_ID": EXECUTION})
    assert not result.succeeded
    assert "cannot read the template of todobackend-prod-plan (status CREATE_COMPLETE)" in result.output


def test_a_stack_that_does_not_exist_yet_is_reviewed_with_no_old_parameters(tmp_path):
    release = json.loads((FIXTURES / "release.json").read_text())
    result, calls, _ = run_review_project(tmp_path, [release], {"STUB_STACK": "missing"})
    assert result.succeeded, result.output
    assert ["cloudformation", "describe-stacks"] in [c[:2] for c in calls]


def test_a_stack_that_cannot_be_described_fails_the_review_rather_than_showing_every_parameter_new(tmp_path):
    release = json.loads((FIXTURES / "release.json").read_text())
    result, _, _ = run_review_project(tmp_path, [release], {"STUB_STACK": "denied"})
    assert not result.succeeded
    assert "cannot describe todobackend-prod" in result.output
    assert "not authorized to perform: cloudformation:DescribeStacks" in result.output


def test_every_call_on_a_stack_in_another_region_is_made_there(tmp_path):
    """A call left in the pipeline's region would read another stack of the same name there."""
    release = json.loads((FIXTURES / "release.json").read_text())
    result, calls, _ = run_review_project(tmp_path, [release], {"STACK_REGION": "eu-central-1"})
    assert result.succeeded, result.output
    stack_calls = [c for c in calls if c[0] == "cloudformation"]
    assert {c[1] for c in stack_calls} == {"describe-change-set", "get-template", "describe-stacks"}
    assert [c for c in stack_calls if c[-2:] != ["--region", "eu-central-1"]] == []
    # The registry and the report's bucket are the pipeline's own.
    assert [c for c in calls if c[0] != "cloudformation" and "--region" in c] == []
