"""Each declared role may do what AWS will ask of it, and nothing that would let an
ungated environment reach a gated one.

Requests for the deploy roles come from CloudFormation's registry schemas (the handlers
of every resource type in examples/infra-repo/stack.yml); requests for the other roles
are written out below from AWS's documentation. Roles are evaluated with everything
attached to them (inline, AWS managed from moto's copy, boundary) by principalmapper's
simulator, whose behaviour on every case relied on is pinned first.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from components.iam_policies import Request
from tests.conftest import (
    CROSS_ACCOUNT,
    FOUR_ENVIRONMENTS,
    WAVES,
    all_of,
    any_stack,
    only,
    pipeline_account,
    pipeline_inputs,
    run_stack,
    shared_scope,
    with_user_stacks,
)
from tests.support.deploy_requests import (
    REFUSED_BY_DESIGN,
    deploy_requests,
    handler_permissions,
    load_template,
)
from tests.support.permissions import DeclaredRole, declared_roles

# The mocks' account: for the evaluator's own tests and those on the product's stacks. A test
# parametrized with `declared` may run on an adopter's stack, so it takes its accounts, region
# and names from what the program declared (`pipeline_account`, `account_of`, `region_of`).
ACCOUNT = "123456789012"
TEMPLATE = load_template((Path(__file__).parent.parent / "examples" / "infra-repo" / "stack.yml").read_text())


@pytest.fixture(
    scope=shared_scope,
    params=with_user_stacks("dev", "prod", FOUR_ENVIRONMENTS, CROSS_ACCOUNT, WAVES, "regions"),
)
def declared(request):
    return any_stack(request.param).mocks


def environments(mocks) -> list[tuple[str, str, bool]]:
    """(environment, stack, gated) for every environment stage the pipeline deploys."""
    pipeline = only(mocks, "aws:codepipeline/pipeline:Pipeline").inputs
    found = []
    for stage in pipeline["stages"][2:]:
        for action in stage["actions"]:
            mode = action["configuration"].get("ActionMode")
            if mode not in {"REPLACE_ON_FAILURE", "CREATE_UPDATE", "CHANGE_SET_EXECUTE"}:
                continue  # a gated environment's plan or approval: its release stage follows
            # A wave's stage holds its members' actions, named `<member>-<action>` (docs/waves.md).
            member = action["name"].rpartition("-")[0]
            found.append(
                (member or stage["name"], action["configuration"]["StackName"], mode == "CHANGE_SET_EXECUTE")
            )
    return found


def boundary(mocks, environment: str) -> str:
    return only(mocks, "aws:iam/policy:Policy", f"deploy-{environment}-boundary").state["arn"]


def region_of(mocks) -> str:
    return only(mocks, "aws:codepipeline/pipeline:Pipeline").state["arn"].split(":")[3]


def stack_region_of(mocks, stack: str) -> str:
    """The region a stack lives in: the `region` of the CloudFormation actions that name it, or the
    pipeline's when they name none."""
    pipeline = only(mocks, "aws:codepipeline/pipeline:Pipeline").inputs
    regions = {
        action.get("region")
        for stage in pipeline["stages"]
        for action in stage["actions"]
        if action["provider"] == "CloudFormation" and action["configuration"].get("StackName") == stack
    }
    assert len(regions) == 1, f"{stack}'s CloudFormation actions name regions {regions}"
    return regions.pop() or region_of(mocks)


def account_of(mocks, environment: str) -> str:
    """The account an environment's stack lives in (its deploy role's)."""
    return only(mocks, "aws:iam/role:Role", f"deploy-{environment}-role").state["arn"].split(":")[4]


def pipeline_parameters(mocks, stack: str) -> dict[str, str]:
    """The text parameters the pipeline's deploy actions of a stack set (ParameterOverrides:
    the deployment's strategy, alarms, the lifecycle-hook function and its invoke role ...)."""
    for stage in pipeline_inputs(mocks)["stages"]:
        for action in stage["actions"]:
            configuration = action["configuration"]
            if configuration.get("StackName") == stack and configuration.get("ParameterOverrides"):
                overrides = json.loads(configuration["ParameterOverrides"])
                return {k: v for k, v in overrides.items() if isinstance(v, str)}
    return {}


def requests_for_stack(mocks, environment: str, stack: str) -> list[Request]:
    return deploy_requests(
        TEMPLATE,
        stack_name=stack,
        partition="aws",
        region=region_of(mocks),
        account_id=account_of(mocks, environment),
        parameters={
            **pipeline_parameters(mocks, stack),
            "PermissionsBoundaryArn": boundary(mocks, environment),
        },
    )


def explain(denied: list[Request]) -> str:
    return "\n".join(str(r) for r in denied)


# -- the evaluator, checked before it is trusted ------------------------------------------
def role_with(*statements, boundary_document=None) -> DeclaredRole:
    document = {"Version": "2012-10-17", "Statement": list(statements)}
    return DeclaredRole(
        name="probe",
        arn=f"arn:aws:iam::{ACCOUNT}:role/probe",
        inline=[document],
        managed=[],
        boundary=("arn:aws:iam::123456789012:policy/b", boundary_document) if boundary_document else None,
    )


