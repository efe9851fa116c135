"""Every policy document the program declares, for each committed stack and a
multi-environment config: identity policies linted by parliament, no wildcard actions,
`Resource: "*"` only where IAM has no resource form, trust only for service principals
with confused-deputy conditions, resource policies granting no one at large."""

from __future__ import annotations

import fnmatch
import json
import re

import parliament
import pytest

from components import iam_policies
from tests.conftest import (
    CROSS_ACCOUNT,
    FOUR_ENVIRONMENTS,
    WAVES,
    any_stack,
    config_with,
    pipeline_account,
    run_config,
    run_stack,
    shared_scope,
    with_user_stacks,
)
from tests.support.permissions import parliament_findings

MULTI_ENVIRONMENT = config_with(
    connectionArn="arn:aws:codestar-connections:us-east-1:123456789012:connection/0a1b2c3d-1111-2222-3333-444455556666",
    artifacts={"kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
    environments=[
        {"name": "dev", "stackName": "todobackend-dev"},
        {"name": "staging", "stackName": "todobackend-staging"},
        {
            "name": "qa",
            "stackName": "todobackend-qa",
            "approval": True,
            "approvers": ["arn:aws:iam::123456789012:role/release-managers"],
        },
        {
            "name": "production",
            "stackName": "todobackend-prod",
            "approval": True,
            "approvers": ["arn:aws:iam::123456789012:role/release-managers"],
        },
    ],
    notifications={"emails": ["a@example.com", "b@example.com"]},
)

# What the delivery system reads a release from: every role an environment controls keeps off.
STORE_TYPES = (
    "aws:s3/bucket:Bucket",
    "aws:ecr/repository:Repository",
    "aws:dynamodb/table:Table",
    "aws:kms/key:Key",
)
RESOURCE_POLICY_INPUTS = {
    "aws:s3/bucketPolicy:BucketPolicy": "policy",
    "aws:sns/topicPolicy:TopicPolicy": "policy",
    "aws:ecr/repositoryPolicy:RepositoryPolicy": "policy",
    "aws:dynamodb/resourcePolicy:ResourcePolicy": "policy",
}


@pytest.fixture(
    scope=shared_scope,
    params=with_user_stacks("dev", "prod", "multi-environment", FOUR_ENVIRONMENTS, CROSS_ACCOUNT, WAVES),
)
def declared(request):
    if request.param == "multi-environment":
        return run_config(MULTI_ENVIRONMENT, stack="multi").mocks
    return any_stack(request.param).mocks


def documents(mocks, types: dict[str, str]) -> list[tuple[str, dict]]:
    found = []
    for resource in mocks.resources:
        key = types.get(resource.type)
        if key:
            found.append((resource.name, json.loads(resource.inputs[key])))
    return found


def expected_roles(mocks) -> int:
    """Pipeline and build roles, one deploy role per environment, one review role, one
    recovery role and one recorder role per gated environment, one smoke-test role per
    verified environment, one drift-check role per environment with `driftCheck`, and
    in other accounts one action role per environment and one review reader and one
    recovery role per gated one, and two per lifecycle-hook test (the function's, and the one ECS
    invokes it with)."""
    components = [r.type for r in mocks.resources]
    remote = [r for r in mocks.resources if r.type == "ecs-delivery:cross_account:CrossAccountAccess"]
    remote_gated = [
        r
        for r in mocks.resources
        if r.type == "aws:iam/role:Role" and r.name.endswith(("-reader-role", "-recover-role"))
    ]
    return (
        2
        + components.count("ecs-delivery:deploy_role:DeployRole")
        + components.count("ecs-delivery:change_set_review:ChangeSetReview")
        + components.count("ecs-delivery:stack_recovery:StackRecovery")
        + components.count("ecs-delivery:release_recorder:ReleaseRecorder")
        + components.count("ecs-delivery:verify_project:VerifyProject")
        + components.count("ecs-delivery:drift_check:DriftCheck")
        + 2 * components.count("ecs-delivery:lifecycle_hook:LifecycleHook")
        + len(remote)
        + len(remote_gated)
    )


def identity_documents(mocks):
    """What roles are granted (inline policies); boundaries are ceilings, judged apart."""
    return documents(mocks, {"aws:iam/rolePolicy:RolePolicy": "policy"})


def _is_boundary(resource) -> bool:
    return (resource.inputs.get("tags") or {}).get("ecs-delivery:use") == "permissions-boundary"


def boundary_documents(mocks):
    return [
        (r.name, json.loads(r.inputs["policy"]))
        for r in mocks.resources
        if r.type == "aws:iam/policy:Policy" and _is_boundary(r)
    ]


def approver_documents(mocks):
    """What approvers are granted (a managed policy per gated environment)."""
    return [
        (r.name, json.loads(r.inputs["policy"]))
        for r in mocks.resources
        if r.type == "aws:iam/policy:Policy" and not _is_boundary(r)
    ]


def trust_documents(mocks):
    return documents(mocks, {"aws:iam/role:Role": "assumeRolePolicy"})


def test_every_identity_policy_passes_parliament(declared):
    docs = identity_documents(declared)
    assert len(docs) == expected_roles(declared)
    approvers = approver_documents(declared)
    assert len(approvers) == [r.type for r in declared.resources].count("ecs-delivery:approvers:Approvers")
    for name, document in docs + approvers:
        findings = parliament_findings(json.dumps(document))
        assert [(f.issue, f.detail) for f in findings] == [], name
    # A boundary is "everything but": RESOURCE_STAR is its nature, anything else is a defect.
    for name, document in boundary_documents(declared):
        findings = parliament.analyze_policy_string(json.dumps(document)).findings
        assert {f.issue for f in findings} <= {"RESOURCE_STAR"}, (
            name,
            [(f.issue, f.detail) for f in findings],
        )


def test_no_wildcard_actions_anywhere(declared):
    for name, document in (
        identity_documents(declared)
        + approver_documents(declared)
        + documents(declared, RESOURCE_POLICY_INPUTS)
    ):
        for statement in document["Statement"]:
            if statement["Effect"] != "Allow":
                continue
            assert "NotAction" not in statement, name
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            for action in actions:
                assert action != "*" and not action.endswith(":*"), (name, action)


def test_star_resources_only_for_actions_without_a_resource_form(declared):
    allowed = iam_policies.ACTIONS_WITHOUT_RESOURCE_FORM
    assert allowed == {"ecr:GetAuthorizationToken", "cloudformation:ValidateTemplate"}
    for name, document in identity_documents(declared):
        for statement in document["Statement"]:
            if statement["Effect"] == "Deny":
                continue
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            if "*" in resources:
                assert set(statement["Action"]) <= allowed, (name, statement)
            for resource in resources:
                assert resource == "*" or resource.startswith("arn:aws:"), (name, resource)


def test_trust_only_service_principals_conditioned_where_aws_documents_the_keys(declared):
    trusts = trust_documents(declared)
    assert len(trusts) == expected_roles(declared)
    account = pipeline_account(declared)
    services = set()
    role_arns = {r.state["arn"] for r in declared.resources if r.type == "aws:iam/role:Role"}
    for name, document in trusts:
        for statement in document["Statement"]:
            if "AWS" in statement["Principal"]:
                # A role in another account: trusted by the pipeline account's root,
                # narrowed to the pipeline's own role (by its path) or one declared role.
                assert statement["Principal"] == {"AWS": f"arn:aws:iam::{account}:root"}, name
                assert statement["Action"] == "sts:AssumeRole"
                (pattern,) = statement["Condition"]["ArnLike"]["aws:PrincipalArn"]
                assert pattern in role_arns or pattern.startswith(
                    f"arn:aws:iam::{account}:role/ecs-delivery/pipeline/"
                ), (name, pattern)
                continue
            assert set(statement["Principal"]) == {"Service"}, name
            assert statement["Action"] == "sts:AssumeRole"
            service = statement["Principal"]["Service"]
            services.add(service)
            # Only CodeBuild documents aws:SourceAccount/aws:SourceArn for its service
            # role (confused-deputy prevention); CodePipeline's documented trust policy
            # has no condition and CloudFormation documents none, nor does ECS for the role
            # that invokes a lifecycle hook (AWS, "Permissions required for Lambda functions
            # in Amazon ECS blue/green deployments") nor Lambda for a function's role.
            if service != "codebuild.amazonaws.com":
                assert "Condition" not in statement, name
                continue
            assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == account, name
            # The project of this role, in the pipeline's region and account.
            region = next(
                r.state["arn"].split(":")[3]
                for r in declared.resources
                if r.type == "aws:codepipeline/pipeline:Pipeline"
            )
            assert statement["Condition"]["ArnLike"]["aws:SourceArn"].startswith(
                f"arn:aws:codebuild:{region}:{account}:project/"
            ), name
    hooks = [r for r in declared.resources if r.type == "ecs-delivery:lifecycle_hook:LifecycleHook"]
    assert services == {
        "codebuild.amazonaws.com",
        "codepipeline.amazonaws.com",
        "cloudformation.amazonaws.com",
        # The lifecycle-hook test's function role and the role ECS invokes it with.
        *(("lambda.amazonaws.com", "ecs.amazonaws.com") if hooks else ()),
    }


def stack_names(mocks) -> set[str]:
    (pipeline,) = [r for r in mocks.resources if r.type == "aws:codepipeline/pipeline:Pipeline"]
    return {
        a["configuration"]["StackName"]
        for stage in pipeline.inputs["stages"]
        for a in stage["actions"]
        if "StackName" in a["configuration"]
    }


def build_base_image_sources(mocks) -> set[str]:
    (build_policy,) = [
        json.loads(r.inputs["policy"])
        for r in mocks.resources
        if r.type == "aws:iam/rolePolicy:RolePolicy" and r.name.startswith("build-")
    ]
    rules = [r for r in mocks.resources if r.type == "aws:ecr/pullThroughCacheRule:PullThroughCacheRule"]
    return {
        resource
        for s in build_policy["Statement"]
        if s.get("Sid") in ("PullThroughDockerHub", "ReadDockerHubCredentials")
        for resource in s["Resource"]
    } | {rule.inputs["credentialArn"] for rule in rules}


def test_boundaries_allow_no_iam_but_passing_their_own_stack_roles(declared):
    deploy_roles = [r for r in declared.resources if r.type == "ecs-delivery:deploy_role:DeployRole"]
    boundaries = boundary_documents(declared)
    assert len(boundaries) == len(deploy_roles)
    # The account each boundary lives in: its deploy role's, the pipeline's or a target's.
    accounts = {
        r.name: r.state["arn"].split(":")[4] for r in declared.resources if r.type == "aws:iam/policy:Policy"
    }
    for name, document in boundaries:
        ceiling, passing, guard, registry, log_policies, notification_targets = document["Statement"]
        assert ceiling["Effect"] == "Allow" and "Action" not in ceiling, name
        assert {"iam:*", "organizations:*", "account:*"} <= set(ceiling["NotAction"]), name
        assert passing["Action"] == ["iam:PassRole"], name
        (own_roles,) = passing["Resource"]
        # The roles under its own stack's path, in its own account.
        found = re.fullmatch(r"arn:aws:iam::(\d{12}):role/([^/]+)/\*", own_roles)
        assert found and found.group(1) == accounts[name], (name, own_roles)
        assert found.group(2) in stack_names(declared), (name, own_roles)
        assert "iam:PassedToService" in passing["Condition"]["StringEquals"], name
        # And nothing but reading on the delivery system's stores: the artifact bucket and its
        # objects, the image repositories, and with a gated environment the release record.
        assert (guard["Effect"], guard["Sid"]) == ("Deny", "KeepOffTheDeliveryStores"), name
        assert set(guard["NotAction"]) <= {
            "s3:GetObject", "s3:GetObjectVersion", "kms:Decrypt", "kms:DescribeKey",
            "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability",
        }, name  # fmt: skip
        (pipeline,) = [r for r in declared.resources if r.type == "aws:codepipeline/pipeline:Pipeline"]
        stores = {
            *(r.state["arn"] for r in declared.resources if r.type in STORE_TYPES),
            *(f"{r.state['arn']}/*" for r in declared.resources if r.type == "aws:s3/bucket:Bucket"),
            # A key the config names (artifacts.kmsKeyArn) is no resource here, but a store all the same.
            *(s["encryptionKey"]["id"] for s in pipeline.inputs["artifactStores"] if "encryptionKey" in s),
            # What the build pulls its base images through and the credentials it pulls with:
            # whatever the build role may read of them, an environment may not write.
            *build_base_image_sources(declared),
            # What asks the approvers and tells of failed runs: a forged or silenced message.
            *(r.state["arn"] for r in declared.resources if r.type == "aws:sns/topic:Topic"),
            # And its subscriptions (`<topic ARN>:<id>`): the approvers' emails.
            *(f"{r.state['arn']}:*" for r in declared.resources if r.type == "aws:sns/topic:Topic"),
        }
        # And the lifecycle-hook functions and their logs, the CodeBuild projects' logs and the
        # notification rules, by name pattern (a function's ARN is its name: no path to keep off;
        # a rule's ends in an id AWS draws): each declared one matches, and nothing else is added.
        patterns = set(guard["Resource"]) - stores
        hooks = [r for r in declared.resources if r.type == "aws:lambda/function:Function"]
        rules = [
            r
            for r in declared.resources
            if r.type == "aws:codestarnotifications/notificationRule:NotificationRule"
        ]
        assert rules, name
        logs = [
            r
            for r in declared.resources
            if r.type == "aws:cloudwatch/logGroup:LogGroup"
            and (
                r.inputs["name"].endswith("/lifecycle-hook") or r.inputs["name"].startswith("/aws/codebuild/")
            )
        ]
        for resource in [*hooks, *logs, *rules]:
            arn = resource.state["arn"]
            assert any(fnmatch.fnmatchcase(arn, p) for p in patterns), (name, arn)
        assert len(patterns) == (3 if hooks else 0) + 2, (name, patterns)
        assert set(guard["Resource"]) - patterns == stores, name
        # Nor the registry's settings, which reach every repository without naming one: a
        # replication rule or a registry policy (ECR user guide, "Private registry settings").
        assert (registry["Effect"], registry["Resource"]) == ("Deny", "*"), name
        assert {
            "ecr:PutRegistryPolicy",
            "ecr:PutReplicationConfiguration",
            "ecr:CreatePullThroughCacheRule",
        } <= set(registry["Action"]), name
        # Nor CloudWatch Logs' account-level policies, which reach the delivery logs by prefix.
        assert (log_policies["Effect"], log_policies["Resource"]) == ("Deny", "*"), name
        assert set(log_policies["Action"]) == {"logs:PutAccountPolicy", "logs:DeleteAccountPolicy"}, name
        # Nor taking the notification topic off every rule (DeleteTarget names no rule).
        assert (notification_targets["Effect"], notification_targets["Resource"]) == ("Deny", "*"), name
        assert notification_targets["Action"] == ["codestar-notifications:DeleteTarget"], name


def test_resource_policies_grant_no_one_at_large(declared):
    role_arns = {r.state["arn"] for r in declared.resources if r.type == "aws:iam/role:Role"}
    own_account = pipeline_account(declared)
    # Accounts other than the pipeline's that this stack deploys to (from its providers).
    targets = {
        json.loads(r.inputs["allowedAccountIds"])[0]
        for r in declared.resources
        if r.type == "pulumi:providers:aws"
    }
    docs = documents(declared, RESOURCE_POLICY_INPUTS)
    # The bucket and topic policies, each image repository's (who may write it) and with a
    # gated environment the release record's.
    repositories = [r for r in declared.resources if r.type == "aws:ecr/repository:Repository"]
    tables = [r for r in declared.resources if r.type == "aws:dynamodb/table:Table"]
    assert len(docs) == 2 + len(repositories) + len(tables)
    for name, document in docs:
        for statement in document["Statement"]:
            principal = statement["Principal"]
            if statement["Effect"] == "Deny":
                continue  # denying everyone (e.g. plain HTTP) is the point
            assert principal != "*", name
            if "Service" in principal:
                assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == own_account
            elif principal["AWS"] in role_arns:
                continue
            else:
                # Another account's root, narrowed to named roles or role paths there.
                account = principal["AWS"].split(":")[4]
                assert principal["AWS"] == f"arn:aws:iam::{account}:root" and account in targets, name
                patterns = statement["Condition"]["ArnLike"]["aws:PrincipalArn"]
                assert patterns and all(p.startswith(f"arn:aws:iam::{account}:role/") for p in patterns), name


def test_kms_is_granted_only_when_configured_and_only_on_that_key():
    kms = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    with_key = run_config(MULTI_ENVIRONMENT, stack="multi").mocks
    for name, document in identity_documents(with_key):
        if name.startswith("deploy-"):
            continue
        (statement,) = [s for s in document["Statement"] if s["Sid"] == "ArtifactKey"]
        assert statement["Resource"] == [kms]
        # Decrypt to read artifacts, GenerateDataKey to write them (SSE-KMS), as KMS names them;
        # the recovery and the smoke test write none.
        if name.startswith(("recover-", "verify-", "record-")):
            assert statement["Action"] == ["kms:Decrypt"], name
        else:
            assert statement["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"], name
    for name, document in identity_documents(run_stack("prod").mocks):
        assert all(not a.startswith("kms:") for s in document["Statement"] for a in s.get("Action", [])), name


# IAM JSON policy reference, Version: "2012-10-17" is the current version of the policy
# language; without the element, 2008-10-17 applies and policy variables do not work.
POLICY_DOCUMENT_INPUTS = {
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/policy:Policy": "policy",
    "aws:iam/role:Role": "assumeRolePolicy",
    "aws:kms/key:Key": "policy",
    **RESOURCE_POLICY_INPUTS,
}


def test_every_policy_document_is_in_the_current_policy_language(declared):
    versions = {
        f"{resource.type} {resource.name}": json.loads(resource.inputs[key]).get("Version")
        for resource in declared.resources
        for key in [POLICY_DOCUMENT_INPUTS.get(resource.type)]
        if key and key in resource.inputs
    }
    assert any(name.startswith("aws:s3/bucketPolicy") for name in versions)
    assert {name: version for name, version in versions.items() if version != "2012-10-17"} == {}
