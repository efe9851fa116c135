"""The change-set review: its CodeBuild project and role, its place in the pipeline, and
its inline buildspec executed here against a stub `aws` command."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from components.change_set_review import EXPORTED_VARIABLES
from tests.conftest import action_of, actions_of, only, policy, run_config, run_stack, shared_scope
from tests.support.buildspec import run_buildspec, stub_environment
from tests.test_changeset_report import FIXTURES, hundreds_of_changes

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope=shared_scope)
def prod():
    return run_stack("prod").mocks


def review_project(mocks, environment: str = "production"):
    return only(mocks, "aws:codebuild/project:Project", f"review-{environment}-project")


def test_production_reads_change_set_review_approval_execute(prod):
    create, review, approve, execute, _verify = actions_of(prod, "production")
    assert [(a["name"], a["runOrder"]) for a in (create, review, approve, execute)] == [
        ("CreateChangeSet", 1),
        ("ReviewChangeSet", 2),
        ("Approve", 3),
        ("ExecuteChangeSet", 4),
    ]
    assert (review["category"], review["provider"]) == ("Build", "CodeBuild")
    assert review["configuration"]["ProjectName"] == review_project(prod).state["name"]
    assert review["namespace"] == "Review-production"
    assert review["inputArtifacts"] == ["InfrastructureSource"]
    assert json.loads(review["configuration"]["EnvironmentVariables"]) == [
        {"name": "PIPELINE_EXECUTION_ID", "value": "#{codepipeline.PipelineExecutionId}"},
        {"name": "APP_COMMIT", "value": "#{AppSource.CommitId}"},
    ]


def test_the_approval_carries_the_review_variables(prod):
    approve = action_of(prod, "production", "Approve")["configuration"]
    assert approve["CustomData"].startswith("#{Review-production.REVIEW_SUMMARY}")
    assert approve["ExternalEntityLink"] == "#{Review-production.CHANGE_SET_URL}"
    assert EXPORTED_VARIABLES == (
        "REVIEW_SUMMARY",
        "CHANGE_COUNT",
        "REPLACEMENT_COUNT",
        "REMOVAL_COUNT",
        "IMAGE_TAG",
        "CHANGE_SET_URL",
        "REPORT_URL",
    )


def test_ungated_environments_get_no_review(prod):
    assert [a["name"] for a in actions_of(prod, "dev")] == ["Deploy", "Verify"]
    assert [r.name for r in prod.resources if r.type == "ecs-delivery:change_set_review:ChangeSetReview"] == [
        "review-production"
    ]


def test_every_gated_environment_gets_its_own_review():
    environments = [
        {"name": "dev", "stackName": "shop-dev"},
        {"name": "staging", "stackName": "shop-staging", "approval": True},
        {"name": "production", "stackName": "shop-prod", "approval": True},
    ]
    from tests.conftest import config_with

    mocks = run_config(config_with(environments=environments)).mocks
    for environment, stack in (("staging", "shop-staging"), ("production", "shop-prod")):
        project = review_project(mocks, environment)
        variables = {v["name"]: v["value"] for v in project.inputs["environment"]["environmentVariables"]}
        assert variables["STACK_NAME"] == stack
        assert (
            variables["CHANGE_SET_NAME"]
            == action_of(mocks, environment, "CreateChangeSet")["configuration"]["ChangeSetName"]
        )
        assert (
            action_of(mocks, environment, "ReviewChangeSet")["configuration"]["ProjectName"]
            == project.state["name"]
        )


def test_review_project_is_small_unprivileged_and_pinned(prod):
    project = review_project(prod).inputs
    environment = project["environment"]
    assert environment["privilegedMode"] is False
    assert environment["computeType"] == "BUILD_GENERAL1_SMALL"
    assert environment["image"] == only(prod, "docker:index/image:Image").state["repoDigest"]
    assert environment["imagePullCredentialsType"] == "SERVICE_ROLE"
    variables = {v["name"]: v["value"] for v in environment["environmentVariables"]}
    assert variables == {
        "ENVIRONMENT": "production",
        "STACK_NAME": "todobackend-prod",
        "CHANGE_SET_NAME": "todobackend-prod-pipeline",
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

STUB_AWS = r'''#!/usr/bin/env python3
"""Stands in for the AWS CLI: serves fixture pages, records every call."""
import json, os, shutil, sys
args = sys.argv[1:]
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
if args[:2] == ["cloudformation", "describe-stacks"]:
    sys.stdout.write(open(os.environ["STUB_STACK"]).read())
elif args[:2] == ["cloudformation", "describe-change-set"]:
    token = args[args.index("--next-token") + 1] if "--next-token" in args else "page-1"
    sys.stdout.write(open(os.path.join(os.environ["STUB_PAGES"], token + ".json")).read())
elif args[:2] == ["configure", "set"]:
    pass
elif args[:2] == ["s3", "cp"]:
    destination = os.path.join(os.environ["STUB_S3"], args[3].removeprefix("s3://"))
    shutil.copytree(args[2], destination, dirs_exist_ok=True)
else:
    sys.exit(f"unexpected aws call: {args}")
'''


def run_review(
    tmp_path: Path, pages: list[dict], extra: dict[str, str] | None = None
) -> tuple[dict[str, str], list[list[str]], Path]:
    """Run the review project's inline buildspec as CodeBuild does (tests/support/buildspec.py),
    with the renderer from build-image/ and a stub `aws` that serves the pages."""
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
    assert result.succeeded, result.output
    calls = [json.loads(line) for line in (tmp_path / "aws.log").read_text().splitlines()]
    return (
        result.exported,
        calls,
        s3 / variables["REPORT_BUCKET"] / "reviews" / "production" / environment["PIPELINE_EXECUTION_ID"],
    )


def test_buildspec_describes_renders_uploads_and_exports(tmp_path):
    release = json.loads((FIXTURES / "release.json").read_text())
    exports, calls, uploaded = run_review(tmp_path, [release])
    assert calls[0][:2] == ["cloudformation", "describe-stacks"]
    assert calls[1] == [
        "cloudformation", "describe-change-set", "--stack-name", "todobackend-prod",
        "--change-set-name", "todobackend-prod-pipeline", "--output", "json",
    ]  # fmt: skip
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