def allow(actions, resources, condition=None):
    statement = {"Effect": "Allow", "Action": actions, "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement


ROLE_UNDER_PATH = f"arn:aws:iam::{ACCOUNT}:role/app/app-TaskRole-1A2B"
BOUNDARY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/ecs-delivery/b"


def test_evaluator_needs_an_allow_and_honours_an_explicit_deny():
    role = role_with(allow(["s3:GetObject"], ["arn:aws:s3:::b/*"]))
    assert role.allows(Request("s3:GetObject", "arn:aws:s3:::b/key"))
    assert not role.allows(Request("s3:PutObject", "arn:aws:s3:::b/key"))
    assert not role.allows(Request("s3:GetObject", "arn:aws:s3:::other/key"))
    denied = role_with(
        allow(["s3:GetObject"], ["*"]), {"Effect": "Deny", "Action": ["s3:GetObject"], "Resource": ["*"]}
    )
    assert not denied.allows(Request("s3:GetObject", "arn:aws:s3:::b/key"))


def test_evaluator_applies_a_permissions_boundary():
    ceiling = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "NotAction": ["iam:*"], "Resource": "*"}],
    }
    role = role_with(allow(["iam:CreateRole", "s3:GetObject"], ["*"]), boundary_document=ceiling)
    assert role.allows(Request("s3:GetObject", "arn:aws:s3:::b/key"))
    assert not role.allows(Request("iam:CreateRole", ROLE_UNDER_PATH))


def test_evaluator_fails_a_condition_whose_key_is_absent_or_different():
    # moto's evaluator passes a condition whose key is absent; this one must not.
    role = role_with(
        allow(["iam:CreateRole"], ["*"], {"ArnEquals": {"iam:PermissionsBoundary": BOUNDARY_ARN}})
    )
    assert role.allows(Request("iam:CreateRole", ROLE_UNDER_PATH, {"iam:PermissionsBoundary": BOUNDARY_ARN}))
    assert not role.allows(Request("iam:CreateRole", ROLE_UNDER_PATH))
    assert not role.allows(
        Request("iam:CreateRole", ROLE_UNDER_PATH, {"iam:PermissionsBoundary": BOUNDARY_ARN + "-other"})
    )
    services = role_with(
        allow(
            ["iam:PassRole"],
            ["*"],
            {"StringEquals": {"iam:PassedToService": ["ecs-tasks.amazonaws.com", "lambda.amazonaws.com"]}},
        )
    )
    assert services.allows(
        Request("iam:PassRole", ROLE_UNDER_PATH, {"iam:PassedToService": "lambda.amazonaws.com"})
    )
    assert not services.allows(
        Request("iam:PassRole", ROLE_UNDER_PATH, {"iam:PassedToService": "ec2.amazonaws.com"})
    )
    assert not services.allows(Request("iam:PassRole", ROLE_UNDER_PATH))


def test_evaluator_reads_notaction_and_path_patterns_as_iam_does():
    power_user = declared_roles(run_stack("dev").mocks)["deploy-sandbox-role"]
    power_user = DeclaredRole("p", power_user.arn, [], power_user.managed, None)
    assert power_user.allows(Request("ecs:CreateService", "*"))
    assert power_user.allows(Request("iam:ListRoles", "*"))  # PowerUserAccess's second statement
    assert not power_user.allows(Request("iam:CreateRole", ROLE_UNDER_PATH))
    role = role_with(allow(["iam:GetRole"], [f"arn:aws:iam::{ACCOUNT}:role/app/*"]))
    assert role.allows(Request("iam:GetRole", ROLE_UNDER_PATH))
    # The stack `app` must not reach the stack `app-prod` (a name prefix would).
    assert not role.allows(
        Request("iam:GetRole", f"arn:aws:iam::{ACCOUNT}:role/app-prod/app-prod-TaskRole-1A2B")
    )


def test_every_managed_policy_is_evaluated_from_a_real_document():
    roles = declared_roles(run_stack("prod").mocks)
    (power_user_arn, document) = roles["deploy-production-role"].managed[0]
    assert power_user_arn == "arn:aws:iam::aws:policy/PowerUserAccess"
    assert document["Statement"][0]["NotAction"] == ["iam:*", "organizations:*", "account:*"]
    assert roles["deploy-production-role"].boundary is None


# -- the requests are AWS's ---------------------------------------------------------------
def test_role_handler_permissions_come_from_the_registry_schema():
    # AWS::IAM::Role in CloudFormation's registry schema, as shipped by cfn-lint.
    assert set(handler_permissions("AWS::IAM::Role")) == {
        "iam:CreateRole",
        "iam:PutRolePolicy",
        "iam:AttachRolePolicy",
        "iam:GetRolePolicy",
        "iam:TagRole",
        "iam:UntagRole",
        "iam:GetRole",
        "iam:DeleteRole",
        "iam:DetachRolePolicy",
        "iam:DeleteRolePolicy",
        "iam:ListAttachedRolePolicies",
        "iam:ListRolePolicies",
        "iam:UpdateRole",
        "iam:UpdateRoleDescription",
        "iam:UpdateAssumeRolePolicy",
        "iam:DeleteRolePermissionsBoundary",
        "iam:PutRolePermissionsBoundary",
    }
    assert REFUSED_BY_DESIGN.keys() == {("AWS::IAM::Role", "iam:DeleteRolePermissionsBoundary")}


