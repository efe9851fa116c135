"""IAM documents as small pure functions: plain strings in, a policy dict out.

Components join their Outputs with `pulumi.Output.all(...).apply(...)` and call these, so
tests (and the policy linter) can call them directly with any ARNs. Every statement names
its resources; `*` appears only for actions that have no resource form, and says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from components.config import RESERVED_ROLE_PATH

PolicyDocument = dict[str, Any]

# ecr:GetAuthorizationToken and cloudformation:ValidateTemplate have no resource-level
# form in IAM: they can only be granted on "*".
ACTIONS_WITHOUT_RESOURCE_FORM = frozenset({"ecr:GetAuthorizationToken", "cloudformation:ValidateTemplate"})


@dataclass(frozen=True)
class Request:
    """One call AWS makes with a role: action, resource and the request context keys (what
    the permission tests evaluate a role's documents against)."""

    action: str
    resource: str
    context: Mapping[str, Any] = field(default_factory=dict)
    why: str = ""

    def __str__(self) -> str:
        context = f" with {dict(self.context)}" if self.context else ""
        why = f" ({self.why})" if self.why else ""
        return f"{self.action} on {self.resource}{context}{why}"


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
    resource `arn:<partition>:<service>:<region>:<account>:<resource>`.

    Only for services that document setting aws:SourceAccount / aws:SourceArn when they
    assume a role (CodeBuild: "confused deputy prevention" in its user guide). CodePipeline's
    documented service-role trust policy has no condition and no AWS page says it sets the
    keys; CloudFormation documents none for service roles. A condition on a key the service
    never sends would make CreatePipeline (or every deploy) fail with "not authorized to
    perform AssumeRole"; those roles use `service_trust_policy` without conditions."""
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


def _artifact_key_statement(kms_key_arn: Optional[str]) -> Optional[dict[str, Any]]:
    """Use of the artifact store's KMS key, when it has one: decrypt to read artifacts,
    generate data keys to write them (SSE-KMS)."""
    if not kms_key_arn:
        return None
    return statement("ArtifactKey", ["kms:Decrypt", "kms:GenerateDataKey"], [kms_key_arn])


def _bucket_account_condition(account_id: str) -> dict[str, Any]:
    # The bucket must still be ours: a bucket name freed by a deletion can be taken by
    # another account, and artifacts must never be written there.
    return {"StringEquals": {"aws:ResourceAccount": account_id}}


def _pipeline_artifact_statements(
    bucket_arns: Sequence[str], account_id: str, kms_key_arn: Optional[str]
) -> list[dict[str, Any]]:
    """The S3 minimum AWS documents for the CodePipeline service role ("CodePipeline
    service role policy", how-to-custom-role): bucket versioning, ACL and location; object
    get, get-version, put and put-ACL; all on the artifact buckets of this account (one per
    region the pipeline acts in)."""
    condition = _bucket_account_condition(account_id)
    return [
        statement(
            "ArtifactObjects",
            ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:PutObjectAcl"],
            [f"{bucket_arn}/*" for bucket_arn in bucket_arns],
            condition,
        ),
        statement(
            "ArtifactBucket",
            ["s3:GetBucketVersioning", "s3:GetBucketAcl", "s3:GetBucketLocation"],
            list(bucket_arns),
            condition,
        ),
        *filter(None, [_artifact_key_statement(kms_key_arn)]),
    ]


def _codebuild_bucket_statement(bucket_arn: str, account_id: str) -> dict[str, Any]:
    """CodeBuild checks who owns the artifact bucket before it reads or writes there
    (the `S3BucketIdentity` statement of AWS's CodeBuild service role policy,
    setting-up-service-role)."""
    return statement(
        "ArtifactBucketIdentity",
        ["s3:GetBucketAcl", "s3:GetBucketLocation"],
        [bucket_arn],
        _bucket_account_condition(account_id),
    )


def _codebuild_runner_statements(
    log_group_arn: str, image_repository_arn: str, image_sid: str = "PullBuildImage"
) -> list[dict[str, Any]]:
    """What every CodeBuildRunner role needs: write its own log streams and pull its image
    (SERVICE_ROLE pull credentials): the build image, or the small projects' tools image.
    Lambda compute asks the same of a custom image ("Run builds on AWS Lambda compute")."""
    return [
        statement(
            "WriteBuildLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [f"{log_group_arn}:log-stream:*"],
        ),
        # GetAuthorizationToken has no resource form; what the token allows is still
        # limited by the repository statements.
        statement("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]),
        statement(image_sid, ECR_PULL_ACTIONS, [image_repository_arn]),
    ]


def delivery_projects_pattern(partition: str, region: str, account_id: str, name_prefix: str) -> str:
    """Every CodeBuild project of the delivery system `name_prefix` names: the application build
    (`<prefix>-build`) and each environment's small projects (`<prefix>-<kind>-<environment>`),
    all in the pipeline's account and region."""
    return f"arn:{partition}:codebuild:{region}:{account_id}:project/{name_prefix}-*"


def pipeline_role_policy(
    *,
    bucket_arn: str,
    account_id: str,
    connection_arn: str,
    project_arn_pattern: str,
    target_statements: Sequence[dict[str, Any]],
    kms_key_arn: Optional[str] = None,
    approval_topic_arn: Optional[str] = None,
    alarm_arns: Sequence[str] = (),
    action_role_arns: Sequence[str] = (),
    regional_bucket_arns: Sequence[str] = (),
) -> PolicyDocument:
    """What CodePipeline itself does: move artifacts (`regional_bucket_arns`: the artifact stores
    of the other regions it acts in), read the repos through the
    connection, start the delivery system's builds (`project_arn_pattern`: every project named
    `<prefix>-*`, `delivery_projects_pattern`), drive the deploy target (its own statements:
    components/cloudformation.py), notify approvers, and read the alarms its
    CloudWatchAlarm rules watch."""
    return document(
        *_pipeline_artifact_statements([bucket_arn, *regional_bucket_arns], account_id, kms_key_arn),
        statement("UseConnection", [connection_action(connection_arn)], [connection_arn]),
        # One pattern, not one ARN per project: the list grew by up to six ARNs per environment
        # and took the role past IAM's 10,240 characters ("IAM and AWS STS quotas"). The pattern is
        # the delivery system's own namespace, which every deploy role and boundary keeps off
        # (`delivery_system_statement`); docs/security.md says what it grants.
        statement("RunBuilds", ["codebuild:StartBuild", "codebuild:BatchGetBuilds"], [project_arn_pattern]),
        *target_statements,
        statement("NotifyApprovers", ["sns:Publish"], [approval_topic_arn]) if approval_topic_arn else None,
        # CloudWatchAlarm rules run with the pipeline's role. AWS's rule reference names no
        # permission; DescribeAlarms is the call that returns an alarm's state, and it
        # takes alarm ARNs as resources (Service Authorization Reference, CloudWatch).
        statement("ReadWatchedAlarms", ["cloudwatch:DescribeAlarms"], alarm_arns) if alarm_arns else None,
        # Environments in other accounts: the pipeline acts there only through their
        # action roles (each action's roleArn).
        statement("AssumeActionRoles", ["sts:AssumeRole"], action_role_arns) if action_role_arns else None,
    )


# What a principal needs to pull through an ECR pull-through cache rule: the first pull of
# an upstream image creates its repository and imports the image (ECR user guide,
# "IAM permissions required to sync an upstream registry").
PULL_THROUGH_CACHE_ACTIONS = ("ecr:BatchImportUpstreamImage", "ecr:CreateRepository")


def build_role_policy(
    *,
    log_group_arn: str,
    bucket_arn: str,
    account_id: str,
    build_image_repository_arn: str,
    application_repository_arn: str,
    kms_key_arn: Optional[str] = None,
    cache_repository_arn: Optional[str] = None,
    pull_through_cache_repositories: Optional[str] = None,
    docker_hub_secret_arn: Optional[str] = None,
) -> PolicyDocument:
    """What the application build does: log, read its input and write its version
    artifact, pull the build image (SERVICE_ROLE pull credentials), and pull/push the
    application image — on the application repository only; with the options, read and
    write its BuildKit cache, pull Docker Hub images through ECR, read the Docker Hub
    credentials."""
    return document(
        *_codebuild_runner_statements(log_group_arn, build_image_repository_arn),
        # CodeBuild's documented S3 needs for CodePipeline artifacts: get and get-version
        # (input), put (output), and the bucket-identity check.
        statement(
            "ArtifactObjects",
            ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
            [f"{bucket_arn}/*"],
            _bucket_account_condition(account_id),
        ),
        _codebuild_bucket_statement(bucket_arn, account_id),
        _artifact_key_statement(kms_key_arn),
        statement(
            "PushApplicationImage",
            [*ECR_PULL_ACTIONS, *ECR_PUSH_ACTIONS],
            [application_repository_arn],
        ),
        statement("BuildCache", [*ECR_PULL_ACTIONS, *ECR_PUSH_ACTIONS], [cache_repository_arn])
        if cache_repository_arn
        else None,
        statement(
            "PullThroughDockerHub",
            [*ECR_PULL_ACTIONS, *PULL_THROUGH_CACHE_ACTIONS],
            [pull_through_cache_repositories],
        )
        if pull_through_cache_repositories
        else None,
        # CodeBuild resolves SECRETS_MANAGER environment variables with the project role.
        statement("ReadDockerHubCredentials", ["secretsmanager:GetSecretValue"], [docker_hub_secret_arn])
        if docker_hub_secret_arn
        else None,
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


def review_role_policy(
    *,
    log_group_arn: str,
    bucket_arn: str,
    account_id: str,
    tools_image_repository_arn: str,
    read_statement: dict[str, Any],
    report_prefix: str,
    kms_key_arn: Optional[str] = None,
    reader_role_arn: Optional[str] = None,
    release_statements: Sequence[dict[str, Any]] = (),
) -> PolicyDocument:
    """What a review does: log, read its input artifact, pull the tools image, read what it
    reviews (the target's `read_statement`: for CloudFormation, its environment's stack and
    change sets) — nothing else — and write under its own report prefix only. For an
    environment in another account it reads nothing itself: it assumes that account's
    read-only review role instead. `release_statements`: what confirming a release reads in
    the pipeline's account (the image behind the tag, who approved, the release record)."""
    condition = _bucket_account_condition(account_id)
    return document(
        *_codebuild_runner_statements(log_group_arn, tools_image_repository_arn, "PullToolsImage"),
        statement(
            "ReadInputArtifact", ["s3:GetObject", "s3:GetObjectVersion"], [f"{bucket_arn}/*"], condition
        ),
        statement("WriteReport", ["s3:PutObject"], [f"{bucket_arn}/{report_prefix}/*"], condition),
        _codebuild_bucket_statement(bucket_arn, account_id),
        read_statement
        if not reader_role_arn
        else statement("AssumeReviewReader", ["sts:AssumeRole"], [reader_role_arn]),
        _artifact_key_statement(kms_key_arn),
        *release_statements,
    )


def verify_role_policy(
    *,
    log_group_arn: str,
    bucket_arn: str,
    account_id: str,
    tools_image_repository_arn: str,
    kms_key_arn: Optional[str] = None,
) -> PolicyDocument:
    """What a smoke test does in AWS: log, pull the tools image, read its input (the
    application's checkout). It writes no artifact, so it may only decrypt with the key."""
    condition = _bucket_account_condition(account_id)
    return document(
        *_codebuild_runner_statements(log_group_arn, tools_image_repository_arn, "PullToolsImage"),
        statement(
            "ReadInputArtifact", ["s3:GetObject", "s3:GetObjectVersion"], [f"{bucket_arn}/*"], condition
        ),
        _codebuild_bucket_statement(bucket_arn, account_id),
        statement("ArtifactKey", ["kms:Decrypt"], [kms_key_arn]) if kms_key_arn else None,
    )


def recovery_role_policy(
    *,
    log_group_arn: str,
    bucket_arn: str,
    account_id: str,
    tools_image_repository_arn: str,
    recovery_statement: dict[str, Any],
    kms_key_arn: Optional[str] = None,
    recovery_role_arn: Optional[str] = None,
) -> PolicyDocument:
    """What a stack recovery does: log, pull the tools image, read its input (CodeBuild
    downloads it, unused), and what the target needs to clear a failed first create
    (`recovery_statement`: for CloudFormation, read and delete its environment's stack) —
    or, for an environment in another account, assume the recovery role there instead."""
    condition = _bucket_account_condition(account_id)
    return document(
        *_codebuild_runner_statements(log_group_arn, tools_image_repository_arn, "PullToolsImage"),
        statement(
            "ReadInputArtifact", ["s3:GetObject", "s3:GetObjectVersion"], [f"{bucket_arn}/*"], condition
        ),
        _codebuild_bucket_statement(bucket_arn, account_id),
        recovery_statement
        if not recovery_role_arn
        else statement("AssumeRecoveryRole", ["sts:AssumeRole"], [recovery_role_arn]),
        statement("ArtifactKey", ["kms:Decrypt"], [kms_key_arn]) if kms_key_arn else None,
    )


def alarm_arn(partition: str, region: str, account_id: str, alarm_name: str) -> str:
    return f"arn:{partition}:cloudwatch:{region}:{account_id}:alarm:{alarm_name}"


# -- environments in other accounts ----------------------------------------------------------
# The roles two accounts must name to each other live under paths this program owns, so
# that a policy can name "this stack's pipeline role" or "this environment's review
# reader" by an ARN pattern before the role exists: `/ecs-delivery/pipeline/<prefix>/` in
# the pipeline account, `/ecs-delivery/<prefix>/{action,review}/<env>/` in a target
# account. No application stack's roles can live there (config refuses the stack name
# `ecs-delivery`; a stack's roles live under `/<stack>/`).
DELIVERY_ROLE_PATH = f"/{RESERVED_ROLE_PATH}/"


def account_root(partition: str, account_id: str) -> str:
    return f"arn:{partition}:iam::{account_id}:root"


def pipeline_role_path(name_prefix: str) -> str:
    return f"{DELIVERY_ROLE_PATH}pipeline/{name_prefix}/"


def target_roles_path(name_prefix: str, kind: str) -> str:
    """Where a target account keeps this stack's roles of one kind: `action` (the
    pipeline's roles there), `review` (the reviews' readers) or `recovery` (the roles that
    clear a failed first create)."""
    return f"{DELIVERY_ROLE_PATH}{name_prefix}/{kind}/"


def target_role_path(name_prefix: str, kind: str, environment: str) -> str:
    return f"{target_roles_path(name_prefix, kind)}{environment}/"


def role_path_pattern(partition: str, account_id: str, path: str) -> str:
    """Every role under `path` in that account."""
    return f"arn:{partition}:iam::{account_id}:role{path}*"


def named_roles_trust_policy(*, trusted_account_root: str, principal_arns: Sequence[str]) -> PolicyDocument:
    """Let exactly these roles of another account (ARNs or path patterns) assume this one.
    The principal is that account's root, which always exists (IAM refuses a trust naming a
    role that does not exist yet), narrowed by `aws:PrincipalArn`; the other account's own
    policies must still allow each of them `sts:AssumeRole` on this role."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TrustNamedRoles",
                "Effect": "Allow",
                "Principal": {"AWS": trusted_account_root},
                "Action": "sts:AssumeRole",
                "Condition": {"ArnLike": {"aws:PrincipalArn": list(principal_arns)}},
            }
        ],
    }


def artifact_key_policy(
    *,
    pipeline_account_root: str,
    readers: Mapping[str, Sequence[str]],
    writers: Optional[Sequence[str]] = None,
) -> PolicyDocument:
    """The artifact key's policy. The pipeline account's own roles use the key through
    their IAM policies (AWS's default key policy statement, which delegates to IAM); each
    target account's named roles (its action and deploy roles) may decrypt with it, and
    nothing else: they read artifacts, they never write them."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "EnableIamPolicies",
            "Effect": "Allow",
            "Principal": {"AWS": pipeline_account_root},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    for index, (root, arns) in enumerate(sorted(readers.items())):
        statements.append(
            {
                "Sid": f"TargetAccountReaders{index}",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": ["kms:Decrypt", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"ArnLike": {"aws:PrincipalArn": list(arns)}},
            }
        )
    if writers is not None:
        statements.append(artifact_key_writes_statement(writers))
    return {"Version": "2012-10-17", "Statement": statements}


def cross_account_artifact_statements(
    bucket_arn: str, readers: Mapping[str, Sequence[str]]
) -> list[dict[str, Any]]:
    """Bucket-policy statements letting each target account's named roles read artifacts."""
    return [
        {
            "Sid": f"TargetAccountReaders{index}",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": f"{bucket_arn}/*",
            "Condition": {"ArnLike": {"aws:PrincipalArn": list(arns)}},
        }
        for index, (root, arns) in enumerate(sorted(readers.items()))
    ]


def image_pull_policy(pullers: Mapping[str, Sequence[str]]) -> PolicyDocument:
    """The application repository's policy: each target account may pull, through the
    roles of its environments' stacks only (`role/<stack>/*`, where the template puts
    every role, the ECS task execution role included)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": f"TargetAccountPulls{index}",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": list(ECR_PULL_ACTIONS),
                "Condition": {"ArnLike": {"aws:PrincipalArn": list(patterns)}},
            }
            for index, (root, patterns) in enumerate(sorted(pullers.items()))
        ],
    }


# -- the delivery system's stores: only the pipeline writes them ------------------------------
# What reaches a gated environment is read from these stores (the artifact bucket and its key,
# the image repositories, the release record), so nothing an environment controls may write,
# replace or delete there. Each store's resource policy refuses writes to every principal but
# its writers (an explicit Deny wins over any Allow, "Policy evaluation logic", IAM user
# guide); the environments' deploy roles and the boundary of every role their stacks create
# refuse the same writes from the identity side (`protected_stores_statement`).

# Writing: what only the delivery system's own roles do (the deployer does not: it writes no
# artifact, pushes no application image, writes no record).
ARTIFACT_WRITES = ("s3:PutObject*", "s3:ReplicateObject", "s3:RestoreObject")
# Deleting: what the deployer may do besides (an unprotected stack's `pulumi destroy` empties
# the bucket and the repositories before it deletes them).
ARTIFACT_DELETES = ("s3:DeleteObject*", "s3:ReplicateDelete")
# Every ECR action that adds, moves or removes an image or a tag, or deletes the repository or
# changes what its lifecycle expires (Service Authorization Reference, Amazon ECR: the "Write"
# actions on the repository resource type, policy management aside), in the same two kinds.
IMAGE_WRITES = (
    "ecr:BatchImportUpstreamImage",
    "ecr:CompleteLayerUpload",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:ReplicateImage",
    "ecr:UploadLayerPart",
)
IMAGE_DELETES = (
    "ecr:BatchDeleteImage",
    "ecr:DeleteLifecyclePolicy",
    "ecr:DeleteRepository",
    "ecr:PutImageTagMutability",
    "ecr:PutLifecyclePolicy",
)
# Encrypting with the artifact key is writing an artifact (SSE-KMS asks for a data key).
KEY_WRITES = ("kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*")
RECORD_WRITES = (
    "dynamodb:BatchWriteItem",
    "dynamodb:DeleteItem",
    "dynamodb:PartiQLDelete",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
)
RECORD_DELETES = (
    "dynamodb:DeleteTable",
    "dynamodb:RestoreTableFromBackup",
    "dynamodb:RestoreTableToPointInTime",
)
# The registry's own settings, which reach every repository: a registry policy, replication
# into the repositories, pull-through cache rules (what a `<prefix>/...` pull fetches),
# repository creation templates, scanning (Service Authorization Reference, Amazon ECR).
REGISTRY_SETTINGS = (
    "ecr:CreatePullThroughCacheRule",
    "ecr:PutAccountSetting",
    "ecr:CreateRepositoryCreationTemplate",
    "ecr:DeletePullThroughCacheRule",
    "ecr:DeleteRegistryPolicy",
    "ecr:DeleteRepositoryCreationTemplate",
    "ecr:PutRegistryPolicy",
    "ecr:PutRegistryScanningConfiguration",
    "ecr:PutReplicationConfiguration",
    "ecr:UpdatePullThroughCacheRule",
    "ecr:UpdateRepositoryCreationTemplate",
)
# CloudWatch Logs' account-level policies, which reach every log group of the region by name
# prefix with no log group in the request, the delivery system's logs included: a retention
# policy that "overrides the retention setting of the log group", a subscription filter that
# copies every event elsewhere, a transformer or a data-protection policy that rewrites or masks
# them (CloudWatch Logs API Reference, PutAccountPolicy: "grant [it] only to administrators who
# manage logging configuration across the account, not to application teams").
LOG_ACCOUNT_SETTINGS = ("logs:DeleteAccountPolicy", "logs:PutAccountPolicy")
# Takes a target (the notification topic) off every notification rule of the account, the
# pipeline's included, naming no rule (AWS CodeStar Notifications API Reference, "DeleteTarget":
# ForceUnsubscribeAll); it has no resource type (Service Authorization Reference, "Actions,
# resources, and condition keys for AWS CodeStar Notifications"), so only a deny on "*" stops it.
NOTIFICATION_TARGET_SETTINGS = ("codestar-notifications:DeleteTarget",)
# What an environment's roles may still do with the stores: read an artifact (a deploy role
# in another account reads its template configuration), pull an image (an ECS task execution
# role), decrypt with the artifact key. Nothing else, on any of them.
STORE_READS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "kms:Decrypt",
    "kms:DescribeKey",
    "s3:GetObject",
    "s3:GetObjectVersion",
)


def _only_writers(writer_arns: Sequence[str]) -> dict[str, Any]:
    # aws:PrincipalArn is the role's ARN (with its path) for a role session, the user's for a
    # user (IAM user guide, "AWS global condition context keys"); a request without it (an
    # anonymous one) does not match ArnNotLike's values and is refused too.
    return {"ArnNotLike": {"aws:PrincipalArn": sorted(set(writer_arns))}}


def _deny_all_but_writers(sid: str, actions: Sequence[str], writer_arns: Sequence[str], **resource: Any):
    """Deny `actions` to everyone but the writers; with no writers, to everyone (a condition with
    no values is one no service documents accepting)."""
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": "*",
        "Action": sorted(set(actions)),
        **resource,
        **({"Condition": _only_writers(writer_arns)} if writer_arns else {}),
    }


def artifact_store_statements(
    bucket_arn: str, *, writers: Sequence[str], administrators: Sequence[str], reporters: Sequence[str]
) -> list[dict[str, Any]]:
    """The artifact bucket's policy statements: no one but its writers writes or overwrites an
    artifact, no one but they and the administrators deletes one (or one of its versions), and
    under `reviews/` only the reviews write (the reports an approver reads)."""
    return [
        _deny_all_but_writers(
            "OnlyThePipelineWritesArtifacts", ARTIFACT_WRITES, writers, Resource=f"{bucket_arn}/*"
        ),
        _deny_all_but_writers(
            "OnlyThePipelineDeletesArtifacts",
            ARTIFACT_DELETES,
            [*writers, *administrators],
            Resource=f"{bucket_arn}/*",
        ),
        _deny_all_but_writers(
            "OnlyTheReviewsWriteReports", ARTIFACT_WRITES, reporters, Resource=f"{bucket_arn}/reviews/*"
        ),
    ]


def image_store_statements(*, writers: Sequence[str], administrators: Sequence[str]) -> list[dict[str, Any]]:
    """An image repository's policy statements (a repository policy names no resource: it is
    the repository's own): no one but its writers pushes or imports an image; no one but they
    and the administrators deletes an image, a tag or the repository, or changes what its
    lifecycle expires or whether its tags move."""
    return [
        _deny_all_but_writers("OnlyTheDeliverySystemWritesImages", IMAGE_WRITES, writers),
        _deny_all_but_writers(
            "OnlyTheDeliverySystemDeletesImages", IMAGE_DELETES, [*writers, *administrators]
        ),
    ]


def artifact_key_writes_statement(writer_arns: Sequence[str]) -> dict[str, Any]:
    """The artifact key's policy statement: no one but the artifact writers encrypts with it."""
    return _deny_all_but_writers("OnlyThePipelineEncryptsArtifacts", KEY_WRITES, writer_arns, Resource="*")


def release_record_policy(
    *, table_arn: str, writers: Sequence[str], administrators: Sequence[str]
) -> PolicyDocument:
    """The release record table's resource policy: no one but the release recorders writes or
    deletes a record; no one but the administrators (the stack's deployer, who declared it)
    deletes or restores the table."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            _deny_all_but_writers(
                "OnlyTheRecordersWriteReleases", RECORD_WRITES, writers, Resource=table_arn
            ),
            _deny_all_but_writers(
                "OnlyTheDeployerDeletesTheRecord", RECORD_DELETES, administrators, Resource=table_arn
            ),
        ],
    }


def protected_stores_statements(store_arns: Sequence[str]) -> list[dict[str, Any]]:
    """For a role an environment controls (its deploy role, and the boundary of every role its
    stack creates): on the delivery system's stores, nothing but reading an artifact, pulling an
    image and decrypting; and no change to the registry's own settings, which reach every
    repository. Denies, so no managed policy (PowerUserAccess) and no template can widen them."""
    return [
        {
            "Sid": "KeepOffTheDeliveryStores",
            "Effect": "Deny",
            "NotAction": list(STORE_READS),
            "Resource": sorted(set(store_arns)),
        },
        {
            # The registry settings have no resource form but the registry itself ("*").
            "Sid": "KeepOffTheRegistrySettings",
            "Effect": "Deny",
            "Action": sorted(REGISTRY_SETTINGS),
            "Resource": "*",
        },
        {
            # Nor have the log account policies (Service Authorization Reference: no resource type).
            "Sid": "KeepOffTheAccountLogPolicies",
            "Effect": "Deny",
            "Action": list(LOG_ACCOUNT_SETTINGS),
            "Resource": "*",
        },
        {
            "Sid": "KeepOffTheNotificationTargets",
            "Effect": "Deny",
            "Action": list(NOTIFICATION_TARGET_SETTINGS),
            "Resource": "*",
        },
    ]


def delivery_system_statement(*, pipeline_arn: str, project_arn_pattern: str) -> dict[str, Any]:
    """For a deploy role: nothing on this stack's pipeline (no approval, no update, no run) or
    its CodeBuild projects (no rewritten review or confirm). PowerUserAccess allows both."""
    return {
        "Sid": "KeepOffTheDeliverySystem",
        "Effect": "Deny",
        "Action": ["codebuild:*", "codepipeline:*"],
        "Resource": [pipeline_arn, f"{pipeline_arn}/*", project_arn_pattern],
    }


def other_stacks_statement(*, partition: str, account_id: str, stack_names: Sequence[str]) -> dict[str, Any]:
    """For a deploy role: nothing on the stacks of the other environments in its account, in
    any region. CloudFormation is the only one to use the role, but PowerUserAccess allows
    `cloudformation:*` everywhere, and dev's template must not reach production's stack."""
    return {
        "Sid": "KeepOffOtherEnvironmentsStacks",
        "Effect": "Deny",
        "Action": ["cloudformation:*"],
        "Resource": [
            f"arn:{partition}:cloudformation:*:{account_id}:stack/{name}/*"
            for name in sorted(set(stack_names))
        ],
    }


def pipeline_arn(partition: str, region: str, account_id: str, pipeline_name: str) -> str:
    return f"arn:{partition}:codepipeline:{region}:{account_id}:{pipeline_name}"


def approval_action_arn(pipeline: str, stage: str, action: str) -> str:
    """A manual approval action, as IAM names it for PutApprovalResult (CodePipeline user
    guide, "Grant approval permissions to an IAM user in CodePipeline")."""
    return f"{pipeline}/{stage}/{action}"


def approver_policy(*, pipeline: str, approval_action: str) -> PolicyDocument:
    """What an environment's approvers get: answer its approval and no other, and see the
    pipeline they approve in (AWS's example policy for specific pipelines and approval
    actions, same page as above; its ListPipelines, only for the console's list of
    pipelines and without a resource form, is left out)."""
    return document(
        statement("ApproveThisEnvironment", ["codepipeline:PutApprovalResult"], [approval_action]),
        statement(
            "SeeThePipeline",
            [
                "codepipeline:GetPipeline",
                "codepipeline:GetPipelineExecution",
                "codepipeline:GetPipelineState",
            ],
            [pipeline],
        ),
    )


def image_lookup_statement(repository_arn: str) -> dict[str, Any]:
    """Which digest a tag names now (DescribeImages), in the application's repository only."""
    return statement("LookUpReleasedImage", ["ecr:DescribeImages"], [repository_arn])


def approval_lookup_statement(pipeline: str) -> dict[str, Any]:
    """Who answered an approval: ListActionExecutions of this pipeline (each action
    execution's `updatedBy`)."""
    return statement("LookUpApprover", ["codepipeline:ListActionExecutions"], [pipeline])


def approver_group_statement(group_arn: str) -> dict[str, Any]:
    """Who is in an environment's approver group now."""
    return statement("LookUpApproverGroup", ["iam:GetGroup"], [group_arn])


def record_read_statement(*, table_arn: str, environment: str) -> dict[str, Any]:
    """Reading one environment's release records, and no other environment's (the record's
    partition key is the environment: DynamoDB's `dynamodb:LeadingKeys`)."""
    return statement(
        "ReadReleaseRecord",
        ["dynamodb:GetItem", "dynamodb:Query"],
        [table_arn],
        {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [environment]}},
    )


def release_recorder_policy(
    *,
    log_group_arn: str,
    bucket_arn: str,
    account_id: str,
    tools_image_repository_arn: str,
    table_arn: str,
    environment: str,
    application_repository_arn: str,
    kms_key_arn: Optional[str] = None,
) -> PolicyDocument:
    """What recording a release does: log, pull the tools image, read its input (CodeBuild
    downloads it, unused); write this environment's release record, and no other's; mark the
    released image with a tag of its own and take that mark off images past the kept number
    (read a manifest, put it under the new tag, list the tags, delete a tag)."""
    condition = _bucket_account_condition(account_id)
    return document(
        *_codebuild_runner_statements(log_group_arn, tools_image_repository_arn, "PullToolsImage"),
        statement(
            "ReadInputArtifact", ["s3:GetObject", "s3:GetObjectVersion"], [f"{bucket_arn}/*"], condition
        ),
        _codebuild_bucket_statement(bucket_arn, account_id),
        # Write this environment's record, and read it back to know which releases to keep.
        statement(
            "WriteReleaseRecord",
            ["dynamodb:PutItem", "dynamodb:Query"],
            [table_arn],
            {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [environment]}},
        ),
        statement(
            "MarkReleasedImage",
            ["ecr:BatchGetImage", "ecr:PutImage", "ecr:ListImages", "ecr:BatchDeleteImage"],
            [application_repository_arn],
        ),
        statement("ArtifactKey", ["kms:Decrypt"], [kms_key_arn]) if kms_key_arn else None,
    )


def protected_store_arns(
    *,
    partition: str,
    region: str,
    account_id: str,
    artifact_bucket_arns: Sequence[str],
    artifact_key_arn: Optional[str],
    repository_arns: Sequence[str],
    release_table_arn: Optional[str],
    docker_hub_cache_prefix: Optional[str],
    docker_hub_secret_arn: Optional[str],
    hook_patterns: Sequence[str],
    codebuild_logs_pattern: str,
    notification_topic_arn: Optional[str],
) -> list[str]:
    """What no role an environment controls may write (`protected_stores_statements`): every
    store the delivery system reads a release from, and what it builds and tests one with. One
    function for the program (__main__.py, with the stores' ARNs) and for the size refusal
    (components/policy_size.py, with every name at its longest), so the refusal counts the list
    the deploy roles and their boundaries carry. `artifact_bucket_arns`: the pipeline's artifact
    bucket and each other region's, each with its objects. `docker_hub_cache_prefix`: the
    pull-through cache's repositories (in the pipeline's region and account), when the build
    pulls Docker Hub through one: a planted base image would end up in the next reviewed
    commit's image, as would one pulled with replaced credentials (`docker_hub_secret_arn`).
    `hook_patterns`: the lifecycle-hook functions ECS runs before production traffic and their
    logs (`lifecycle_hook.protected_patterns`): a test rewritten from dev's template would pass
    every production release. `codebuild_logs_pattern`: the delivery system's CodeBuild logs,
    what an approver and an incident read of a release. `notification_topic_arn`: the topic
    that asks the approvers and tells of failed and succeeded runs, with every notification rule
    of the pipeline's account (a rule's ARN ends in an id AWS draws, so no narrower pattern names
    the pipeline's before it exists; AWS CodeStar Notifications API Reference,
    "NotificationRuleSummary": `arn:<partition>:codestar-notifications:<region>:<account>:
    notificationrule/<id>`): a forged "approval needed", an outside subscriber reading every
    event, or a deleted rule that leaves a failed release unheard. Any region: assumed, not
    checked, that a rule may target a topic of another region; the wider deny costs an
    environment nothing it is given."""
    cache = (
        [f"arn:{partition}:ecr:{region}:{account_id}:repository/{docker_hub_cache_prefix}/*"]
        if docker_hub_cache_prefix
        else []
    )
    candidates = [
        *(arn for bucket in artifact_bucket_arns for arn in (bucket, f"{bucket}/*")),
        artifact_key_arn,
        *repository_arns,
        release_table_arn,
        *cache,
        docker_hub_secret_arn,
        *hook_patterns,
        codebuild_logs_pattern,
        notification_topic_arn,
        # Its subscriptions (`<topic ARN>:<id>`): SNS's Unsubscribe and SetSubscriptionAttributes
        # act on one, not on the topic (Amazon SNS API Reference, "Unsubscribe"; assumed, not
        # checked, that IAM matches them against the subscription's ARN): the approvers' emails
        # deleted, or filtered so that no request reaches them.
        f"{notification_topic_arn}:*" if notification_topic_arn else None,
        f"arn:{partition}:codestar-notifications:*:{account_id}:notificationrule/*",
    ]
    return [arn for arn in candidates if arn]
