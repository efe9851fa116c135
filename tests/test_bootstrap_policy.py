"""The generated policy of the role Pulumi assumes in a target account (`make bootstrap-policy`,
offline/bootstrap_policy.py): written out for the product's cross-account stack, scoped to
what the program declares there, shown in docs/cross-account.md as generated, and for your
stacks with another account, covering every role and policy declared there and nothing in any
other account. That the provider needs nothing more is proven in the provider tier
(tests/test_bootstrap_policy_provider.py)."""

from __future__ import annotations

import json
import re

import pytest

from components.iam_policies import Request
from offline import bootstrap_policy, provider_calls
from offline.program import load_stack_config
from tests.conftest import (
    CROSS_ACCOUNT,
    FIXTURE_STACKS,
    PROJECT_DIR,
    config_with,
    run_config,
    run_stack,
    run_user_stack,
    user_stacks,
)
from tests.support.permissions import DeclaredRole, parliament_findings

TARGET = "222222222222"
ROLE_ACTIONS = [
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:DeleteRolePolicy",
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListInstanceProfilesForRole",
    "iam:ListRolePolicies",
    "iam:PutRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRoleDescription",
]


def fixture_policy() -> dict:
    return bootstrap_policy.permissions_policy(
        provider_calls.account_resources(run_stack(CROSS_ACCOUNT).mocks, TARGET), TARGET
    )


def test_the_cross_account_stacks_role_may_do_exactly_this():
    prefix = "ecs-delivery/todobackend-cross-account"
    assert fixture_policy() == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Roles",
                "Effect": "Allow",
                "Action": ROLE_ACTIONS,
                "Resource": [
                    # The deploy role, at the root path; the others under the program's paths.
                    f"arn:aws:iam::{TARGET}:role/deploy-production-role-*",
                    f"arn:aws:iam::{TARGET}:role/{prefix}/action/production/production-action-role-*",
                    # The lifecycle-hook test's role ECS invokes it with, and its function role:
                    # under this stack's own path, so no other stack's hook roles match.
                    f"arn:aws:iam::{TARGET}:role/{prefix}/hook/production/hook-production-invoke-role-*",
                    f"arn:aws:iam::{TARGET}:role/{prefix}/hook/production/hook-production-role-*",
                    f"arn:aws:iam::{TARGET}:role/{prefix}/recovery/production/production-recover-role-*",
                    f"arn:aws:iam::{TARGET}:role/{prefix}/review/production/production-reader-role-*",
                ],
            },
            {
                "Sid": "AttachDeclaredPolicies",
                "Effect": "Allow",
                "Action": ["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
                "Resource": [f"arn:aws:iam::{TARGET}:role/deploy-production-role-*"],
                "Condition": {"ArnEquals": {"iam:PolicyARN": ["arn:aws:iam::aws:policy/PowerUserAccess"]}},
            },
            {
                "Sid": "Policies",
                "Effect": "Allow",
                "Action": [
                    "iam:CreatePolicy",
                    "iam:CreatePolicyVersion",
                    "iam:DeletePolicy",
                    "iam:DeletePolicyVersion",
                    "iam:GetPolicy",
                    "iam:GetPolicyVersion",
                    "iam:ListPolicyVersions",
                    # The boundary is created with a tag.
                    "iam:TagPolicy",
                ],
                "Resource": [f"arn:aws:iam::{TARGET}:policy/ecs-delivery/deploy-production-boundary-*"],
            },
            {
                "Sid": "Functions",
                "Effect": "Allow",
                "Action": [
                    "lambda:CreateFunction",
                    "lambda:DeleteFunction",
                    "lambda:GetFunction",
                    "lambda:GetFunctionCodeSigningConfig",
                    "lambda:ListVersionsByFunction",
                    "lambda:UpdateFunctionCode",
                    "lambda:UpdateFunctionConfiguration",
                ],
                "Resource": [
                    f"arn:aws:lambda:eu-west-1:{TARGET}:function:todobackend-cross-account-hook-production"
                ],
            },
            {
                "Sid": "PassFunctionRolesToLambda",
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": [f"arn:aws:iam::{TARGET}:role/{prefix}/hook/production/hook-production-role-*"],
                "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
            },
            {
                "Sid": "LogGroups",
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogGroup",
                    "logs:DeleteLogGroup",
                    "logs:ListTagsForResource",
                    "logs:PutRetentionPolicy",
                ],
                "Resource": [
                    f"arn:aws:logs:eu-west-1:{TARGET}:log-group:/ecs-delivery/todobackend-cross-account/"
                    "production/lifecycle-hook"
                ],
            },
            # A read the provider makes by name prefix, which IAM authorizes on no resource.
            {
                "Sid": "ReadLogGroups",
                "Effect": "Allow",
                "Action": ["logs:DescribeLogGroups"],
                "Resource": ["*"],
            },
        ],
    }


