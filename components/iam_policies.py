"""IAM documents as small pure functions: plain strings in, a policy dict out.

Components join their Outputs with `pulumi.Output.all(...).apply(...)` and call these, so
tests (and the policy linter) can call them directly with any ARNs. Every statement names
its resources; `*` appears only for actions that have no resource form, and says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

PolicyDocument = dict[str, Any]

# ecr:GetAuthorizationToken and cloudformation:ValidateTemplate have no resource-level
# form in IAM: they can only be granted on "*".
ACTIONS_WITHOUT_RESOURCE_FORM = frozenset({"ecr:GetAuthorizationToken", "cloudformation:ValidateTemplate"})

ECR_PULL_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
)
ECR_PUSH_ACTIONS = (
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
)
CLOUDFORMATION_DEPLOY_ACTIONS = (
    "cloudformation:CreateStack",
    "cloudformation:UpdateStack",
    "cloudformation:DeleteStack",
    "cloudformation:DescribeStacks",
    "cloudformation:DescribeStackEvents",
    "cloudformation:CreateChangeSet",
    "cloudformation:DescribeChangeSet",
    "cloudformation:ExecuteChangeSet",
    "cloudformation:DeleteChangeSet",
    "cloudformation:SetStackPolicy",
)


# Services this program trusts whose documentation does not promise that they set
# aws:SourceAccount / aws:SourceArn when they assume a role: conditioning their trust on
# those keys could lock them out. Every other trust policy carries both keys.
SERVICES_WITHOUT_SOURCE_KEYS = frozenset({"cloudformation.amazonaws.com"})


def document(*statements: Optional[dict[str, Any]]) -> PolicyDocument:
    return {"Version": "2012-10-17", "Statement": [s for s in statements if s]}


def statement(
    sid: str,
    actions: Sequence[str],
    resources: Sequence[str],
    condition: Optional[dict[str, Any]] = None,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": sorted(set(actions)),
        "Resource": list(dict.fromkeys(resources)),
    }
    if condition:
        result["Condition"] = condition
    return result


def service_trust_policy(
    service: str, *, account_id: Optional[str] = None, source_arn: Optional[str] = None
) -> PolicyDocument:
    """Trust a service principal; with `account_id` / `source_arn`, only when it acts for
    this account / this resource (confused-deputy protection, where the service sets the
    keys)."""
    condition: dict[str, Any] = {}
    if account_id:
        condition["StringEquals"] = {"aws:SourceAccount": account_id}
    if source_arn:
        condition["ArnLike"] = {"aws:SourceArn": source_arn}
    trust: dict[str, Any] = {
        "Sid": "TrustService",
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if condition:
        trust["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [trust]}


def resource_trust_policy(
    *, service: str, partition: str, region: str, account_id: str, resource: str
) -> PolicyDocument:
    """Trust `<service>.amazonaws.com` only when it acts for this account and for the one
    resource `arn:<partition>:<service>:<region>:<account>:<resource>`."""
    return service_trust_policy(
        f"{service}.amazonaws.com",
        account_id=account_id,
        source_arn=f"arn:{partition}:{service}:{region}:{account_id}:{resource}",
    )


def connection_action(connection_arn: str) -> str:
    """`UseConnection` under the IAM prefix of the connection's own service: a
    `codestar-connections` ARN is not authorised by `codeconnections:` and vice versa."""
    service = connection_arn.split(":")[2]
    if service not in ("codestar-connections", "codeconnections"):
        raise ValueError(f"not a connection ARN: {connection_arn!r}")
    return f"{service}:UseConnection"


def stack_arn(partition: str, region: str, account_id: str, stack_name: str) -> str:
    return f"arn:{partition}:cloudformation:{region}:{account_id}:stack/{stack_name}/*"


def _artifact_key_statement(kms_key_arn: Optional[str]) -> Optional[dict[str, Any]]:
    """Use of the artifact store's KMS key, when it has one."""
    if not kms_key_arn:
        return None
    return statement("ArtifactKey", ["kms:Decrypt", "kms:GenerateDataKey"], [kms_key_arn])


def _artifact_statements(bucket_arn: str, kms_key_arn: Optional[str]) -> list[dict[str, Any]]:
    statements = [
        statement(
            "ArtifactObjects",
            ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
            [f"{bucket_arn}/*"],
        ),
        statement("ArtifactBucket", ["s3:GetBucketVersioning", "s3:GetBucketLocation"], [bucket_arn]),
    ]
    key = _artifact_key_statement(kms_key_arn)
    return [*statements, key] if key else statements


