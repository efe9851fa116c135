"""Production in its own AWS account: dev in the pipeline's account (123456789012),
production in 222222222222 (tests/fixtures/stacks/Pulumi.cross-account.yaml); and two
environments in that one other account (Pulumi.two-in-one-account.yaml).

What is proven here: config refuses what cannot work; everything of the target account
is declared through that account's provider (and nothing else is); and every
cross-account path is allowed by both sides, as IAM evaluates a request on a resource with
a policy of its own (principalmapper's simulator with the trust, key, bucket or
repository policy), while nothing in the pipeline account's ungated stages gets in.
"""

from __future__ import annotations

import fnmatch
import json

import pytest

from components.config import ConfigError, load_config
from components.iam_policies import Request
from offline import provider_calls
from tests.conftest import (
    CROSS_ACCOUNT,
    FIXTURE_STACKS,
    MINIMAL_RAW,
    action_of,
    config_with,
    only,
    pipeline_inputs,
    run_config,
    run_stack,
    shared_scope,
)
from tests.support.permissions import DeclaredRole, aws_managed_policies, declared_roles

PIPELINE_ACCOUNT = "123456789012"
TARGET = "222222222222"
REGION = "eu-west-1"


@pytest.fixture(scope=shared_scope)
def declared():
    return run_stack(CROSS_ACCOUNT).mocks


@pytest.fixture(scope=shared_scope)
def roles(declared):
    return declared_roles(declared)


def arn_of(mocks, typ: str, name: str) -> str:
    return only(mocks, typ, name).state["arn"]


def policy_of(mocks, typ: str, name: str, key: str = "policy") -> dict:
    return json.loads(only(mocks, typ, name).inputs[key])


# -- config ---------------------------------------------------------------------------------
def problems(**changes) -> list[str]:
    raw = {
        **MINIMAL_RAW,
        "environments": [
            {"name": "dev", "stackName": "app-dev"},
            {
                "name": "production",
                "stackName": "app-prod",
                "approval": True,
                "approvers": ["arn:aws:iam::123456789012:role/release-managers"],
                "account": TARGET,
            },
        ],
        "targetAccounts": {TARGET: {"roleArn": f"arn:aws:iam::{TARGET}:role/ecs-delivery-bootstrap"}},
        "notifications": {"emails": ["platform-team@example.com"]},
        **changes,
    }
    try:
        load_config(raw)
    except ConfigError as error:
        return error.problems
    return []


def test_a_valid_cross_account_config_loads():
    assert problems() == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"targetAccounts": {}},
            f"ecs-delivery:environments[1].account: '{TARGET}' has no targetAccounts entry; "
            f"set targetAccounts.{TARGET}.roleArn, the role Pulumi assumes there",
        ),
        (
            {
                "targetAccounts": {
                    TARGET: {"roleArn": f"arn:aws:iam::{TARGET}:role/bootstrap"},
                    "333333333333": {"roleArn": "arn:aws:iam::333333333333:role/bootstrap"},
                }
            },
            "ecs-delivery:targetAccounts.333333333333: no environment deploys to this account",
        ),
        (
            {"targetAccounts": {TARGET: {"roleArn": "arn:aws:iam::333333333333:role/bootstrap"}}},
            f"ecs-delivery:targetAccounts.{TARGET}.roleArn: the role is in account 333333333333; "
            f"Pulumi must assume a role in {TARGET} itself",
        ),
        (
            {
                "artifacts": {
                    "kmsKeyArn": f"arn:aws:kms:us-east-1:{PIPELINE_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                }
            },
            "ecs-delivery:artifacts.kmsKeyArn: with environments in other accounts the stack creates the "
            "artifact key itself",
        ),
        (
            {"application": {"name": "app", "repository": "o/app", "imageRepository": "team/app"}},
            "ecs-delivery:application.imageRepository: with environments in other accounts the stack must own",
        ),
        (
            {"targetAccounts": {"2222": {"roleArn": f"arn:aws:iam::{TARGET}:role/bootstrap"}}},
            "ecs-delivery:targetAccounts.2222: '2222' is not allowed: a 12-digit AWS account id",
        ),
    ],
)
def test_inconsistent_account_settings_fail_naming_the_key(changes, expected):
    found = problems(**changes)
    assert any(p.startswith(expected) for p in found) or any(expected in p for p in found), found