def bootstrap_role(policy: dict) -> DeclaredRole:
    return DeclaredRole("bootstrap", f"arn:aws:iam::{TARGET}:role/ecs-delivery-bootstrap", [policy], [], None)


def test_the_role_can_touch_nothing_but_what_the_program_declares_there():
    role = bootstrap_role(fixture_policy())
    deploy_role = f"arn:aws:iam::{TARGET}:role/deploy-production-role-1a2b3c4"
    assert role.allows(Request("iam:CreateRole", deploy_role))
    for request in (
        # Another role, in the account or under the stack's own path (the stack's roles are
        # CloudFormation's to create, with the deploy role).
        Request("iam:CreateRole", f"arn:aws:iam::{TARGET}:role/Admin"),
        Request("iam:PutRolePolicy", f"arn:aws:iam::{TARGET}:role/todobackend-prod/x"),
        Request("iam:DeleteRole", f"arn:aws:iam::{TARGET}:role/OrganizationAccountAccessRole"),
        # Any other managed policy onto the deploy role.
        Request(
            "iam:AttachRolePolicy",
            deploy_role,
            {"iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"},
        ),
        # The same names in another account.
        Request("iam:CreateRole", "arn:aws:iam::123456789012:role/deploy-production-role-1a2b3c4"),
        Request("iam:CreateUser", f"arn:aws:iam::{TARGET}:user/deploy-production-role-x"),
        Request("iam:PassRole", deploy_role, {"iam:PassedToService": "ec2.amazonaws.com"}),
        Request("iam:CreatePolicy", f"arn:aws:iam::{TARGET}:policy/escape"),
    ):
        assert not role.allows(request), request


def test_the_generated_policy_passes_parliament():
    assert [(f.issue, f.detail) for f in parliament_findings(json.dumps(fixture_policy()))] == []


def test_a_role_with_a_boundary_is_created_only_with_it():
    boundary = f"arn:aws:iam::{TARGET}:policy/org/workload-ceiling"
    config = config_with(
        environments=[
            {"name": "dev", "stackName": "app-dev"},
            {
                "name": "production",
                "stackName": "app-prod",
                "approval": True,
                "account": TARGET,
                "approvers": ["arn:aws:iam::123456789012:role/release-managers"],
            },
        ],
        targetAccounts={TARGET: {"roleArn": f"arn:aws:iam::{TARGET}:role/bootstrap"}},
        deployRole={"permissionsBoundaryArn": boundary},
    )
    mocks = run_config(config, stack="bounded").mocks
    policy = bootstrap_policy.permissions_policy(provider_calls.account_resources(mocks, TARGET), TARGET)
    (bounded,) = [s for s in policy["Statement"] if s["Sid"].startswith("BoundedRoles")]
    assert bounded["Action"] == ["iam:CreateRole", "iam:PutRolePermissionsBoundary"]
    assert bounded["Resource"] == [f"arn:aws:iam::{TARGET}:role/deploy-production-role-*"]
    assert bounded["Condition"] == {"ArnEquals": {"iam:PermissionsBoundary": boundary}}
    role = bootstrap_role(policy)
    deploy_role = f"arn:aws:iam::{TARGET}:role/deploy-production-role-1a2b3c4"
    assert role.allows(Request("iam:CreateRole", deploy_role, {"iam:PermissionsBoundary": boundary}))
    assert not role.allows(Request("iam:CreateRole", deploy_role))


def test_a_resource_type_without_recorded_calls_is_refused_by_name():
    resources = provider_calls.account_resources(run_stack(CROSS_ACCOUNT).mocks, TARGET)
    resources[0] = type(resources[0])(**{**resources[0].__dict__, "type": "aws:iam/user:User"})
    with pytest.raises(
        bootstrap_policy.BootstrapError, match=r"no recorded provider calls for aws:iam/user:User"
    ):
        bootstrap_policy.permissions_policy(resources, TARGET)