def _codebuild_runner_statements(log_group_arn: str, build_image_repository_arn: str) -> list[dict[str, Any]]:
    """What every CodeBuildRunner role needs: write its own log streams and pull the build
    image (SERVICE_ROLE pull credentials)."""
    return [
        statement(
            "WriteBuildLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [f"{log_group_arn}:log-stream:*"],
        ),
        # GetAuthorizationToken has no resource form; what the token allows is still
        # limited by the repository statements.
        statement("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]),
        statement("PullBuildImage", ECR_PULL_ACTIONS, [build_image_repository_arn]),
    ]


def pipeline_role_policy(
    *,
    bucket_arn: str,
    connection_arn: str,
    build_project_arns: Sequence[str],
    stack_arns: Sequence[str],
    deploy_role_arn: str,
    kms_key_arn: Optional[str] = None,
    approval_topic_arn: Optional[str] = None,
) -> PolicyDocument:
    """What CodePipeline itself does: move artifacts, read the repos through the
    connection, start builds, drive CloudFormation on the environment stacks, hand it the
    deploy role, and notify approvers."""
    return document(
        *_artifact_statements(bucket_arn, kms_key_arn),
        statement("UseConnection", [connection_action(connection_arn)], [connection_arn]),
        statement("RunBuilds", ["codebuild:StartBuild", "codebuild:BatchGetBuilds"], build_project_arns),
        statement("DeployStacks", CLOUDFORMATION_DEPLOY_ACTIONS, stack_arns) if stack_arns else None,
        # ValidateTemplate has no resource form.
        statement("ValidateTemplates", ["cloudformation:ValidateTemplate"], ["*"]),
        statement(
            "PassDeployRole",
            ["iam:PassRole"],
            [deploy_role_arn],
            {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}},
        ),
        statement("NotifyApprovers", ["sns:Publish"], [approval_topic_arn]) if approval_topic_arn else None,
    )


def build_role_policy(
    *,
    log_group_arn: str,
    bucket_arn: str,
    build_image_repository_arn: str,
    application_repository_arn: str,
    kms_key_arn: Optional[str] = None,
) -> PolicyDocument:
    """What the application build does: log, read its input and write its version
    artifact, pull the build image (SERVICE_ROLE pull credentials), and pull/push the
    application image — on the application repository only."""
    return document(
        *_codebuild_runner_statements(log_group_arn, build_image_repository_arn),
        *_artifact_statements(bucket_arn, kms_key_arn),
        statement(
            "PushApplicationImage",
            [*ECR_PULL_ACTIONS, *ECR_PUSH_ACTIONS],
            [application_repository_arn],
        ),
    )


def notification_topic_policy(*, topic_arn: str, account_id: str, publisher_role_arn: str) -> PolicyDocument:
    """Who may publish to the notification topic: CodeStar Notifications, for rules of
    this account only, and the pipeline role (manual approval requests)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PipelineEvents",
                "Effect": "Allow",
                "Principal": {"Service": "codestar-notifications.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            },
            {
                "Sid": "ApprovalRequests",
                "Effect": "Allow",
                "Principal": {"AWS": publisher_role_arn},
                "Action": "sns:Publish",
                "Resource": topic_arn,
            },
        ],
    }


# Services an ECS application stack hands its roles to: task and execution roles, the
# service's own role, container instances, custom-resource functions, scaling, schedules.
STACK_ROLE_SERVICES = (
    "application-autoscaling.amazonaws.com",
    "autoscaling.amazonaws.com",
    "ec2.amazonaws.com",
    "ecs-tasks.amazonaws.com",
    "ecs.amazonaws.com",
    "events.amazonaws.com",
    "lambda.amazonaws.com",
)


def review_role_policy(
    *,
    log_group_arn: str,
    bucket_arn: str,
    build_image_repository_arn: str,
    stack_arn: str,
    report_prefix: str,
    kms_key_arn: Optional[str] = None,
) -> PolicyDocument:
    """What a change-set review does: log, read its input artifact, pull the build image,
    describe its own environment's stack and change sets — nothing else — and write under
    its own report prefix only."""
    return document(
        *_codebuild_runner_statements(log_group_arn, build_image_repository_arn),
        statement("ReadInputArtifact", ["s3:GetObject", "s3:GetObjectVersion"], [f"{bucket_arn}/*"]),
        statement("WriteReport", ["s3:PutObject"], [f"{bucket_arn}/{report_prefix}/*"]),
        statement(
            "DescribeChangeSet",
            ["cloudformation:DescribeChangeSet", "cloudformation:DescribeStacks"],
            [stack_arn],
        ),
        _artifact_key_statement(kms_key_arn),
    )


def deploy_role_iam_policy(*, partition: str, account_id: str, stack_names: Sequence[str]) -> PolicyDocument:
    """IAM for the roles the application stacks create. CloudFormation names a role it
    auto-names `<stack>-<LogicalId>-<suffix>`, so the deploy role may manage and pass only
    roles carrying one of its stacks' names — not every role in the account — and pass
    them only to the services an ECS application runs on."""
    role_arns = [f"arn:{partition}:iam::{account_id}:role/{name}-*" for name in stack_names]
    return document(
        statement(
            "ManageStackRoles",
            [
                "iam:CreateRole",
                "iam:DeleteRole",
                "iam:GetRole",
                "iam:UpdateRole",
                "iam:UpdateAssumeRolePolicy",
                "iam:TagRole",
                "iam:UntagRole",
                "iam:PutRolePolicy",
                "iam:GetRolePolicy",
                "iam:DeleteRolePolicy",
                "iam:AttachRolePolicy",
                "iam:DetachRolePolicy",
            ],
            role_arns,
        ),
        statement(
            "PassStackRoles",
            ["iam:PassRole"],
            role_arns,
            {"StringEquals": {"iam:PassedToService": list(STACK_ROLE_SERVICES)}},
        ),
    )