def test_the_example_stack_is_the_realistic_one_the_proof_covers():
    types = {resource["Type"] for resource in TEMPLATE["Resources"].values()}
    assert {
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::ECS::Service",
        "AWS::ECS::TaskDefinition",
        "AWS::IAM::Role",
        "AWS::RDS::DBInstance",
        "AWS::SecretsManager::Secret",
        "AWS::Lambda::Function",
        "AWS::CloudFormation::CustomResource",
        "AWS::ApplicationAutoScaling::ScalableTarget",
        "AWS::Logs::LogGroup",
    } <= types
    for logical_id, resource in TEMPLATE["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            assert resource["Properties"]["Path"] == {"Fn::Sub": "/${AWS::StackName}/"}, logical_id
            assert resource["Properties"]["PermissionsBoundary"] == {"Ref": "PermissionsBoundaryArn"}, (
                logical_id
            )


# -- sufficiency ---------------------------------------------------------------------------
def test_each_deploy_role_can_create_update_and_delete_its_stack(declared):
    roles = declared_roles(declared)
    for environment, stack, _ in environments(declared):
        requests = requests_for_stack(declared, environment, stack)
        assert len(requests) > 250  # every handler of every resource type, not a sample
        denied = roles[f"deploy-{environment}-role"].denied(requests)
        assert not denied, f"deploy-{environment}-role would be refused:\n{explain(denied)}"


def test_the_pipeline_role_can_run_every_action_it_drives(declared):
    account = pipeline_account(declared)
    role = declared_roles(declared)["delivery-role"]
    bucket = only(declared, "aws:s3/bucket:Bucket", "artifacts-bucket").state["arn"]
    region = region_of(declared)
    pipeline_source = only(declared, "aws:codepipeline/pipeline:Pipeline").inputs["stages"][0]["actions"][0]
    connection = pipeline_source["configuration"]["ConnectionArn"]
    projects = [r.state["arn"] for r in declared.resources if r.type == "aws:codebuild/project:Project"]
    topic = only(declared, "aws:sns/topic:Topic").state["arn"]
    own_bucket = {"aws:ResourceAccount": account}
    # "CodePipeline service role policy" (how-to-custom-role) and the action references
    # (CodeStarSourceConnection, CodeBuild, CloudFormation, Manual approval).
    requests = [
        *(
            Request(a, f"{bucket}/ApplicationSource/abc.zip", own_bucket)
            for a in ("s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:PutObjectAcl")
        ),
        *(
            Request(a, bucket, own_bucket)
            for a in ("s3:GetBucketVersioning", "s3:GetBucketAcl", "s3:GetBucketLocation")
        ),
        Request(f"{connection.split(':')[2]}:UseConnection", connection),
        *(Request(a, p) for p in projects for a in ("codebuild:StartBuild", "codebuild:BatchGetBuilds")),
        Request("cloudformation:ValidateTemplate", "*"),
        Request("sns:Publish", topic),
    ]
    for environment, stack, _ in environments(declared):
        if account_of(declared, environment) != account:
            # In another account the pipeline acts only through the environment's action role.
            action_role = only(declared, "aws:iam/role:Role", f"{environment}-action-role").state["arn"]
            requests.append(Request("sts:AssumeRole", action_role))
            continue
        stack_arn = (
            f"arn:aws:cloudformation:{stack_region_of(declared, stack)}:{account}:stack/{stack}/"
            "0f1e2d3c-aaaa-bbbb-cccc-444455556666"
        )
        requests += [
            Request(f"cloudformation:{a}", stack_arn)
            for a in (
                "CreateStack",
                "UpdateStack",
                "DeleteStack",
                "DescribeStacks",
                "CreateChangeSet",
                "DescribeChangeSet",
                "DeleteChangeSet",
                "ExecuteChangeSet",
                "SetStackPolicy",
            )
        ]
        deploy_role = only(declared, "aws:iam/role:Role", f"deploy-{environment}-role").state["arn"]
        requests.append(
            Request("iam:PassRole", deploy_role, {"iam:PassedToService": "cloudformation.amazonaws.com"})
        )
    # CloudWatchAlarm rules read the state of the alarms they watch.
    for stage in only(declared, "aws:codepipeline/pipeline:Pipeline").inputs["stages"]:
        for rule in (stage.get("onSuccess") or {}).get("condition", {}).get("rules", []):
            # Rules with a role of their own read another account's alarms through it.
            if rule["ruleTypeId"]["provider"] == "CloudWatchAlarm" and "roleArn" not in rule:
                alarm = f"arn:aws:cloudwatch:{region}:{account}:alarm:{rule['configuration']['AlarmName']}"
                requests.append(Request("cloudwatch:DescribeAlarms", alarm))
    key = only_key(declared)
    if key:
        requests += [Request("kms:Decrypt", key), Request("kms:GenerateDataKey", key)]
    denied = role.denied(requests)
    assert not denied, explain(denied)


def only_key(mocks):
    stores = only(mocks, "aws:codepipeline/pipeline:Pipeline").inputs["artifactStores"]
    return (stores[0].get("encryptionKey") or {}).get("id")


# What pulling an image from ECR takes, as "Run builds on AWS Lambda compute" lists it for a
# custom image (and CodeBuild on EC2 with SERVICE_ROLE pull credentials likewise).
ECR_PULL = ("ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage")


def image_repository(mocks, image: str) -> str:
    return only(mocks, "aws:ecr/repository:Repository", f"{image}-ecr-repository").state["arn"]


def codebuild_runner_requests(mocks, runner: str, image: str = "build-image") -> list[Request]:
    """What CodeBuild does with any project role before the buildspec runs: write the
    build log, log in to ECR and pull the project's image (SERVICE_ROLE pull credentials):
    the build image for the application build, the tools image for the small projects."""
    group = only(mocks, "aws:cloudwatch/logGroup:LogGroup", f"{runner}-logs").state["arn"]
    repository = image_repository(mocks, image)
    return [
        Request("logs:CreateLogStream", f"{group}:log-stream:4f1c-build"),
        Request("logs:PutLogEvents", f"{group}:log-stream:4f1c-build"),
        Request("ecr:GetAuthorizationToken", "*"),
        *(Request(a, repository) for a in ECR_PULL),
    ]


def small_project_roles(mocks) -> list[str]:
    """The roles of every environment's small projects (review, recovery, record, verify)."""
    kinds = ("review", "recover", "record", "verify")
    return [r.name for r in all_of(mocks, "aws:iam/role:Role") if r.name.split("-", 1)[0] in kinds]


def test_only_the_application_build_pulls_the_build_image_and_the_small_projects_the_tools_image(declared):
    roles = declared_roles(declared)
    build_image = image_repository(declared, "build-image")
    small = small_project_roles(declared)
    # Every gated environment has a review, a recovery and a recorder; every one with `verify` a
    # smoke test (dev: neither).
    expected = sum(3 for *_, gated in environments(declared) if gated) + len(verified_environments(declared))
    assert len(small) == expected
    if not small:
        # A stack without small projects builds no tools image.
        assert [r.name for r in all_of(declared, "docker:index/image:Image")] == ["build-image-image"]
        return
    tools_image = image_repository(declared, "tools-image")
    for name in small:
        for action in ECR_PULL:
            assert roles[name].allows(Request(action, tools_image)), (name, action)
            assert not roles[name].allows(Request(action, build_image)), (name, action)
    for action in ECR_PULL:
        assert roles["build-role"].allows(Request(action, build_image))
        assert not roles["build-role"].allows(Request(action, tools_image))


def test_the_build_role_can_read_its_input_publish_the_image_and_write_its_version(declared):
    account = pipeline_account(declared)
    role = declared_roles(declared)["build-role"]
    bucket = only(declared, "aws:s3/bucket:Bucket", "artifacts-bucket").state["arn"]
    app_repository = only(declared, "aws:ecr/repository:Repository", "app-image-repository").state["arn"]
    own_bucket = {"aws:ResourceAccount": account}
    # CodeBuild service role policy (setting-up-service-role) for CodePipeline artifacts,
    # and ECR's push permissions (docker push).
    requests = [
        *codebuild_runner_requests(declared, "build"),
        Request("s3:GetObject", f"{bucket}/pipeline/ApplicationSource/abc.zip", own_bucket),
        Request("s3:GetObjectVersion", f"{bucket}/pipeline/ApplicationSource/abc.zip", own_bucket),
        Request("s3:PutObject", f"{bucket}/pipeline/ApplicationVersion/def.zip", own_bucket),
        Request("s3:GetBucketAcl", bucket, own_bucket),
        Request("s3:GetBucketLocation", bucket, own_bucket),
        *(
            Request(a, app_repository)
            for a in (
                "ecr:BatchCheckLayerAvailability",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchGetImage",
                "ecr:InitiateLayerUpload",
                "ecr:UploadLayerPart",
                "ecr:CompleteLayerUpload",
                "ecr:PutImage",
            )
        ),
    ]
    cache = only(declared, "aws:ecr/repository:Repository", "build-cache-repository").state["arn"]
    # BuildKit's registry cache: read on --cache-from, written on --cache-to.
    requests += [
        Request(a, cache)
        for a in (
            "ecr:BatchGetImage",
            "ecr:GetDownloadUrlForLayer",
            "ecr:InitiateLayerUpload",
            "ecr:UploadLayerPart",
            "ecr:CompleteLayerUpload",
            "ecr:PutImage",
        )
    ]
    variables = {
        v["name"]: v["value"]
        for v in only(declared, "aws:codebuild/project:Project", "build-project").inputs["environment"][
            "environmentVariables"
        ]
    }
    if "DOCKER_HUB_MIRROR" in variables:
        # First pull of docker-hub/library/python through the cache rule (ECR user guide).
        python = f"arn:aws:ecr:{region_of(declared)}:{account}:repository/docker-hub/library/python"
        requests += [
            Request(a, python)
            for a in (
                "ecr:CreateRepository",
                "ecr:BatchImportUpstreamImage",
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
            )
        ]
    if "DOCKERHUB_TOKEN" in variables:
        secret = variables["DOCKERHUB_TOKEN"].rsplit(":", 1)[0]
        requests.append(Request("secretsmanager:GetSecretValue", secret))
    key = only_key(declared)
    if key:
        requests += [Request("kms:Decrypt", key), Request("kms:GenerateDataKey", key)]
    denied = role.denied(requests)
    assert not denied, explain(denied)


def test_the_four_environment_stack_exercises_every_build_option():
    variables = {
        v["name"]
        for v in only(
            run_stack(FOUR_ENVIRONMENTS).mocks, "aws:codebuild/project:Project", "build-project"
        ).inputs["environment"]["environmentVariables"]
    }
    assert {
        "DOCKER_HUB_MIRROR",
        "DOCKERHUB_USERNAME",
        "DOCKERHUB_TOKEN",
        "BUILD_CACHE_REPOSITORY_URI",
    } <= variables


def test_each_review_role_can_describe_its_change_set_and_write_its_report(declared):
    account = pipeline_account(declared)
    roles = declared_roles(declared)
    bucket = only(declared, "aws:s3/bucket:Bucket", "artifacts-bucket").state["arn"]
    own_bucket = {"aws:ResourceAccount": account}
    gated = [(e, s) for e, s, g in environments(declared) if g]
    for environment, stack in gated:
        acct = account_of(declared, environment)
        stack_arn = (
            f"arn:aws:cloudformation:{stack_region_of(declared, stack)}:{acct}:stack/{stack}/0f1e2d3c-aaaa"
        )
        requests = [
            *codebuild_runner_requests(declared, f"review-{environment}", "tools-image"),
            Request("s3:GetObject", f"{bucket}/pipeline/InfrastructureSource/abc.zip", own_bucket),
            Request("s3:GetBucketAcl", bucket, own_bucket),
            Request("s3:GetBucketLocation", bucket, own_bucket),
            Request("s3:PutObject", f"{bucket}/reviews/{environment}/exec-1/report.html", own_bucket),
        ]
        reads = [
            Request("cloudformation:DescribeChangeSet", stack_arn),
            Request("cloudformation:DescribeStacks", stack_arn),
        ]
        if acct == account:
            requests += reads
        else:
            # In another account the review reads through that account's reader role.
            reader = roles[f"{environment}-reader-role"]
            requests.append(Request("sts:AssumeRole", reader.arn))
            denied = reader.denied(reads)
            assert not denied, explain(denied)
        denied = roles[f"review-{environment}-role"].denied(requests)
        assert not denied, explain(denied)


def test_each_recovery_role_can_read_and_delete_its_stack(declared):
    """What recover-stack asks: DescribeStacks, DeleteStack and the waiter's DescribeStacks
    (AWS CLI `wait stack-delete-complete`); CloudFormation deletes with the stack's own role,
    so no iam:PassRole (DeleteStack, RoleARN)."""
    account = pipeline_account(declared)
    roles = declared_roles(declared)
    bucket = only(declared, "aws:s3/bucket:Bucket", "artifacts-bucket").state["arn"]
    own_bucket = {"aws:ResourceAccount": account}
    key = only_key(declared)
    gated = [(e, s) for e, s, g in environments(declared) if g]
    for environment, stack in gated:
        acct = account_of(declared, environment)
        stack_arn = (
            f"arn:aws:cloudformation:{stack_region_of(declared, stack)}:{acct}:stack/{stack}/0f1e2d3c-aaaa"
        )
        requests = [
            *codebuild_runner_requests(declared, f"recover-{environment}", "tools-image"),
            Request("s3:GetObject", f"{bucket}/pipeline/InfrastructureSource/abc.zip", own_bucket),
            Request("s3:GetBucketAcl", bucket, own_bucket),
            Request("s3:GetBucketLocation", bucket, own_bucket),
            *([Request("kms:Decrypt", key)] if key else []),
        ]
        recovery = [
            Request("cloudformation:DescribeStacks", stack_arn),
            Request("cloudformation:DeleteStack", stack_arn),
        ]
        if acct == account:
            requests += recovery
        else:
            remote = roles[f"{environment}-recover-role"]
            requests.append(Request("sts:AssumeRole", remote.arn))
            denied = remote.denied(recovery)
            assert not denied, explain(denied)
        denied = roles[f"recover-{environment}-role"].denied(requests)
        assert not denied, explain(denied)


def test_a_recovery_role_can_delete_nothing_but_its_stack_and_change_nothing(declared):
    account = pipeline_account(declared)
    roles = declared_roles(declared)
    bucket = only(declared, "aws:s3/bucket:Bucket", "artifacts-bucket").state["arn"]
    region = region_of(declared)
    envs = environments(declared)
    for environment, stack, gated in envs:
        if not gated:
            continue
        acct = account_of(declared, environment)
        own = f"arn:aws:cloudformation:{region}:{acct}:stack/{stack}/0f1e2d3c-aaaa"
        acting = [roles[f"recover-{environment}-role"]]
        if acct != account:
            acting.append(roles[f"{environment}-recover-role"])
        for role in acting:
            for request in (
                *(
                    Request(f"cloudformation:{a}", own)
                    for a in (
                        "UpdateStack",
                        "CreateStack",
                        "CreateChangeSet",
                        "ExecuteChangeSet",
                        "SetStackPolicy",
                    )
                ),
                *(
                    Request(
                        "cloudformation:DeleteStack", f"arn:aws:cloudformation:{region}:{a}:stack/{other}/x"
                    )
                    for other_env, other, _ in envs
                    if other_env != environment
                    for a in {account, account_of(declared, other_env)}
                ),
                Request("iam:PassRole", f"arn:aws:iam::{acct}:role/any"),
                Request(
                    "s3:PutObject",
                    f"{bucket}/pipeline/ApplicationVersion/x.zip",
                    {"aws:ResourceAccount": account},
                ),
                Request("codebuild:StartBuild", f"arn:aws:codebuild:{region}:{account}:project/any"),
            ):
                assert not role.allows(request), (role.name, request)


# -- isolation -----------------------------------------------------------------------------
def assert_untouchable(declared, role, environment: str, other: str, target: str) -> None:
    # Even with the other environment's own boundary, or with this one's.
    for used_boundary in (boundary(declared, other), boundary(declared, environment)):
        with_boundary = {"iam:PermissionsBoundary": used_boundary}
        for action in (
            "iam:CreateRole",
            "iam:PutRolePolicy",
            "iam:AttachRolePolicy",
            "iam:DeleteRolePolicy",
            "iam:PutRolePermissionsBoundary",
        ):
            assert not role.allows(Request(action, target, with_boundary)), (
                environment,
                other,
                action,
            )
    for action in ("iam:UpdateAssumeRolePolicy", "iam:DeleteRole", "iam:TagRole", "iam:UpdateRole"):
        assert not role.allows(Request(action, target)), (environment, other, action)
    for service in ("ecs-tasks.amazonaws.com", "lambda.amazonaws.com"):
        assert not role.allows(Request("iam:PassRole", target, {"iam:PassedToService": service}))


def test_no_deploy_role_can_touch_another_environments_roles(declared):
    roles = declared_roles(declared)
    envs = environments(declared)
    for environment, _, _ in envs:
        role = roles[f"deploy-{environment}-role"]
        for other, other_stack, _ in envs:
            if other == environment:
                continue
            # In the other environment's account, and in this one's.
            for where in {account_of(declared, other), account_of(declared, environment)}:
                target = f"arn:aws:iam::{where}:role/{other_stack}/{other_stack}-TaskRole-1A2B3C4D5E6F"
                assert_untouchable(declared, role, environment, other, target)


def test_no_deploy_role_can_act_on_another_environments_stack(declared):
    # PowerUserAccess allows cloudformation:* everywhere; a deploy role keeps to its own stack
    # among the environments of its account, in any region.
    roles = declared_roles(declared)
    envs = environments(declared)
    for environment, stack, _ in envs:
        role = roles[f"deploy-{environment}-role"]
        acct = account_of(declared, environment)
        own = f"arn:aws:cloudformation:eu-west-1:{acct}:stack/{stack}/0a1b2c3d-aaaa-bbbb-cccc-0123456789ab"
        assert role.allows(Request("cloudformation:UpdateStack", own)), environment
        for other, other_stack, _ in envs:
            if other == environment or account_of(declared, other) != acct:
                continue
            for region in ("eu-west-1", "ap-southeast-2"):
                target = f"arn:aws:cloudformation:{region}:{acct}:stack/{other_stack}/0a1b2c3d-aaaa-bbbb-cccc-0123456789ab"
                for action in (
                    "cloudformation:UpdateStack",
                    "cloudformation:CreateChangeSet",
                    "cloudformation:ExecuteChangeSet",
                    "cloudformation:DeleteStack",
                    "cloudformation:SetStackPolicy",
                ):
                    assert not role.allows(Request(action, target)), (environment, other, region, action)


def test_an_ungated_deploy_cannot_create_an_unbounded_role_or_remove_a_boundary(declared):
    roles = declared_roles(declared)
    for environment, stack, _ in environments(declared):
        acct = account_of(declared, environment)
        role = roles[f"deploy-{environment}-role"]
        own = f"arn:aws:iam::{acct}:role/{stack}/{stack}-Admin-1A2B3C4D5E6F"
        assert role.allows(
            Request("iam:CreateRole", own, {"iam:PermissionsBoundary": boundary(declared, environment)})
        )
        assert not role.allows(Request("iam:CreateRole", own))
        assert not role.allows(
            Request(
                "iam:CreateRole",
                own,
                {"iam:PermissionsBoundary": "arn:aws:iam::aws:policy/AdministratorAccess"},
            )
        )
        assert not role.allows(
            Request(
                "iam:AttachRolePolicy", own, {"iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"}
            )
        )
        assert not role.allows(
            Request(
                "iam:DeleteRolePermissionsBoundary",
                own,
                {"iam:PermissionsBoundary": boundary(declared, environment)},
            )
        )
        # Outside the stack's path: an account-wide role name.
        assert not role.allows(
            Request(
                "iam:CreateRole",
                f"arn:aws:iam::{acct}:role/Admin",
                {"iam:PermissionsBoundary": boundary(declared, environment)},
            )
        )
        for any_environment, _, _ in environments(declared):
            for action in ("iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:DeletePolicy"):
                assert not role.allows(Request(action, boundary(declared, any_environment))), (
                    environment,
                    action,
                )


def test_a_role_a_stack_creates_can_neither_write_iam_nor_drive_the_pipeline(declared):
    """What the boundary leaves a role created by an application stack, even one the
    template gives AdministratorAccess."""
    region = region_of(declared)
    pipeline_arn = only(declared, "aws:codepipeline/pipeline:Pipeline").state["arn"]
    for environment, stack, _ in environments(declared):
        acct = account_of(declared, environment)
        boundary_arn = boundary(declared, environment)
        boundary_document = json.loads(
            only(declared, "aws:iam/policy:Policy", f"deploy-{environment}-boundary").inputs["policy"]
        )
        minted = DeclaredRole(
            "minted",
            f"arn:aws:iam::{acct}:role/{stack}/{stack}-Admin-1A2B3C4D5E6F",
            [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}],
            [],
            (boundary_arn, boundary_document),
        )
        assert minted.allows(Request("s3:GetObject", f"arn:aws:s3:::{stack}-data/key"))
        own_task_role = f"arn:aws:iam::{acct}:role/{stack}/{stack}-TaskRole-1A2B3C4D5E6F"
        assert minted.allows(
            Request("iam:PassRole", own_task_role, {"iam:PassedToService": "ecs-tasks.amazonaws.com"})
        )
        for request in (
            Request("iam:CreateRole", f"arn:aws:iam::{acct}:role/escape"),
            Request("iam:AttachRolePolicy", own_task_role),
            Request("iam:PassRole", own_task_role, {"iam:PassedToService": "cloudformation.amazonaws.com"}),
            *(
                Request(
                    "cloudformation:UpdateStack",
                    f"arn:aws:cloudformation:{region}:{acct}:stack/{some_stack}/x",
                )
                for _, some_stack, _ in environments(declared)
            ),
            Request("codepipeline:PutApprovalResult", f"{pipeline_arn}/{environment}/Approve"),
            Request("organizations:LeaveOrganization", "*"),
            # A role that trusts the account root would take the minted role out of its boundary.
            Request("sts:AssumeRole", f"arn:aws:iam::{acct}:role/OrganizationAccountAccessRole"),
            Request("sts:AssumeRoleWithWebIdentity", f"arn:aws:iam::{acct}:role/ci-deployer"),
        ):
            assert not minted.allows(request), request