def test_an_account_id_must_be_twelve_digits():
    raw = {**MINIMAL_RAW, "environments": [{"name": "prod", "stackName": "p", "account": "22222222222"}]}
    with pytest.raises(ConfigError) as caught:
        load_config(raw)
    assert any(
        p.startswith(
            "ecs-delivery:environments[0].account: '22222222222' is not allowed: a 12-digit AWS account id"
        )
        for p in caught.value.problems
    )


def test_the_stack_name_of_this_programs_role_path_is_reserved():
    raw = {**MINIMAL_RAW, "environments": [{"name": "dev", "stackName": "ecs-delivery"}]}
    with pytest.raises(ConfigError) as caught:
        load_config(raw)
    assert caught.value.problems == [
        "ecs-delivery:environments[0].stackName: 'ecs-delivery' is reserved: the stack's roles would live "
        "under /ecs-delivery/, the IAM path of this program's own roles"
    ]


# -- what is declared where ------------------------------------------------------------------
def test_the_target_account_is_reached_through_an_assumed_role(declared):
    (provider,) = [r for r in declared.resources if r.type == "pulumi:providers:aws"]
    assert provider.name == f"account-{TARGET}"
    inputs = {
        k: json.loads(v) if isinstance(v, str) and v[:1] in "[{" else v for k, v in provider.inputs.items()
    }
    # (Provider inputs reach the engine JSON-encoded, with the provider's own key names.)
    assert inputs["assumeRoles"] == [
        {"role_arn": f"arn:aws:iam::{TARGET}:role/ecs-delivery-bootstrap", "session_name": "ecs-delivery"}
    ]
    # The provider refuses credentials for any other account.
    assert inputs["allowedAccountIds"] == [TARGET]


def test_every_target_resource_and_only_those_use_the_target_provider(declared):
    (provider,) = [r for r in declared.resources if r.type == "pulumi:providers:aws"]
    in_target = sorted(
        (r.type, r.name)
        for r in declared.resources
        if r.custom and r.provider.startswith(provider.urn + "::")
    )
    assert in_target == [
        ("aws:cloudwatch/logGroup:LogGroup", "hook-production-logs"),
        ("aws:iam/policy:Policy", "deploy-production-boundary"),
        ("aws:iam/role:Role", "deploy-production-role"),
        ("aws:iam/role:Role", "hook-production-invoke-role"),
        ("aws:iam/role:Role", "hook-production-role"),
        ("aws:iam/role:Role", "production-action-role"),
        ("aws:iam/role:Role", "production-reader-role"),
        ("aws:iam/role:Role", "production-recover-role"),
        ("aws:iam/rolePolicy:RolePolicy", "deploy-production-iam"),
        ("aws:iam/rolePolicy:RolePolicy", "hook-production-invoke-policy"),
        ("aws:iam/rolePolicy:RolePolicy", "hook-production-policy"),
        ("aws:iam/rolePolicy:RolePolicy", "production-action-policy"),
        ("aws:iam/rolePolicy:RolePolicy", "production-reader-policy"),
        ("aws:iam/rolePolicy:RolePolicy", "production-recover-policy"),
        ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "deploy-production-managed-0"),
        ("aws:lambda/function:Function", "hook-production-function"),
    ]
    # The mock answers in the account of the provider a resource is declared with.
    for typ, name in in_target:
        arn = only(declared, typ, name).state.get("arn")
        assert arn is None or f":{TARGET}:" in arn, (name, arn)
    for resource in declared.resources:
        if resource.custom and (resource.type, resource.name) not in in_target:
            assert TARGET not in (resource.state.get("arn") or ""), resource.name


