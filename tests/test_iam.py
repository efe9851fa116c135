"""IAM for each role, read from the policies the program declares."""

from __future__ import annotations

import json
from pathlib import Path

import parliament
import pytest

from components import iam_policies
from tests.conftest import BOOK_CONFIG, all_of, config_with, only, policy, run_config, run_stack, shared_scope
from tests.support.permissions import parliament_findings

ACCOUNT = "123456789012"
REGION = "us-east-1"
# The services an ECS application stack hands its roles to, each as its documentation
# names its principal: Application Auto Scaling, EC2 Auto Scaling, EC2 instances, ECS
# tasks, ECS, EventBridge, Lambda, RDS enhanced monitoring.
STACK_ROLE_SERVICES = [
    "application-autoscaling.amazonaws.com",
    "autoscaling.amazonaws.com",
    "ec2.amazonaws.com",
    "ecs-tasks.amazonaws.com",
    "ecs.amazonaws.com",
    "events.amazonaws.com",
    "lambda.amazonaws.com",
    "monitoring.rds.amazonaws.com",
]


@pytest.fixture(scope=shared_scope)
def book():
    return run_config(BOOK_CONFIG, stack="book").mocks


def statements_by_sid(document: dict) -> dict[str, dict]:
    return {s["Sid"]: s for s in document["Statement"]}


def role_policy(mocks, name: str) -> dict:
    return policy(only(mocks, "aws:iam/rolePolicy:RolePolicy", name))


def trust(mocks, role: str) -> dict:
    return policy(only(mocks, "aws:iam/role:Role", role), "assumeRolePolicy")


def test_build_role_is_trusted_by_codebuild_for_this_project_only(book):
    project_arn = only(book, "aws:codebuild/project:Project", "build-project").state["arn"]
    (statement,) = trust(book, "build-role")["Statement"]
    assert statement["Principal"] == {"Service": "codebuild.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": project_arn},
    }