def test_the_pipeline_hands_deploy_roles_to_cloudformation_only(declared):
    role = declared_roles(declared)["delivery-role"]
    for environment, _, _ in environments(declared):
        deploy_role = only(declared, "aws:iam/role:Role", f"deploy-{environment}-role").state["arn"]
        for service in ("ec2.amazonaws.com", "lambda.amazonaws.com", "codebuild.amazonaws.com"):
            assert not role.allows(Request("iam:PassRole", deploy_role, {"iam:PassedToService": service}))
    build_role = only(declared, "aws:iam/role:Role", "build-role").state["arn"]
    assert not role.allows(
        Request("iam:PassRole", build_role, {"iam:PassedToService": "cloudformation.amazonaws.com"})
    )


def test_the_pipeline_role_starts_the_delivery_systems_projects_and_no_other(declared):
    role = declared_roles(declared)["delivery-role"]
    account, region = pipeline_account(declared), region_of(declared)
    pipeline = only(declared, "aws:codepipeline/pipeline:Pipeline").inputs
    prefix = pipeline["name"]  # `<application>-<stack>`, which names every project too
    projects = {r.inputs["name"]: r.state["arn"] for r in all_of(declared, "aws:codebuild/project:Project")}
    run = {
        action["configuration"]["ProjectName"]
        for stage in pipeline["stages"]
        for action in stage["actions"]
        if action["provider"] == "CodeBuild"
    }
    # What the pipeline runs is what the program declared, each named in the delivery system's
    # namespace (`<prefix>-*`, which every deploy role and boundary keeps off).
    assert run == set(projects)
    assert all(name.startswith(f"{prefix}-") for name in projects), sorted(projects)
    for arn in projects.values():
        for action in ("codebuild:StartBuild", "codebuild:BatchGetBuilds"):
            assert role.allows(Request(action, arn)), (action, arn)
    other_account = "210987654321" if account != "210987654321" else "123456789012"
    other_region = "ap-southeast-2" if region != "ap-southeast-2" else "eu-west-1"
    build = f"{prefix}-build"
    outside = [
        f"arn:aws:codebuild:{region}:{account}:project/{prefix}",
        f"arn:aws:codebuild:{region}:{account}:project/{prefix}build",
        f"arn:aws:codebuild:{region}:{account}:project/x{build}",
        f"arn:aws:codebuild:{region}:{account}:project/other-application-build",
        f"arn:aws:codebuild:{other_region}:{account}:project/{build}",
        f"arn:aws:codebuild:{region}:{other_account}:project/{build}",
    ]
    for arn in outside:
        for action in ("codebuild:StartBuild", "codebuild:BatchGetBuilds"):
            assert not role.allows(Request(action, arn)), (action, arn)