def test_production_actions_run_as_the_action_role_and_read_through_the_reader(declared):
    action_role = arn_of(declared, "aws:iam/role:Role", "production-action-role")
    reader = arn_of(declared, "aws:iam/role:Role", "production-reader-role")
    assert action_role.startswith(
        f"arn:aws:iam::{TARGET}:role/ecs-delivery/todobackend-cross-account/action/production/"
    )
    for stage, action in (
        ("production-plan", "CreateChangeSet"),
        ("production", "CreateChangeSet"),
        ("production", "ExecuteChangeSet"),
    ):
        found = action_of(declared, stage, action)
        assert found["roleArn"] == action_role
        assert found["configuration"].get(
            "RoleArn", arn_of(declared, "aws:iam/role:Role", "deploy-production-role")
        ) == (arn_of(declared, "aws:iam/role:Role", "deploy-production-role"))
    for stage, action in (("production-plan", "ReviewChangeSet"), ("production", "ConfirmChangeSet")):
        variables = json.loads(action_of(declared, stage, action)["configuration"]["EnvironmentVariables"])
        assert {"name": "READER_ROLE_ARN", "value": reader} in variables
        # The review, its confirm, the recovery and the smoke test run in the pipeline's account.
        assert "roleArn" not in action_of(declared, stage, action)
    recover = action_of(declared, "production-plan", "RecoverStack")
    assert "roleArn" not in recover
    assert json.loads(recover["configuration"]["EnvironmentVariables"]) == [
        {
            "name": "RECOVERY_ROLE_ARN",
            "value": arn_of(declared, "aws:iam/role:Role", "production-recover-role"),
        }
    ]
    assert arn_of(declared, "aws:iam/role:Role", "production-recover-role").startswith(
        f"arn:aws:iam::{TARGET}:role/ecs-delivery/todobackend-cross-account/recovery/production/"
    )
    assert "roleArn" not in action_of(declared, "production", "Verify")
    assert "roleArn" not in action_of(declared, "production-approval", "Approve")
    # Alarms in the target account are read as the action role.
    release = next(s for s in pipeline_inputs(declared)["stages"] if s["name"] == "production")
    (alarm,) = release["onSuccess"]["condition"]["rules"]
    assert alarm["roleArn"] == action_role
    # dev stays in the pipeline's account.
    assert "roleArn" not in action_of(declared, "dev", "Deploy")
    assert (
        f"in account {TARGET}"
        in action_of(declared, "production-approval", "Approve")["configuration"]["CustomData"]
    )


def test_an_ungated_environment_in_another_account_gets_an_action_role_and_nothing_to_review():
    """Only a gated environment has a review and a recovery, so only a gated one has their
    roles in its account."""
    run = run_config(
        config_with(
            environments=[
                {"name": "dev", "stackName": "todobackend-dev", "account": TARGET},
                {
                    "name": "production",
                    "stackName": "todobackend-prod",
                    "approval": True,
                    "approvers": ["arn:aws:iam::123456789012:role/release-managers"],
                },
            ],
            targetAccounts={TARGET: {"roleArn": f"arn:aws:iam::{TARGET}:role/ecs-delivery-bootstrap"}},
        ),
        stack="remote-dev",
    )
    remote_roles = sorted(
        r.name
        for r in run.mocks.resources
        if r.type == "aws:iam/role:Role" and f"::{TARGET}:" in r.state["arn"]
    )
    assert remote_roles == ["deploy-dev-role", "dev-action-role"]
    deploy = action_of(run.mocks, "dev", "Deploy")
    assert deploy["roleArn"] == only(run.mocks, "aws:iam/role:Role", "dev-action-role").state["arn"]


def test_the_template_pulls_the_image_from_the_pipelines_registry(declared):
    overrides = json.loads(
        action_of(declared, "production", "CreateChangeSet")["configuration"]["ParameterOverrides"]
    )
    assert overrides["ApplicationImageRegistry"] == f"{PIPELINE_ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
    assert overrides["PermissionsBoundaryArn"].startswith(f"arn:aws:iam::{TARGET}:policy/ecs-delivery/")


