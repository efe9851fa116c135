"""docs/security.md's organisation guard: the service control policy it gives parses, names
only actions IAM knows (parliament's copy of the Service Authorization Reference), denies and
never grants, and guards what this program declares: the approvals of a pipeline and the
actions that would undo the stores' resource policies."""

from __future__ import annotations

import json
from pathlib import Path

import parliament

from components import iam_policies

SECURITY = Path(__file__).resolve().parent.parent / "docs" / "security.md"


def guard() -> dict:
    text = SECURITY.read_text().split("<!-- scp:", 1)[1]
    return json.loads(text.split("```json\n", 1)[1].split("```", 1)[0])


def test_the_guard_is_a_valid_deny_only_policy_of_known_actions():
    policy = guard()
    assert policy["Version"] == "2012-10-17"
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Deny", statement["Sid"]
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            assert parliament.expand_action(action), action
        assert "ArnNotLike" in statement["Condition"], statement["Sid"]


def test_the_guard_covers_the_approvals_and_every_policy_the_stores_carry():
    statements = {s["Sid"]: s for s in guard()["Statement"]}
    assert statements["OnlyTheApproversApprove"]["Action"] == "codepipeline:PutApprovalResult"
    changes = set(statements["OnlyTheDeployerChangesTheDeliverySystem"]["Action"])
    # Each resource policy this program writes can be replaced or removed by one action of
    # its service (Service Authorization Reference): the guard names each.
    assert {
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
        "ecr:SetRepositoryPolicy",
        "ecr:DeleteRepositoryPolicy",
        "dynamodb:PutResourcePolicy",
        "dynamodb:DeleteResourcePolicy",
        "kms:PutKeyPolicy",
    } <= changes
    # ... and the pipeline and projects the confirm and the record run in.
    assert {"codepipeline:UpdatePipeline", "codebuild:UpdateProject"} <= changes
    # ... what decides which images and artifacts are kept, and the registry's own settings,
    # which the stores' policies cannot refuse (an administrator's call, not a write).
    assert {
        "s3:PutLifecycleConfiguration",
        "ecr:PutLifecyclePolicy",
        "ecr:PutImageTagMutability",
        "dynamodb:UpdateContinuousBackups",
        "kms:ScheduleKeyDeletion",
    } <= changes
    # The writes the stores refuse are not the guard's business: the stores refuse them.
    assert not changes & {"s3:PutObject", "ecr:PutImage", *iam_policies.RECORD_WRITES}
    # Named stores, not "*": the same actions on the application's own bucket, key or table are
    # its stack's business (a deploy role's, within its boundary).
    resources = statements["OnlyTheDeployerChangesTheDeliverySystem"]["Resource"]
    assert "*" not in resources
    assert {r.split(":")[2] for r in resources} == {
        "codepipeline",
        "codebuild",
        "s3",
        "ecr",
        "dynamodb",
        "kms",
    }
    # The registry's settings have no resource of their own: every one the deploy roles deny
    # themselves, the guard denies everyone but the deployer.
    registry = statements["OnlyTheDeployerChangesTheRegistry"]
    assert registry["Resource"] == "*"
    assert set(iam_policies.REGISTRY_SETTINGS) <= set(registry["Action"])


def test_the_guard_lets_only_the_pipeline_run_the_projects_and_keeps_the_delivery_roles():
    statements = {s["Sid"]: s for s in guard()["Statement"]}
    builds = statements["OnlyThePipelineRunsTheProjects"]
    # Every way to run a project (CodeBuild API reference): a start or a retry, single or batch.
    assert set(builds["Action"]) == {
        "codebuild:StartBuild",
        "codebuild:StartBuildBatch",
        "codebuild:RetryBuild",
        "codebuild:RetryBuildBatch",
    }
    assert builds["Resource"] == "arn:aws:codebuild:*:111122223333:project/todobackend-prod-*"
    roles = statements["OnlyTheDeployerChangesTheDeliveryRoles"]
    # Who may act as a delivery role passes every store's policy: its trust and its policies.
    assert {"iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy", "iam:AttachRolePolicy"} <= set(roles["Action"])
    assert "arn:aws:iam::111122223333:role/ecs-delivery/*" in roles["Resource"]


def test_the_guard_keeps_the_gated_stack_to_the_pipeline_and_rollbacks_to_the_release_managers():
    statements = {s["Sid"]: s for s in guard()["Statement"]}
    stack = statements["OnlyThePipelineChangesTheGatedStacks"]
    # Every call that changes a stack's resources or what protects them (CloudFormation API
    # reference), by anyone but the pipeline (and the recovery, which deletes a failed create).
    assert {
        "cloudformation:UpdateStack",
        "cloudformation:DeleteStack",
        "cloudformation:CreateChangeSet",
        "cloudformation:ExecuteChangeSet",
        "cloudformation:SetStackPolicy",
        "cloudformation:ExecuteStackRefactor",
    } <= set(stack["Action"])
    assert stack["Resource"] == "arn:aws:cloudformation:*:111122223333:stack/todobackend-prod/*"
    admitted = stack["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
    # The pipeline role lives under /ecs-delivery/pipeline/<application>-<stack>/ (the
    # program's role path; tests/test_least_privilege.py holds the declared role to it).
    assert "arn:aws:iam::111122223333:role/ecs-delivery/pipeline/todobackend-prod/*" in admitted
    rollback = statements["OnlyTheReleaseManagersRollBack"]
    assert rollback["Action"] == "codepipeline:RollbackStage"
    assert (
        rollback["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
        == statements["OnlyTheApproversApprove"]["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
    )
    group = statements["OnlyIdentityAdministratorsChangeTheApproverGroup"]
    assert set(group["Action"]) == {"iam:AddUserToGroup", "iam:RemoveUserFromGroup"}