def test_review_and_build_roles_stay_in_their_lanes(declared):
    account = pipeline_account(declared)
    roles = declared_roles(declared)
    bucket = only(declared, "aws:s3/bucket:Bucket", "artifacts-bucket").state["arn"]
    build_image = only(declared, "aws:ecr/repository:Repository", "build-image-ecr-repository").state["arn"]
    assert not roles["build-role"].allows(Request("ecr:PutImage", build_image))
    assert not roles["build-role"].allows(Request("cloudformation:DescribeStacks", "*"))
    # Creating repositories only under the pull-through cache prefix, never elsewhere.
    region = region_of(declared)
    assert not roles["build-role"].allows(
        Request("ecr:CreateRepository", f"arn:aws:ecr:{region}:{account}:repository/another-team/app")
    )
    assert not roles["build-role"].allows(
        Request(
            "secretsmanager:GetSecretValue",
            f"arn:aws:secretsmanager:{region}:{account}:secret:prod/db-AbCdEf",
        )
    )
    envs = environments(declared)
    for environment, _, gated in envs:
        if not gated:
            continue
        review = roles[f"review-{environment}-role"]
        assert not review.allows(
            Request(
                "s3:PutObject",
                f"{bucket}/pipeline/ApplicationVersion/x.zip",
                {"aws:ResourceAccount": account},
            )
        )
        for other, other_stack, _ in envs:
            if other != environment:
                arn = f"arn:aws:cloudformation:{stack_region_of(declared, other_stack)}:{account}:stack/{other_stack}/x"
                assert not review.allows(Request("cloudformation:DescribeChangeSet", arn))
        assert not review.allows(Request("cloudformation:ExecuteChangeSet", "*"))