def test_artifacts_are_encrypted_with_a_created_customer_managed_key(declared):
    key = arn_of(declared, "aws:kms/key:Key", "artifact-key-key")
    assert key.startswith(f"arn:aws:kms:{REGION}:{PIPELINE_ACCOUNT}:key/")
    assert only(declared, "aws:kms/key:Key", "artifact-key-key").inputs["enableKeyRotation"] is True
    (store,) = pipeline_inputs(declared)["artifactStores"]
    assert store["encryptionKey"] == {"id": key, "type": "KMS"}


# -- the cross-account paths, both sides -------------------------------------------------------
def bucket_object(mocks, path: str) -> str:
    return f"{arn_of(mocks, 'aws:s3/bucket:Bucket', 'artifacts-bucket')}/{path}"


def reads_artifacts(mocks, role: DeclaredRole, path: str) -> tuple[bool, bool]:
    """Whether `role` may read the artifact at `path` of the pipeline's bucket, and decrypt it
    with the artifact key, through the bucket's and the key's policies."""
    key = arn_of(mocks, "aws:kms/key:Key", "artifact-key-key")
    template = Request("s3:GetObject", bucket_object(mocks, path), {"aws:ResourceAccount": PIPELINE_ACCOUNT})
    return (
        role.allows_through(
            template,
            policy_of(mocks, "aws:s3/bucketPolicy:BucketPolicy", "artifacts-policy"),
            PIPELINE_ACCOUNT,
        ),
        role.allows_through(
            Request("kms:Decrypt", key),
            policy_of(mocks, "aws:kms/key:Key", "artifact-key-key"),
            PIPELINE_ACCOUNT,
        ),
    )


def administrator(arn: str) -> DeclaredRole:
    """A role of `arn` allowed everything by its own policy."""
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    return DeclaredRole("admin", arn, [document], [], None)


def admitted_as_iam_matches(document: dict, principal_arn: str) -> bool:
    """Whether an Allow of `document` admits `principal_arn` by its `aws:PrincipalArn`
    condition. ArnLike compares case-sensitively (IAM JSON policy elements: condition
    operators, "ArnLike: case-sensitive matching of the ARN"); principalmapper compares
    without case, so this checks what IAM would."""
    return any(
        fnmatch.fnmatchcase(principal_arn, pattern)
        for statement in document["Statement"]
        if statement["Effect"] == "Allow"
        for pattern in statement.get("Condition", {}).get("ArnLike", {}).get("aws:PrincipalArn", [])
    )


def test_pipeline_role_to_action_role(declared, roles):
    action = only(declared, "aws:iam/role:Role", "production-action-role")
    trust = json.loads(action.inputs["assumeRolePolicy"])
    assume = Request("sts:AssumeRole", action.state["arn"])
    assert roles["delivery-role"].allows_through(assume, trust, TARGET)
    # No other role of the pipeline account gets in: not the ungated deploy role
    # (PowerUserAccess allows sts:AssumeRole on anything), nor the build, review or smoke tests.
    for other in ("deploy-dev-role", "build-role", "review-production-role", "verify-dev-role"):
        assert not roles[other].allows_through(assume, trust, TARGET), other
    # The pipeline role assumes the action roles and nothing else.
    reader = arn_of(declared, "aws:iam/role:Role", "production-reader-role")
    assert not roles["delivery-role"].allows(Request("sts:AssumeRole", reader))
    assert not roles["delivery-role"].allows(Request("sts:AssumeRole", f"arn:aws:iam::{TARGET}:role/Admin"))
    # It drives no stack of the target account itself.
    prod_stack = f"arn:aws:cloudformation:{REGION}:{TARGET}:stack/todobackend-prod/x"
    assert not roles["delivery-role"].allows(Request("cloudformation:UpdateStack", prod_stack))