def test_build_role_can_push_to_the_application_repository_only(book):
    statements = statements_by_sid(role_policy(book, "build-policy"))
    app_repo = only(book, "aws:ecr/repository:Repository", "app-image-repository").state["arn"]
    build_repo = only(book, "aws:ecr/repository:Repository", "build-image-ecr-repository").state["arn"]
    log_group = only(book, "aws:cloudwatch/logGroup:LogGroup", "build-logs").state["arn"]
    bucket = only(book, "aws:s3/bucket:Bucket").state["arn"]
    assert statements["PushApplicationImage"]["Resource"] == [app_repo]
    # ECR's pull (BatchCheckLayerAvailability, GetDownloadUrlForLayer, BatchGetImage) and push
    # (InitiateLayerUpload, UploadLayerPart, CompleteLayerUpload, PutImage) actions, as the
    # ECR user guide lists them for `docker push`.
    assert statements["PushApplicationImage"]["Action"] == [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:CompleteLayerUpload",
        "ecr:GetDownloadUrlForLayer",
        "ecr:InitiateLayerUpload",
        "ecr:PutImage",
        "ecr:UploadLayerPart",
    ]
    assert statements["PullBuildImage"]["Resource"] == [build_repo]
    assert statements["PullBuildImage"]["Action"] == [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
    ]
    assert statements["EcrLogin"] == {
        "Sid": "EcrLogin",
        "Effect": "Allow",
        "Action": ["ecr:GetAuthorizationToken"],
        "Resource": ["*"],
    }
    assert statements["WriteBuildLogs"]["Resource"] == [f"{log_group}:log-stream:*"]
    assert statements["WriteBuildLogs"]["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statements["ArtifactObjects"]["Resource"] == [f"{bucket}/*"]
    cache_repo = only(book, "aws:ecr/repository:Repository", "build-cache-repository").state["arn"]
    assert cache_repo.endswith(":repository/todobackend/build-cache")
    pushes = [s for s in statements.values() if "ecr:PutImage" in s["Action"]]
    # The application image and its BuildKit cache; never the build image.
    assert [s["Resource"] for s in pushes] == [[app_repo], [cache_repo]]


def test_pipeline_role_trust_is_the_one_aws_documents(book):
    # AWS's CodePipeline service-role trust policy (pipelines-create-service-role-cli) has
    # no condition; a condition on keys CodePipeline is not documented to set could make
    # CreatePipeline fail with "not authorized to perform AssumeRole".
    assert trust(book, "delivery-role") == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TrustService",
                "Effect": "Allow",
                "Principal": {"Service": "codepipeline.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def test_pipeline_role_statements_name_their_resources(book):
    statements = statements_by_sid(role_policy(book, "delivery-policy"))
    connection = only(book, "aws:codeconnections/connection:Connection").state["arn"]
    project = only(book, "aws:codebuild/project:Project", "build-project").state["arn"]
    review = only(book, "aws:codebuild/project:Project", "review-production-project").state["arn"]
    recovery = only(book, "aws:codebuild/project:Project", "recover-production-project").state["arn"]
    record = only(book, "aws:codebuild/project:Project", "record-production-project").state["arn"]
    dev_role = only(book, "aws:iam/role:Role", "deploy-dev-role").state["arn"]
    prod_role = only(book, "aws:iam/role:Role", "deploy-production-role").state["arn"]
    # The console says which stack and environment each deploy role is for.
    assert only(book, "aws:iam/role:Role", "deploy-production-role").inputs["description"] == (
        "CloudFormation: deploy the todobackend-prod stack (production)"
    )
    assert statements["UseConnection"]["Action"] == ["codeconnections:UseConnection"]
    assert statements["UseConnection"]["Resource"] == [connection]
    # One pattern for the delivery system's projects (`<application>-<stack>-*`), which holds
    # each of them.
    assert statements["RunBuilds"]["Resource"] == [
        f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/todobackend-book-*"
    ]
    assert [p.rsplit("/", 1)[1] for p in (project, review, recovery, record)] == [
        "todobackend-book-build",
        "todobackend-book-review-production",
        "todobackend-book-recover-production",
        "todobackend-book-record-production",
    ]
    # The CodeBuild action's documented calls, spelled as IAM names them.
    assert statements["RunBuilds"]["Action"] == ["codebuild:BatchGetBuilds", "codebuild:StartBuild"]
    assert statements["DeployStacks"]["Resource"] == [
        f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/todobackend-dev/*",
        f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/todobackend-prod/*",
    ]
    assert {"cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet"} <= set(
        statements["DeployStacks"]["Action"]
    )
    assert statements["PassDeployRoles"] == {
        "Sid": "PassDeployRoles",
        "Effect": "Allow",
        "Action": ["iam:PassRole"],
        "Resource": [dev_role, prod_role],
        "Condition": {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}},
    }
    assert statements["ValidateTemplates"]["Resource"] == ["*"]


def test_artifact_access_is_the_documented_minimum_in_this_account(book):
    bucket = only(book, "aws:s3/bucket:Bucket").state["arn"]
    own_account = {"StringEquals": {"aws:ResourceAccount": ACCOUNT}}
    # CodePipeline service role policy (how-to-custom-role): AllowS3BucketAccess and
    # AllowS3ObjectAccess.
    pipeline = statements_by_sid(role_policy(book, "delivery-policy"))
    assert pipeline["ArtifactBucket"]["Action"] == [
        "s3:GetBucketAcl",
        "s3:GetBucketLocation",
        "s3:GetBucketVersioning",
    ]
    assert pipeline["ArtifactBucket"]["Resource"] == [bucket]
    assert pipeline["ArtifactObjects"]["Action"] == [
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:PutObject",
        "s3:PutObjectAcl",
    ]
    assert pipeline["ArtifactObjects"]["Resource"] == [f"{bucket}/*"]
    # CodeBuild service role policy (setting-up-service-role): S3GetObjectPolicy,
    # S3PutObjectPolicy, S3BucketIdentity.
    build = statements_by_sid(role_policy(book, "build-policy"))
    assert build["ArtifactObjects"]["Action"] == ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"]
    assert build["ArtifactBucketIdentity"]["Action"] == ["s3:GetBucketAcl", "s3:GetBucketLocation"]
    assert build["ArtifactBucketIdentity"]["Resource"] == [bucket]
    review = statements_by_sid(role_policy(book, "review-production-policy"))
    assert review["ReadInputArtifact"]["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]
    assert review["WriteReport"] == {
        "Sid": "WriteReport",
        "Effect": "Allow",
        "Action": ["s3:PutObject"],
        "Resource": [f"{bucket}/reviews/production/*"],
        "Condition": own_account,
    }
    assert review["ArtifactBucketIdentity"]["Action"] == ["s3:GetBucketAcl", "s3:GetBucketLocation"]
    for statements in (pipeline, build, review):
        for statement in statements.values():
            if any(action.startswith("s3:") for action in statement["Action"]):
                assert statement["Condition"] == own_account, statement


def test_every_pass_role_is_conditioned_on_the_receiving_service(book):
    dev_role = only(book, "aws:iam/role:Role", "deploy-dev-role").state["arn"]
    prod_role = only(book, "aws:iam/role:Role", "deploy-production-role").state["arn"]
    passes = {
        resource.name: statement
        for resource in all_of(book, "aws:iam/rolePolicy:RolePolicy")
        for statement in policy(resource)["Statement"]
        if statement["Effect"] == "Allow" and "iam:PassRole" in statement["Action"]
    }
    assert set(passes) == {"delivery-policy", "deploy-dev-iam", "deploy-production-iam"}
    # The pipeline may pass the deploy roles, to CloudFormation, and nothing else.
    assert passes["delivery-policy"]["Resource"] == [dev_role, prod_role]
    # CloudFormation may pass its own stack's roles, to the services an ECS app runs on.
    for environment, stack in (("dev", "todobackend-dev"), ("production", "todobackend-prod")):
        statement = passes[f"deploy-{environment}-iam"]
        assert statement["Sid"] == "PassStackRoles"
        assert statement["Resource"] == [f"arn:aws:iam::{ACCOUNT}:role/{stack}/*"]
        assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": STACK_ROLE_SERVICES}}


def test_connection_permission_follows_the_connection_arn_service():
    arn = (
        "arn:aws:codestar-connections:us-east-1:123456789012:connection/0a1b2c3d-1111-2222-3333-444455556666"
    )
    mocks = run_config(config_with(connectionArn=arn)).mocks
    statements = statements_by_sid(role_policy(mocks, "delivery-policy"))
    assert statements["UseConnection"] == {
        "Sid": "UseConnection",
        "Effect": "Allow",
        "Action": ["codestar-connections:UseConnection"],
        "Resource": [arn],
    }


def test_one_deploy_role_per_environment_with_power_user_and_its_own_stack_roles(book):
    for environment, stack in (("dev", "todobackend-dev"), ("production", "todobackend-prod")):
        (statement,) = trust(book, f"deploy-{environment}-role")["Statement"]
        assert statement["Principal"] == {"Service": "cloudformation.amazonaws.com"}
        assert "Condition" not in statement
        assert (
            "permissionsBoundary" not in only(book, "aws:iam/role:Role", f"deploy-{environment}-role").inputs
        )
        (attachment,) = [
            a
            for a in all_of(book, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
            if a.name.startswith(f"deploy-{environment}-")
        ]
        assert attachment.inputs["policyArn"] == "arn:aws:iam::aws:policy/PowerUserAccess"
        boundary = only(book, "aws:iam/policy:Policy", f"deploy-{environment}-boundary").state["arn"]
        statements = statements_by_sid(role_policy(book, f"deploy-{environment}-iam"))
        own_roles = [f"arn:aws:iam::{ACCOUNT}:role/{stack}/*"]
        assert statements["WriteBoundedStackRoles"] == {
            "Sid": "WriteBoundedStackRoles",
            "Effect": "Allow",
            "Action": [
                "iam:AttachRolePolicy",
                "iam:CreateRole",
                "iam:DeleteRolePolicy",
                "iam:DetachRolePolicy",
                "iam:PutRolePermissionsBoundary",
                "iam:PutRolePolicy",
            ],
            "Resource": own_roles,
            "Condition": {"ArnEquals": {"iam:PermissionsBoundary": boundary}},
        }
        assert statements["MaintainStackRoles"]["Resource"] == own_roles
        assert statements["KeepBoundaries"] == {
            "Sid": "KeepBoundaries",
            "Effect": "Deny",
            "Action": ["iam:DeleteRolePermissionsBoundary"],
            "Resource": ["*"],
        }
        assert statements["KeepBoundaryPolicies"]["Effect"] == "Deny"
        assert statements["KeepBoundaryPolicies"]["Resource"] == [
            boundary,
            f"arn:aws:iam::{ACCOUNT}:policy/ecs-delivery/*",
        ]


def test_the_boundary_excludes_iam_and_the_delivery_services(book):
    boundaries = [p for p in all_of(book, "aws:iam/policy:Policy") if p.name.endswith("-boundary")]
    assert len(boundaries) == 2
    bucket = only(book, "aws:s3/bucket:Bucket").state["arn"]
    stores = sorted(
        [
            bucket,
            f"{bucket}/*",
            f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/todobackend",
            f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/todobackend/codebuild",
            # The small projects' tools image: as protected as the build image.
            f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/todobackend/codebuild-tools",
            f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/todobackend/build-cache",
            f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/todobackend-book-releases",
            # Every CodeBuild project's log of this stack (`<app>-<stack>-*`).
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/codebuild/todobackend-book-*",
            # The topic that asks the approvers, and every notification rule of the account
            # (a rule's ARN ends in an id AWS draws).
            only(book, "aws:sns/topic:Topic").state["arn"],
            # And its subscriptions (`<topic ARN>:<id>`): the approvers' emails.
            only(book, "aws:sns/topic:Topic").state["arn"] + ":*",
            f"arn:aws:codestar-notifications:*:{ACCOUNT}:notificationrule/*",
        ]
    )
    for boundary in boundaries:
        assert boundary.inputs["path"] == "/ecs-delivery/"
        assert boundary.inputs["tags"] == {"ecs-delivery:use": "permissions-boundary"}
        stack = {"deploy-dev-boundary": "todobackend-dev", "deploy-production-boundary": "todobackend-prod"}[
            boundary.name
        ]
        assert policy(boundary)["Statement"] == [
            {
                "Sid": "ApplicationRuntime",
                "Effect": "Allow",
                "NotAction": [
                    "account:*",
                    "cloudformation:*",
                    "codebuild:*",
                    "codeconnections:*",
                    "codepipeline:*",
                    "codestar-connections:*",
                    "iam:*",
                    "organizations:*",
                    "sts:AssumeRole*",
                ],
                "Resource": "*",
            },
            {
                "Sid": "PassOwnStackRoles",
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": [f"arn:aws:iam::{ACCOUNT}:role/{stack}/*"],
                "Condition": {"StringEquals": {"iam:PassedToService": STACK_ROLE_SERVICES}},
            },
            # Whatever a template gives its roles, none writes what a release is read from.
            {
                "Sid": "KeepOffTheDeliveryStores",
                "Effect": "Deny",
                "NotAction": [
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                    "kms:Decrypt",
                    "kms:DescribeKey",
                    "s3:GetObject",
                    "s3:GetObjectVersion",
                ],
                "Resource": stores,
            },
            # Nor changes the registry's settings: a replication rule, a registry policy or a
            # pull-through cache rule reaches every repository without naming one.
            {
                "Sid": "KeepOffTheRegistrySettings",
                "Effect": "Deny",
                "Action": [
                    "ecr:CreatePullThroughCacheRule",
                    "ecr:CreateRepositoryCreationTemplate",
                    "ecr:DeletePullThroughCacheRule",
                    "ecr:DeleteRegistryPolicy",
                    "ecr:DeleteRepositoryCreationTemplate",
                    "ecr:PutAccountSetting",
                    "ecr:PutRegistryPolicy",
                    "ecr:PutRegistryScanningConfiguration",
                    "ecr:PutReplicationConfiguration",
                    "ecr:UpdatePullThroughCacheRule",
                    "ecr:UpdateRepositoryCreationTemplate",
                ],
                "Resource": "*",
            },
            # Nor the account-level log policies over every log group, the delivery logs included.
            {
                "Sid": "KeepOffTheAccountLogPolicies",
                "Effect": "Deny",
                "Action": ["logs:DeleteAccountPolicy", "logs:PutAccountPolicy"],
                "Resource": "*",
            },
            # Nor takes the notification topic off every notification rule of the account.
            {
                "Sid": "KeepOffTheNotificationTargets",
                "Effect": "Deny",
                "Action": ["codestar-notifications:DeleteTarget"],
                "Resource": "*",
            },
        ]


def test_security_md_names_everything_the_declared_boundary_excludes(book):
    """docs/security.md's boundary paragraph is the third statement of the excluded actions
    (besides components/cloudformation.py and the template contract's copy): a service whose
    every action is excluded appears as `service`, anything narrower as the action itself."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "security.md").read_text()
    paragraph = text.split("The **boundary**", 1)[1].split("\n\n", 1)[0]
    boundary = next(p for p in all_of(book, "aws:iam/policy:Policy") if p.name.endswith("-boundary"))
    (runtime,) = [s for s in policy(boundary)["Statement"] if s["Sid"] == "ApplicationRuntime"]
    unnamed = [
        action
        for action in runtime["NotAction"]
        if f"`{action}`" not in paragraph and f"`{action.removesuffix(':*')}`" not in paragraph
    ]
    assert unnamed == []


def test_deploy_role_permissions_come_from_config():
    policies = [
        "arn:aws:iam::123456789012:policy/ecs-app-deployer",
        "arn:aws:iam::aws:policy/AmazonECS_FullAccess",
    ]
    boundary = "arn:aws:iam::123456789012:policy/deploy-boundary"
    mocks = run_config(
        config_with(deployRole={"managedPolicyArns": policies, "permissionsBoundaryArn": boundary})
    ).mocks
    for environment in ("dev", "production"):
        attached = [
            a.inputs["policyArn"]
            for a in all_of(mocks, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
            if a.name.startswith(f"deploy-{environment}-")
        ]
        assert sorted(attached) == sorted(policies)
        role = only(mocks, "aws:iam/role:Role", f"deploy-{environment}-role")
        assert role.inputs["permissionsBoundary"] == boundary


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_identity_policies_pass_parliament(stack):
    mocks = run_stack(stack).mocks
    documents = [r.inputs["policy"] for r in all_of(mocks, "aws:iam/rolePolicy:RolePolicy")]
    environments, gated, verified, hooks = {"dev": (1, 0, 0, 0), "prod": (2, 1, 2, 1)}[stack]
    # pipeline, build, one deploy role per environment, one review, one recovery and one
    # recorder per gated environment, one smoke-test role per verified environment, the
    # function's and the invoke role per lifecycle-hook test
    assert len(documents) == 2 + environments + 3 * gated + verified + 2 * hooks
    # and the managed ones: a boundary per environment, an approver policy per gated one
    managed = [r.inputs["policy"] for r in all_of(mocks, "aws:iam/policy:Policy")]
    assert len(managed) == environments + gated
    documents += [d for d in managed if "ApproveThisEnvironment" in d]
    for document in documents:
        findings = [(f.issue, f.location) for f in parliament_findings(document)]
        assert findings == [], findings


def test_parliament_still_misreads_only_what_is_set_aside():
    """When parliament learns ecr:BatchImportUpstreamImage's resource type, this fails: then
    drop PARLIAMENT_STALE."""
    document = json.dumps(
        iam_policies.document(
            iam_policies.statement(
                "PullThrough",
                ["ecr:BatchImportUpstreamImage"],
                ["arn:aws:ecr:eu-west-1:123456789012:repository/docker-hub/*"],
            )
        )
    )
    assert [f.issue for f in parliament.analyze_policy_string(document).findings] == ["RESOURCE_MISMATCH"]
    assert parliament_findings(document) == []
    # Anything else in the same document is still reported.
    wrong = json.loads(document)
    wrong["Statement"][0]["Action"].append("s3:GetObject")
    assert [f.issue for f in parliament_findings(json.dumps(wrong))] == ["RESOURCE_MISMATCH"]


def test_parliament_catches_what_we_rely_on_it_for():
    def issues(*statement_args) -> set[str]:
        document = iam_policies.document(iam_policies.statement(*statement_args))
        return {f.issue for f in parliament.analyze_policy_string(json.dumps(document)).findings}

    assert "UNKNOWN_ACTION" in issues("Typo", ["ecr:PushImage"], ["*"])
    # Objects named by the bucket's ARN (missing "/*"): the statement would grant nothing.
    assert "RESOURCE_MISMATCH" in issues("Objects", ["s3:GetObject"], ["arn:aws:s3:::bucket"])


def test_star_resources_only_for_actions_without_a_resource_form(book):
    for resource in all_of(book, "aws:iam/rolePolicy:RolePolicy"):
        for statement in policy(resource)["Statement"]:
            if statement["Effect"] == "Deny":
                continue  # denying everywhere is the point
            assert all("*" not in action for action in statement["Action"]), statement
            if "*" in statement["Resource"]:
                # IAM gives these two no resource-level form.
                assert set(statement["Action"]) <= {
                    "ecr:GetAuthorizationToken",
                    "cloudformation:ValidateTemplate",
                }


def test_a_connection_arn_of_another_service_is_refused_by_name():
    with pytest.raises(
        ValueError, match=r"^not a connection ARN: 'arn:aws:codecommit:eu-west-1:123456789012:repo'$"
    ):
        iam_policies.connection_action("arn:aws:codecommit:eu-west-1:123456789012:repo")
