"""The stack recovery of a gated environment: its CodeBuild project, its place first in the
plan stage, and its buildspec run here (tests/support/buildspec.py) with the image's
`recover-stack` against a stub `aws` that answers with each stack status CloudFormation
documents (DescribeStacks, StackStatus) and records every call."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from components.stack_recovery import recovery_buildspec
from tests.conftest import action_of, config_with, only, run_config, shared_scope
from tests.support.aws_stubs import STACK_AWS as STUB_AWS
from tests.support.buildspec import run_buildspec, stub_environment

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope=shared_scope)
def gated():
    environments = [
        {"name": "dev", "stackName": "shop-dev"},
        {
            "name": "production",
            "stackName": "shop-prod",
            "approval": True,
            "approvers": ["arn:aws:iam::123456789012:role/release-managers"],
        },
    ]
    return run_config(config_with(environments=environments), stack="shop").mocks


def test_each_gated_environment_recovers_first_in_its_plan_stage_with_its_own_project(gated):
    project = only(gated, "aws:codebuild/project:Project", "recover-production-project")
    assert project.inputs["name"] == "todobackend-shop-recover-production"
    recover = action_of(gated, "production-plan", "RecoverStack")
    assert recover["runOrder"] == 1
    assert recover["configuration"] == {"ProjectName": "todobackend-shop-recover-production"}
    environment = project.inputs["environment"]
    assert environment["privilegedMode"] is False
    # Lambda compute, the tools image ("Run builds on AWS Lambda compute"): no build timeout of
    # its own, its builds stop at 15 minutes.
    assert (environment["type"], environment["computeType"]) == ("LINUX_LAMBDA_CONTAINER", "BUILD_LAMBDA_2GB")
    assert (
        environment["image"]
        == only(gated, "docker:index/image:Image", "tools-image-image").state["repoDigest"]
    )
    assert environment["environmentVariables"] == [
        {"name": "STACK_NAME", "value": "shop-prod", "type": "PLAINTEXT"}
    ]
    assert "buildTimeout" not in project.inputs
    assert json.loads(project.inputs["source"]["buildspec"])["phases"]["build"]["commands"] == [
        "recover-stack"
    ]
    # An ungated environment replaces its own failed stack (REPLACE_ON_FAILURE): no project.
    assert [r.name for r in gated.resources if r.type == "ecs-delivery:stack_recovery:StackRecovery"] == [
        "recover-production"
    ]


def test_the_recovery_role_reads_and_deletes_only_its_stack(gated):
    document = json.loads(
        only(gated, "aws:iam/rolePolicy:RolePolicy", "recover-production-policy").inputs["policy"]
    )
    statements = {s["Sid"]: s for s in document["Statement"]}
    assert statements["RecoverStack"] == {
        "Sid": "RecoverStack",
        "Effect": "Allow",
        "Action": ["cloudformation:DeleteStack", "cloudformation:DescribeStacks"],
        "Resource": ["arn:aws:cloudformation:us-east-1:123456789012:stack/shop-prod/*"],
    }
    cloudformation = {
        a for s in document["Statement"] for a in s["Action"] if a.startswith("cloudformation:")
    }
    assert cloudformation == {"cloudformation:DescribeStacks", "cloudformation:DeleteStack"}
    assert not any(a.startswith(("iam:", "s3:Put")) for s in document["Statement"] for a in s["Action"])


def recover(tmp_path: Path, status: str, **variables: str):
    bin_dir, work = tmp_path / "bin", tmp_path / "work"
    for folder in (bin_dir, work):
        folder.mkdir(exist_ok=True)
    (bin_dir / "aws").write_text(STUB_AWS)
    (bin_dir / "aws").chmod(0o755)
    shutil.copy(ROOT / "build-image" / "recover-stack", bin_dir / "recover-stack")
    log = tmp_path / "aws.log"
    log.unlink(missing_ok=True)
    environment = {"STACK_NAME": "shop-prod", "STUB_STATUS": status, "STUB_LOG": str(log), **variables}
    result = run_buildspec(
        recovery_buildspec(),
        source_dir=work,
        environment=stub_environment(bin_dir, environment),
        state_dir=tmp_path / "runner",
    )
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result, calls


DESCRIBE = [
    "cloudformation", "describe-stacks", "--stack-name", "shop-prod",
    "--query", "Stacks[0].[StackStatus,StackStatusReason]", "--output", "text",
]  # fmt: skip


def test_a_failed_first_create_is_deleted_so_that_the_change_set_can_create_the_stack(tmp_path):
    result, calls = recover(
        tmp_path, "ROLLBACK_COMPLETE", STUB_REASON="The following resource(s) failed to create: [Service]"
    )
    assert result.succeeded, result.output
    assert calls == [
        DESCRIBE,
        ["cloudformation", "delete-stack", "--stack-name", "shop-prod"],
        ["cloudformation", "wait", "stack-delete-complete", "--stack-name", "shop-prod"],
    ]
    assert "its first create failed (The following resource(s) failed to create: [Service])" in result.output
    assert "shop-prod deleted" in result.output


@pytest.mark.parametrize(
    "status",
    [
        "CREATE_COMPLETE",
        "UPDATE_COMPLETE",
        "UPDATE_ROLLBACK_COMPLETE",
        "IMPORT_COMPLETE",
        "REVIEW_IN_PROGRESS",
    ],
)
def test_a_stack_that_holds_a_release_or_only_a_change_set_is_left_alone(tmp_path, status):
    result, calls = recover(tmp_path, status)
    assert result.succeeded, result.output
    assert calls == [DESCRIBE]


def test_a_stack_that_does_not_exist_yet_needs_nothing(tmp_path):
    result, calls = recover(tmp_path, "missing")
    assert result.succeeded, result.output
    assert calls == [DESCRIBE]
    assert "shop-prod does not exist yet: the change set creates it" in result.output


@pytest.mark.parametrize(
    ("status", "advice"),
    [
        ("ROLLBACK_FAILED", "aws cloudformation delete-stack --stack-name shop-prod"),
        ("DELETE_FAILED", "--retain-resources"),
        ("UPDATE_ROLLBACK_FAILED", "aws cloudformation continue-update-rollback --stack-name shop-prod"),
        ("UPDATE_IN_PROGRESS", "another operation is running on it"),
    ],
)
def test_a_stack_a_person_must_look_at_fails_the_stage_and_is_never_deleted(tmp_path, status, advice):
    result, calls = recover(tmp_path, status, STUB_REASON="Resource handler returned message")
    assert not result.succeeded
    assert calls == [DESCRIBE]
    assert advice in result.output
    assert status in result.output


def test_a_stack_that_cannot_be_described_fails_with_the_reason(tmp_path):
    result, calls = recover(tmp_path, "denied")
    assert not result.succeeded
    assert calls == [DESCRIBE]
    assert "cannot describe shop-prod" in result.output
    assert "not authorized to perform: cloudformation:DescribeStacks" in result.output


RECOVERY_ROLE = (
    "arn:aws:iam::222222222222:role/ecs-delivery/app/recovery/production/production-recover-role-1a2b3c4"
)


def test_in_another_account_every_call_goes_through_the_recovery_role(tmp_path):
    role = RECOVERY_ROLE
    # CodeBuild on EC2 compute: the container credentials endpoint.
    result, calls = recover(
        tmp_path,
        "ROLLBACK_COMPLETE",
        RECOVERY_ROLE_ARN=role,
        AWS_CONTAINER_CREDENTIALS_RELATIVE_URI="/v2/creds",
    )
    assert result.succeeded, result.output
    assert calls[:2] == [
        ["configure", "set", "profile.recovery.role_arn", role],
        ["configure", "set", "profile.recovery.credential_source", "EcsContainer"],
    ]
    stack_calls = calls[2:]
    assert [c[:2] for c in stack_calls] == [
        ["cloudformation", "describe-stacks"],
        ["cloudformation", "delete-stack"],
        ["cloudformation", "wait"],
    ]
    assert all(c[-2:] == ["--profile", "recovery"] for c in stack_calls)


def test_on_lambda_compute_the_recovery_role_is_assumed_with_the_environments_credentials(tmp_path):
    # No container credentials endpoint: the build's own credentials are its environment's
    # (an assumption about Lambda compute, build-image/recover-stack).
    result, calls = recover(tmp_path, "CREATE_COMPLETE", RECOVERY_ROLE_ARN=RECOVERY_ROLE)
    assert result.succeeded, result.output
    assert calls[:2] == [
        ["configure", "set", "profile.recovery.role_arn", RECOVERY_ROLE],
        ["configure", "set", "profile.recovery.credential_source", "Environment"],
    ]


def test_every_call_on_a_stack_in_another_region_is_made_there(tmp_path):
    result, calls = recover(tmp_path, "ROLLBACK_COMPLETE", STACK_REGION="eu-central-1")
    assert result.succeeded, result.output
    assert [c[1] for c in calls] == ["describe-stacks", "delete-stack", "wait"]
    assert [c for c in calls if c[-2:] != ["--region", "eu-central-1"]] == []