def test_action_role_to_artifacts_and_key(declared, roles):
    action = roles["production-action-role"]
    bucket_policy = policy_of(declared, "aws:s3/bucketPolicy:BucketPolicy", "artifacts-policy")
    key_policy = policy_of(declared, "aws:kms/key:Key", "artifact-key-key")
    key = arn_of(declared, "aws:kms/key:Key", "artifact-key-key")
    own_bucket = {"aws:ResourceAccount": PIPELINE_ACCOUNT}
    for path in (
        "todobackend-cross/InfrastructureSource/abc.zip",
        "todobackend-cross/ApplicationVersion/def.zip",
    ):
        for verb in ("s3:GetObject", "s3:GetObjectVersion"):
            assert action.allows_through(
                Request(verb, bucket_object(declared, path), own_bucket), bucket_policy, PIPELINE_ACCOUNT
            )
    assert action.allows_through(Request("kms:Decrypt", key), key_policy, PIPELINE_ACCOUNT)
    assert admitted_as_iam_matches(bucket_policy, action.arn)
    assert admitted_as_iam_matches(key_policy, action.arn)
    # It reads; it never writes artifacts.
    assert not action.allows_through(
        Request("s3:PutObject", bucket_object(declared, "x/y.zip"), own_bucket),
        bucket_policy,
        PIPELINE_ACCOUNT,
    )
    assert not action.allows_through(Request("kms:GenerateDataKey", key), key_policy, PIPELINE_ACCOUNT)


def test_action_role_to_its_stack_only(declared, roles):
    action = roles["production-action-role"]
    stack = f"arn:aws:cloudformation:{REGION}:{TARGET}:stack/todobackend-prod/0f1e2d3c"
    deploy_role = arn_of(declared, "aws:iam/role:Role", "deploy-production-role")
    needed = [
        *(
            Request(f"cloudformation:{verb}", stack)
            for verb in (
                "CreateChangeSet",
                "DescribeChangeSet",
                "ExecuteChangeSet",
                "DescribeStacks",
                "DeleteChangeSet",
            )
        ),
        Request("iam:PassRole", deploy_role, {"iam:PassedToService": "cloudformation.amazonaws.com"}),
        Request(
            "cloudwatch:DescribeAlarms", f"arn:aws:cloudwatch:{REGION}:{TARGET}:alarm:todobackend-prod-5xx"
        ),
        # The CloudFormation action validates the template first (CodePipeline's CloudFormation
        # deploy action reference, service role permissions); the call has no resource form.
        Request("cloudformation:ValidateTemplate", "*"),
    ]
    assert action.denied(needed) == []
    for refused in (
        Request("cloudformation:UpdateStack", f"arn:aws:cloudformation:{REGION}:{TARGET}:stack/other/x"),
        Request("iam:PassRole", deploy_role, {"iam:PassedToService": "lambda.amazonaws.com"}),
        Request(
            "iam:PassRole",
            f"arn:aws:iam::{TARGET}:role/Admin",
            {"iam:PassedToService": "cloudformation.amazonaws.com"},
        ),
        Request("cloudwatch:DescribeAlarms", f"arn:aws:cloudwatch:{REGION}:{TARGET}:alarm:other"),
    ):
        assert not action.allows(refused), refused


def test_cloudformation_role_to_its_stack_and_the_artifacts(declared, roles):
    deploy = roles["deploy-production-role"]
    assert deploy.arn.startswith(f"arn:aws:iam::{TARGET}:role/")
    # Its boundary and stack-role path are the target account's.
    boundary = arn_of(declared, "aws:iam/policy:Policy", "deploy-production-boundary")
    own_role = f"arn:aws:iam::{TARGET}:role/todobackend-prod/todobackend-prod-TaskRole-1A2B"
    assert deploy.allows(Request("iam:CreateRole", own_role, {"iam:PermissionsBoundary": boundary}))
    assert not deploy.allows(Request("iam:CreateRole", own_role))
    path = "x/InfrastructureSource/abc.zip"
    assert reads_artifacts(declared, deploy, path) == (True, True)
    # Any other role of the target account, even an administrator, is not admitted.
    admin = administrator(f"arn:aws:iam::{TARGET}:role/todobackend-prod/todobackend-prod-Admin-1A2B")
    assert reads_artifacts(declared, admin, path) == (False, False)


# -- two environments in one other account -----------------------------------------------------
# tests/fixtures/stacks/Pulumi.two-in-one-account.yaml: staging and production both in TARGET.
# They share that account's entry in the artifact bucket's and key's policies; the second
# must not take the first's place there.
TWO_IN_ONE = "two-in-one-account"