def verified_environments(mocks) -> list[str]:
    return [
        r.name.removeprefix("verify-")
        for r in mocks.resources
        if r.type == "ecs-delivery:verify_project:VerifyProject"
    ]


def test_each_verify_role_can_log_pull_its_image_and_read_its_checkout(declared):
    account = pipeline_account(declared)
    roles = declared_roles(declared)
    bucket = only(declared, "aws:s3/bucket:Bucket", "artifacts-bucket").state["arn"]
    own_bucket = {"aws:ResourceAccount": account}
    key = only_key(declared)
    for environment in verified_environments(declared):
        # CodeBuild with a CodePipeline input (setting-up-service-role, S3BucketIdentity).
        requests = [
            *codebuild_runner_requests(declared, f"verify-{environment}", "tools-image"),
            *(
                Request(a, f"{bucket}/pipeline/ApplicationSource/abc.zip", own_bucket)
                for a in ("s3:GetObject", "s3:GetObjectVersion")
            ),
            *(Request(a, bucket, own_bucket) for a in ("s3:GetBucketAcl", "s3:GetBucketLocation")),
            *([Request("kms:Decrypt", key)] if key else []),
        ]
        denied = roles[f"verify-{environment}-role"].denied(requests)
        assert not denied, explain(denied)


def test_a_verify_role_can_do_nothing_but_log_and_read(declared):
    account = pipeline_account(declared)
    roles = declared_roles(declared)
    bucket = only(declared, "aws:s3/bucket:Bucket", "artifacts-bucket").state["arn"]
    app_repository = only(declared, "aws:ecr/repository:Repository", "app-image-repository").state["arn"]
    region = region_of(declared)
    key = only_key(declared)
    for environment in verified_environments(declared):
        role = roles[f"verify-{environment}-role"]
        for request in (
            Request(
                "s3:PutObject",
                f"{bucket}/pipeline/ApplicationVersion/x.zip",
                {"aws:ResourceAccount": account},
            ),
            Request("ecr:PutImage", app_repository),
            Request("cloudformation:DescribeStacks", f"arn:aws:cloudformation:{region}:{account}:stack/x/y"),
            Request("cloudwatch:DescribeAlarms", f"arn:aws:cloudwatch:{region}:{account}:alarm:any"),
            Request("codebuild:StartBuild", f"arn:aws:codebuild:{region}:{account}:project/any"),
            Request("iam:PassRole", f"arn:aws:iam::{account}:role/any"),
            *([Request("kms:GenerateDataKey", key)] if key else []),
        ):
            assert not role.allows(request), (environment, request)