def test_the_trust_names_whoever_runs_pulumi_up():
    trusted = "arn:aws:iam::111122223333:role/ci/ecs-delivery-deployer"
    (statement,) = bootstrap_policy.trust_policy(trusted)["Statement"]
    assert statement["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"ArnLike": {"aws:PrincipalArn": [trusted]}}
    with pytest.raises(bootstrap_policy.BootstrapError, match="--trusted: 'ci-role' is not an IAM role"):
        bootstrap_policy.trust_policy("ci-role")


def test_the_command_writes_both_documents_and_says_what_to_run(tmp_path, capsys):
    code = bootstrap_policy.main(
        [
            CROSS_ACCOUNT,
            "--stacks-dir",
            str(FIXTURE_STACKS),
            "--out",
            str(tmp_path),
            "--trusted",
            "arn:aws:iam::123456789012:role/ci",
        ]
    )
    assert code == 0
    assert json.loads((tmp_path / TARGET / "permissions.json").read_text()) == fixture_policy()
    assert json.loads((tmp_path / TARGET / "trust.json").read_text()) == bootstrap_policy.trust_policy(
        "arn:aws:iam::123456789012:role/ci"
    )
    printed = capsys.readouterr().out
    assert (
        "aws iam create-role --role-name ecs-delivery-bootstrap --path / --assume-role-policy-document "
        "file://trust.json" in printed
    )
    assert bootstrap_policy.main(["dev", "--stacks-dir", str(FIXTURE_STACKS)]) == 1
    assert "nothing to bootstrap" in capsys.readouterr().err


# -- the guide shows the example stack's policy, as generated -----------------------------------
EXAMPLES = PROJECT_DIR / "examples" / "stacks"
GUIDE = PROJECT_DIR / "docs" / "cross-account.md"


def guide_block(marker: str) -> dict:
    text = GUIDE.read_text()
    found = re.search(rf"<!-- {re.escape(marker)} -->\n```json\n(.*?)\n```", text, re.S)
    assert found, f"docs/cross-account.md has no ```json block after <!-- {marker} -->"
    return json.loads(found.group(1))


def test_the_guide_shows_the_example_stacks_generated_policy_and_trust():
    (example,) = bootstrap_policy.for_stack(
        "cross-account", EXAMPLES, trusted="arn:aws:iam::111122223333:role/ecs-delivery-deployer"
    )
    assert guide_block("generated: make bootstrap-policy, examples/stacks/Pulumi.cross-account.yaml") == (
        example.permissions
    )
    assert guide_block(
        "generated: trust, --trusted arn:aws:iam::111122223333:role/ecs-delivery-deployer"
    ) == (example.trust)


# -- your stacks ----------------------------------------------------------------------------------
YOURS_ACROSS = [
    (stack, account)
    for stack in user_stacks()
    for account in provider_calls.target_accounts(run_user_stack(stack).mocks)
]


@pytest.mark.parametrize(
    ("stack", "account"),
    YOURS_ACROSS
    or [
        pytest.param(
            None,
            None,
            marks=pytest.mark.skip(reason="none of your stacks has an environment in another account"),
        )
    ],
)
def test_your_target_accounts_role_covers_what_is_declared_there_and_nothing_elsewhere(stack, account):
    mocks = run_user_stack(stack).mocks
    (found,) = [b for b in bootstrap_policy.for_stack(stack, PROJECT_DIR) if b.account == account]
    assert found.role_arn == bootstrap_policy.role_arns(load_stack_config(stack, PROJECT_DIR))[account]
    role = bootstrap_role(found.permissions)
    declared = provider_calls.account_resources(mocks, account)
    arns = [r.state["arn"] for r in declared if r.type in (bootstrap_policy.ROLE, bootstrap_policy.POLICY)]
    assert arns
    for arn in arns:
        action = "iam:CreateRole" if ":role/" in arn else "iam:CreatePolicy"
        boundary = next(
            (r.inputs.get("permissionsBoundary") for r in declared if r.state.get("arn") == arn), None
        )
        context = {"iam:PermissionsBoundary": boundary} if boundary else {}
        assert role.allows(Request(action, arn, context)), arn
    for statement in found.permissions["Statement"]:
        for resource in statement["Resource"]:
            assert resource.startswith(f"arn:aws:iam::{account}:"), (statement["Sid"], resource)
    assert parliament_findings(json.dumps(found.permissions)) == []