@pytest.fixture(scope=shared_scope)
def two_in_one():
    mocks = run_stack(TWO_IN_ONE).mocks
    return mocks, declared_roles(mocks)


@pytest.mark.parametrize("environment", ["staging", "production"])
@pytest.mark.parametrize("kind", ["deploy-{}-role", "{}-action-role"])
def test_two_environments_in_one_account_both_read_the_artifacts(two_in_one, environment, kind):
    """The CloudFormation action reads the template as the action role, and CloudFormation
    as the deploy role (both admitted: docs/development.md, cross-account release): each of
    both environments, through the bucket policy and the key policy."""
    mocks, roles = two_in_one
    reader = roles[kind.format(environment)]
    assert f":{TARGET}:" in reader.arn
    assert reads_artifacts(mocks, reader, "todobackend-two/InfrastructureSource/abc.zip") == (True, True)
    assert admitted_as_iam_matches(
        policy_of(mocks, "aws:s3/bucketPolicy:BucketPolicy", "artifacts-policy"), reader.arn
    )
    assert admitted_as_iam_matches(policy_of(mocks, "aws:kms/key:Key", "artifact-key-key"), reader.arn)


def test_two_environments_in_one_account_admit_no_other_role_of_it(two_in_one):
    """The test above could pass on a policy that admits the whole account: it does not."""
    mocks, _ = two_in_one
    admin = administrator(f"arn:aws:iam::{TARGET}:role/todobackend-staging/todobackend-staging-Admin-1A2B")
    assert reads_artifacts(mocks, admin, "todobackend-two/InfrastructureSource/abc.zip") == (False, False)


def assumable_as_iam_matches(declared, policy_name: str, role_arn: str) -> bool:
    """IAM matches a Resource ARN case-sensitively (IAM JSON policy elements: Resource, "the
    IAM user name is case sensitive"); principalmapper matches without case, so a role path
    spelled in another case would pass it. Checked here as IAM reads it."""
    statements = json.loads(only(declared, "aws:iam/rolePolicy:RolePolicy", policy_name).inputs["policy"])
    return any(
        fnmatch.fnmatchcase(role_arn, pattern)
        for statement in statements["Statement"]
        if "sts:AssumeRole" in statement["Action"]
        for pattern in statement["Resource"]
    )


def test_review_to_its_change_set(declared, roles):
    reader = only(declared, "aws:iam/role:Role", "production-reader-role")
    trust = json.loads(reader.inputs["assumeRolePolicy"])
    assume = Request("sts:AssumeRole", reader.state["arn"])
    assert roles["review-production-role"].allows_through(assume, trust, TARGET)
    assert assumable_as_iam_matches(declared, "review-production-policy", reader.state["arn"])
    for other in ("delivery-role", "deploy-dev-role", "build-role", "verify-production-role"):
        assert not roles[other].allows_through(assume, trust, TARGET), other
    stack = f"arn:aws:cloudformation:{REGION}:{TARGET}:stack/todobackend-prod/0f1e2d3c"
    assert (
        roles["production-reader-role"].denied(
            [
                Request("cloudformation:DescribeChangeSet", stack),
                Request("cloudformation:DescribeStacks", stack),
            ]
        )
        == []
    )
    for refused in (
        Request("cloudformation:ExecuteChangeSet", stack),
        Request("cloudformation:DescribeStacks", f"arn:aws:cloudformation:{REGION}:{TARGET}:stack/other/x"),
    ):
        assert not roles["production-reader-role"].allows(refused)