def test_the_pipeline_reads_only_the_alarms_its_rules_watch(declared):
    account = pipeline_account(declared)
    role = declared_roles(declared)["delivery-role"]
    region = region_of(declared)
    assert not role.allows(
        Request("cloudwatch:DescribeAlarms", f"arn:aws:cloudwatch:{region}:{account}:alarm:someone-elses")
    )


# -- the proof itself can fail -------------------------------------------------------------
def test_dropping_one_needed_action_is_reported_with_role_action_and_resource():
    mocks = run_stack("prod").mocks
    role = copy.deepcopy(declared_roles(mocks)["deploy-dev-role"])
    for document in role.inline:
        for statement in document["Statement"]:
            if statement["Sid"] == "MaintainStackRoles":
                statement["Action"].remove("iam:ListAttachedRolePolicies")
    denied = role.denied(requests_for_stack(mocks, "dev", "todobackend-dev"))
    assert {(r.action, r.resource.rsplit("/", 1)[-1]) for r in denied} == {
        ("iam:ListAttachedRolePolicies", f"todobackend-dev-{logical}-1A2B3C4D5E6F")
        for logical in (
            "ApplicationTaskExecutionRole",
            "ApplicationTaskRole",
            "LoadBalancerInfrastructureRole",
            "MigrationsFunctionRole",
        )
    }


