"""IAM for each role, read from the policies the program declares."""

from __future__ import annotations

import json

import parliament
import pytest

from components import iam_policies
from tests.conftest import BOOK_CONFIG, all_of, config_with, only, policy, run_config, run_stack

ACCOUNT = "123456789012"
REGION = "us-east-1"


@pytest.fixture(scope="module")
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
    assert set(statements["PushApplicationImage"]["Action"]) == {
        *iam_policies.ECR_PULL_ACTIONS,
        *iam_policies.ECR_PUSH_ACTIONS,
    }
    assert statements["PullBuildImage"]["Resource"] == [build_repo]
    assert set(statements["PullBuildImage"]["Action"]) == set(iam_policies.ECR_PULL_ACTIONS)
    assert statements["EcrLogin"] == {
        "Sid": "EcrLogin",
        "Effect": "Allow",
        "Action": ["ecr:GetAuthorizationToken"],
        "Resource": ["*"],
    }
    assert statements["WriteBuildLogs"]["Resource"] == [f"{log_group}:log-stream:*"]
    assert statements["ArtifactObjects"]["Resource"] == [f"{bucket}/*"]
    pushes = [s for s in statements.values() if "ecr:PutImage" in s["Action"]]
    assert [s["Resource"] for s in pushes] == [[app_repo]]


def test_pipeline_role_is_trusted_by_codepipeline_for_this_pipeline_only(book):
    pipeline_arn = only(book, "aws:codepipeline/pipeline:Pipeline").state["arn"]
    (statement,) = trust(book, "delivery-role")["Statement"]
    assert statement["Principal"] == {"Service": "codepipeline.amazonaws.com"}
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": pipeline_arn},
    }


def test_pipeline_role_statements_name_their_resources(book):
    statements = statements_by_sid(role_policy(book, "delivery-policy"))
    connection = only(book, "aws:codeconnections/connection:Connection").state["arn"]
    project = only(book, "aws:codebuild/project:Project", "build-project").state["arn"]
    review = only(book, "aws:codebuild/project:Project", "review-production-project").state["arn"]
    deploy_role = only(book, "aws:iam/role:Role", "deploy-role").state["arn"]
    assert statements["UseConnection"]["Action"] == ["codeconnections:UseConnection"]
    assert statements["UseConnection"]["Resource"] == [connection]
    assert statements["RunBuilds"]["Resource"] == [project, review]
    assert statements["DeployStacks"]["Resource"] == [
        f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/todobackend-dev/*",
        f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/todobackend-prod/*",
    ]
    assert {"cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet"} <= set(
        statements["DeployStacks"]["Action"]
    )
    assert statements["PassDeployRole"] == {
        "Sid": "PassDeployRole",
        "Effect": "Allow",
        "Action": ["iam:PassRole"],
        "Resource": [deploy_role],
        "Condition": {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}},
    }
    assert statements["ValidateTemplates"]["Resource"] == ["*"]


def test_every_pass_role_is_conditioned_on_the_receiving_service(book):
    deploy_role = only(book, "aws:iam/role:Role", "deploy-role").state["arn"]
    passes = {
        resource.name: statement
        for resource in all_of(book, "aws:iam/rolePolicy:RolePolicy")
        for statement in policy(resource)["Statement"]
        if "iam:PassRole" in statement["Action"]
    }
    assert set(passes) == {"delivery-policy", "delivery-deploy-iam"}
    # The pipeline may pass the deploy role, to CloudFormation, and nothing else.
    assert passes["delivery-policy"]["Resource"] == [deploy_role]
    # CloudFormation may pass its stacks' own roles, to the services the app runs on.
    assert passes["delivery-deploy-iam"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": list(iam_policies.STACK_ROLE_SERVICES)}
    }
    assert all(
        arn.endswith(("todobackend-dev-*", "todobackend-prod-*"))
        for arn in passes["delivery-deploy-iam"]["Resource"]
    )


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


def test_deploy_role_defaults_to_power_user_plus_roles_of_its_own_stacks(book):
    (statement,) = trust(book, "deploy-role")["Statement"]
    assert statement["Principal"] == {"Service": "cloudformation.amazonaws.com"}
    (attachment,) = all_of(book, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.inputs["policyArn"] == "arn:aws:iam::aws:policy/PowerUserAccess"
    assert "permissionsBoundary" not in only(book, "aws:iam/role:Role", "deploy-role").inputs
    roles = statements_by_sid(role_policy(book, "deploy-iam"))["ManageStackRoles"]
    assert roles["Resource"] == [
        f"arn:aws:iam::{ACCOUNT}:role/todobackend-dev-*",
        f"arn:aws:iam::{ACCOUNT}:role/todobackend-prod-*",
    ]


def test_deploy_role_permissions_come_from_config():
    policies = [
        "arn:aws:iam::123456789012:policy/ecs-app-deployer",
        "arn:aws:iam::aws:policy/AmazonECS_FullAccess",
    ]
    boundary = "arn:aws:iam::123456789012:policy/deploy-boundary"
    mocks = run_config(
        config_with(deployRole={"managedPolicyArns": policies, "permissionsBoundaryArn": boundary})
    ).mocks
    attached = [
        a.inputs["policyArn"] for a in all_of(mocks, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    ]
    assert sorted(attached) == sorted(policies)
    assert only(mocks, "aws:iam/role:Role", "deploy-role").inputs["permissionsBoundary"] == boundary


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_identity_policies_pass_parliament(stack):
    mocks = run_stack(stack).mocks
    documents = [r.inputs["policy"] for r in all_of(mocks, "aws:iam/rolePolicy:RolePolicy")]
    gated = {"dev": 0, "prod": 1}[stack]
    assert len(documents) == 3 + gated  # pipeline, build, deploy, one review per gated environment
    for document in documents:
        findings = [(f.issue, f.location) for f in parliament.analyze_policy_string(document).findings]
        assert findings == [], findings


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
            assert all("*" not in action for action in statement["Action"]), statement
            if "*" in statement["Resource"]:
                assert set(statement["Action"]) <= iam_policies.ACTIONS_WITHOUT_RESOURCE_FORM, statement