def test_recovery_to_its_stack(declared, roles):
    """The recovery in the pipeline account assumes its role in production's (trust and its own
    policy), which may describe and delete that stack and nothing else."""
    remote = only(declared, "aws:iam/role:Role", "production-recover-role")
    trust = json.loads(remote.inputs["assumeRolePolicy"])
    assume = Request("sts:AssumeRole", remote.state["arn"])
    assert roles["recover-production-role"].allows_through(assume, trust, TARGET)
    assert assumable_as_iam_matches(declared, "recover-production-policy", remote.state["arn"])
    for other in (
        "delivery-role",
        "deploy-dev-role",
        "build-role",
        "review-production-role",
        "verify-dev-role",
    ):
        assert not roles[other].allows_through(assume, trust, TARGET), other
    stack = f"arn:aws:cloudformation:{REGION}:{TARGET}:stack/todobackend-prod/0f1e2d3c"
    assert (
        roles["production-recover-role"].denied(
            [Request("cloudformation:DescribeStacks", stack), Request("cloudformation:DeleteStack", stack)]
        )
        == []
    )
    for refused in (
        Request("cloudformation:UpdateStack", stack),
        Request("cloudformation:ExecuteChangeSet", stack),
        Request("cloudformation:DeleteStack", f"arn:aws:cloudformation:{REGION}:{TARGET}:stack/other/x"),
        Request("iam:PassRole", f"arn:aws:iam::{TARGET}:role/any"),
    ):
        assert not roles["production-recover-role"].allows(refused)
    # The review's reader cannot delete, nor the recovery's role read change sets.
    assert not roles["production-reader-role"].allows(Request("cloudformation:DeleteStack", stack))
    assert not roles["production-recover-role"].allows(Request("cloudformation:DescribeChangeSet", stack))


def test_ecs_to_the_image(declared):
    repository = only(declared, "aws:ecr/repository:Repository", "app-image-repository").state["arn"]
    policy = policy_of(declared, "aws:ecr/repositoryPolicy:RepositoryPolicy", "app-image-pull-policy")
    execution_policy = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"

    def execution_role(path: str) -> DeclaredRole:
        return DeclaredRole(
            "execution",
            f"arn:aws:iam::{TARGET}:role{path}TaskExecutionRole-1A2B",
            [],
            [(execution_policy, aws_managed_policies()[execution_policy])],
            None,
        )

    own = execution_role("/todobackend-prod/")
    for verb in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"):
        assert own.allows_through(Request(verb, repository), policy, PIPELINE_ACCOUNT), verb
    # A task of any other stack of the target account cannot pull; nobody can push.
    assert not execution_role("/other-stack/").allows_through(
        Request("ecr:BatchGetImage", repository), policy, PIPELINE_ACCOUNT
    )
    # Nobody of the target account is allowed to write: its statements allow pulls only, and
    # the one that names writes refuses them to all but the delivery system's own writers.
    for statement in policy["Statement"]:
        if statement["Effect"] == "Allow":
            assert not any(a.startswith(("ecr:Put", "ecr:Batch" + "Delete")) for a in statement["Action"])


def test_nothing_in_the_pipeline_account_reaches_production(declared, roles):
    """The ungated dev deploy, and any role its stack mints, cannot assume any production
    role; production's roles are not in the pipeline account at all."""
    targets = [
        only(declared, "aws:iam/role:Role", name)
        for name in (
            "production-action-role",
            "production-reader-role",
            "production-recover-role",
            "deploy-production-role",
        )
    ]
    dev_boundary = only(declared, "aws:iam/policy:Policy", "deploy-dev-boundary")
    minted = DeclaredRole(
        "minted-in-dev",
        f"arn:aws:iam::{PIPELINE_ACCOUNT}:role/todobackend-dev/todobackend-dev-Admin-1A2B",
        [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}],
        [],
        (dev_boundary.state["arn"], json.loads(dev_boundary.inputs["policy"])),
    )
    for target in targets:
        trust = json.loads(target.inputs["assumeRolePolicy"])
        assume = Request("sts:AssumeRole", target.state["arn"])
        for principal in (roles["deploy-dev-role"], roles["verify-dev-role"], roles["build-role"], minted):
            assert not principal.allows_through(assume, trust, TARGET), (principal.name, target.name)
        assert f":{TARGET}:" in target.state["arn"]