def test_dropping_the_boundary_condition_is_caught_by_isolation():
    mocks = run_stack("prod").mocks
    role = copy.deepcopy(declared_roles(mocks)["deploy-dev-role"])
    for document in role.inline:
        for statement in document["Statement"]:
            statement.pop("Condition", None) if statement.get("Sid") == "WriteBoundedStackRoles" else None
    own = f"arn:aws:iam::{ACCOUNT}:role/todobackend-dev/todobackend-dev-Admin-1A2B3C4D5E6F"
    assert role.allows(Request("iam:CreateRole", own))  # what the isolation test forbids


def test_the_lifecycle_hook_roles_are_passed_to_ecs_by_their_own_deploy_role_alone(declared):
    """The invoke role of an environment's lifecycle-hook test (`TestHookRoleArn`): its deploy
    role may pass it to ECS, not to any other service; no other deploy role may pass it, and no
    deploy role may pass the function's own role or change either (both live under the
    program's /ecs-delivery/ path, outside every stack's)."""
    roles = declared_roles(declared)
    hooks = {
        resource.name.removeprefix("hook-").removesuffix("-invoke-role"): resource.state["arn"]
        for resource in declared.resources
        if resource.type == "aws:iam/role:Role"
        and resource.name.startswith("hook-")
        and resource.name.endswith("-invoke-role")
    }
    functions = [
        resource.state["arn"]
        for resource in declared.resources
        if resource.type == "aws:iam/role:Role"
        and resource.name.startswith("hook-")
        and not resource.name.endswith("-invoke-role")
    ]
    envs = environments(declared)
    for environment, _, _ in envs:
        role = roles[f"deploy-{environment}-role"]
        for owner, invoke_role in hooks.items():
            to_ecs = Request("iam:PassRole", invoke_role, {"iam:PassedToService": "ecs.amazonaws.com"})
            assert role.allows(to_ecs) == (owner == environment), (environment, owner)
            for service in ("ecs-tasks.amazonaws.com", "lambda.amazonaws.com", "events.amazonaws.com"):
                assert not role.allows(Request("iam:PassRole", invoke_role, {"iam:PassedToService": service}))
            for action in (
                "iam:PutRolePolicy",
                "iam:UpdateAssumeRolePolicy",
                "iam:AttachRolePolicy",
                "iam:DeleteRole",
            ):
                assert not role.allows(Request(action, invoke_role)), (environment, owner, action)
        for function_role in functions:
            for service in ("lambda.amazonaws.com", "ecs.amazonaws.com"):
                assert not role.allows(
                    Request("iam:PassRole", function_role, {"iam:PassedToService": service})
                ), (environment, function_role)


def test_the_fixtures_with_a_progressive_deployment_are_proven():
    # The proofs above are not vacuous: prod (same account) has a canary with its lifecycle-hook
    # test; cross-account a blue/green deployment (its listener rules, alternate target group
    # and infrastructure role are proven in the target account by the sufficiency test).
    mocks = run_stack("prod").mocks
    assert [r.name for r in mocks.resources if r.type == "ecs-delivery:lifecycle_hook:LifecycleHook"] == [
        "hook-production"
    ]
    assert "TestHookRoleArn" in pipeline_parameters(mocks, "todobackend-prod")
    remote = pipeline_parameters(run_stack(CROSS_ACCOUNT).mocks, "todobackend-prod")
    assert remote["DeploymentStrategy"] == "BLUE_GREEN"
    requests = requests_for_stack(run_stack(CROSS_ACCOUNT).mocks, "production", "todobackend-prod")
    assert {r.action for r in requests} >= {"elasticloadbalancing:CreateRule", "iam:PassRole"}