def test_synth_marks_the_account_each_stage_deploys_to(tmp_path):
    from offline import synth

    target, records, _ = synth.synth(CROSS_ACCOUNT, tmp_path, FIXTURE_STACKS)
    pipeline_md = (target / "pipeline.md").read_text()
    assert f'subgraph S3["production-plan · account {TARGET}"]' in pipeline_md
    # The approval deploys nothing: no account of its own.
    assert 'subgraph S4["production-approval"]' in pipeline_md
    assert f'subgraph S5["production · account {TARGET}"]' in pipeline_md
    assert 'subgraph S2["dev"]' in pipeline_md
    assert (
        f"Deploys to account **{TARGET}**: its CloudFormation actions run as `arn:aws:iam::{TARGET}:role/"
        in pipeline_md
    )
    lines = synth.summary(CROSS_ACCOUNT, target, records).splitlines()
    assert (
        f"  production (account {TARGET}): CreateChangeSet → ConfirmChangeSet → ExecuteChangeSet → RecordRelease + Verify"
        in lines
    )
    assert "  dev: Deploy → Verify" in lines


def test_a_lifecycle_hook_test_in_another_account_is_declared_there_and_passed_to_its_template():
    mocks = run_stack(CROSS_ACCOUNT).mocks
    hook = [r for r in mocks.resources if r.custom and r.name.startswith("hook-production-")]
    assert sorted(r.name for r in hook) == [
        "hook-production-function",
        "hook-production-invoke-policy",
        "hook-production-invoke-role",
        "hook-production-logs",
        "hook-production-policy",
        "hook-production-role",
    ]
    # Every one through production's provider: the role Pulumi assumes in production's account
    # creates them (its permissions: offline/bootstrap_policy.py).
    assert {provider_calls.account_of(mocks, r) for r in hook} == {TARGET}
    overrides = json.loads(
        next(
            a["configuration"]["ParameterOverrides"]
            for s in pipeline_inputs(mocks)["stages"]
            for a in s["actions"]
            if a["configuration"].get("StackName") == "todobackend-prod"
            and "ParameterOverrides" in a["configuration"]
        )
    )
    assert overrides["TestHookFunctionArn"] == (
        f"arn:aws:lambda:{REGION}:{TARGET}:function:todobackend-cross-account-hook-production"
    )
    assert overrides["TestHookRoleArn"].startswith(
        f"arn:aws:iam::{TARGET}:role/ecs-delivery/todobackend-cross-account/hook/production/hook-production-invoke-role-"
    )


def test_production_deploy_role_passes_the_hook_invoke_role_to_ecs_in_production_account():
    mocks = run_stack(CROSS_ACCOUNT).mocks
    roles = declared_roles(mocks)
    deploy = roles["deploy-production-role"]
    invoke_role = only(mocks, "aws:iam/role:Role", "hook-production-invoke-role").state["arn"]
    assert invoke_role.startswith(f"arn:aws:iam::{TARGET}:")
    assert deploy.allows(Request("iam:PassRole", invoke_role, {"iam:PassedToService": "ecs.amazonaws.com"}))
    assert not deploy.allows(
        Request("iam:PassRole", invoke_role, {"iam:PassedToService": "lambda.amazonaws.com"})
    )
    # Dev's deploy role, in the pipeline's account, passes no role of production's account.
    assert not roles["deploy-dev-role"].allows(
        Request("iam:PassRole", invoke_role, {"iam:PassedToService": "ecs.amazonaws.com"})
    )


def test_a_blue_green_deployment_in_another_account_passes_its_parameters():
    overrides = json.loads(
        next(
            a["configuration"]["ParameterOverrides"]
            for s in pipeline_inputs(run_stack(CROSS_ACCOUNT).mocks)["stages"]
            for a in s["actions"]
            if a["configuration"].get("StackName") == "todobackend-prod"
            and "ParameterOverrides" in a["configuration"]
        )
    )
    assert {
        k: overrides[k] for k in ("DeploymentStrategy", "DeploymentAlarmNames", "DeploymentBakeMinutes")
    } == {
        "DeploymentStrategy": "BLUE_GREEN",
        "DeploymentAlarmNames": "todobackend-prod-target-5xx",
        "DeploymentBakeMinutes": "15",
    }
