"""The role an administrator creates in each target account before the first `pulumi up`
(`targetAccounts.<account>.roleArn`): its exact permissions and its trust, generated from what
the program declares through that account's provider.

    python -m offline.bootstrap_policy STACK [--account ID] [--trusted ARN] [--stacks-dir DIR] [--out DIR]
    make bootstrap-policy STACK=<stack> [ACCOUNT=<id>] [TRUSTED=<arn of whoever runs pulumi up>]

The program runs under the recording mocks; every AWS resource declared with the account's
provider gets the calls the AWS provider makes to create, read, update and delete it, each on
the ARN it names (roles and policies at their own paths, under the names Pulumi's auto-naming
gives them: `<logical name>-<random suffix>`), and nothing else.

Where the actions come from: `PROVIDER_ACTIONS` below is what the real provider called, recorded
by `python -m offline.provider_calls` (hashicorp/aws, the mirror's version, against moto's server:
create, update of every computed input, destroy). `make provider` records the calls again for
the example stack and for each of your stacks with a target account, and fails if a call is not
allowed by the generated policy or the policy allows an action the provider never called
(tests/test_bootstrap_policy_provider.py). What it cannot show is listed in offline/provider_calls.py
(other provider versions, paths moto does not reach) and in docs/cross-account.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from components.iam_policies import account_root, named_roles_trust_policy
from offline.mocks import RecordedResource, RecordingMocks
from offline.program import PROJECT_DIR, StackConfig, StackFileError, load_stack_config, run_program
from offline.provider_calls import account_resources, target_accounts

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
POLICY = "aws:iam/policy:Policy"
FUNCTION = "aws:lambda/function:Function"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"

# What the provider calls for each resource type, by the ARN the call names (recorded with
# `python -m offline.provider_calls`; phases: create, update, delete). IAM authorizes a call on
# a role's inline policy or attachment against the role's ARN (Service Authorization Reference,
# "Actions, resources, and condition keys for AWS Identity and Access Management": the
# resource type of PutRolePolicy, AttachRolePolicy, ... is `role`).
PROVIDER_ACTIONS: Mapping[str, tuple[str, ...]] = {
    ROLE: (
        "iam:CreateRole",  # create
        "iam:GetRole",  # every read
        "iam:ListRolePolicies",  # reads inline_policy; delete removes them first
        "iam:ListAttachedRolePolicies",  # reads managed_policy_arns; delete detaches first
        "iam:UpdateAssumeRolePolicy",  # update of the trust policy
        "iam:UpdateRoleDescription",  # update of the description
        "iam:ListInstanceProfilesForRole",  # delete: removes the role from its profiles first
        "iam:DeleteRole",  # delete
    ),
    ROLE_POLICY: ("iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy"),
    # On the role, restricted to the policies declared (condition key iam:PolicyARN).
    ATTACHMENT: ("iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:ListAttachedRolePolicies"),
    POLICY: (
        "iam:CreatePolicy",
        "iam:GetPolicy",
        "iam:GetPolicyVersion",
        "iam:ListPolicyVersions",  # before each update and before delete
        "iam:CreatePolicyVersion",  # update of the document
        "iam:DeletePolicyVersion",  # update when five versions exist; delete
        "iam:DeletePolicy",
    ),
    FUNCTION: (
        "lambda:CreateFunction",  # create
        "lambda:GetFunction",  # every read
        "lambda:ListVersionsByFunction",  # every read
        "lambda:GetFunctionCodeSigningConfig",  # every read
        "lambda:UpdateFunctionConfiguration",  # update
        "lambda:UpdateFunctionCode",  # update of the code
        "lambda:DeleteFunction",  # delete
    ),
    LOG_GROUP: (
        "logs:CreateLogGroup",  # create
        "logs:PutRetentionPolicy",  # create: retention_in_days
        "logs:ListTagsForResource",  # every read
        "logs:DeleteLogGroup",  # delete
    ),
}
# The provider reads a log group by listing the groups under its name as a prefix (recorded);
# a call the Service Authorization Reference gives no resource type ("Actions, resources, and
# condition keys for Amazon CloudWatch Logs"), so granted on "*": it lists log groups' names
# and settings, and changes nothing.
LIST_LOG_GROUPS = "logs:DescribeLogGroups"
# Creating a function passes its execution role to Lambda (Lambda Developer Guide, "Defining
# Lambda function permissions with an execution role"): iam:PassRole on that role, to Lambda
# only (IAM User Guide, "Grant a user permissions to pass a role to an AWS service":
# iam:PassedToService).
PASS_ROLE = "iam:PassRole"
# Creating an IAM resource with tags needs the tagging permission too (IAM User Guide,
# "Tagging IAM resources": to add tags at creation you need both the create and the tag
# permission); a role created with a boundary is asked for with the boundary's ARN as
# `iam:PermissionsBoundary`, and changing it later is PutRolePermissionsBoundary (IAM User
# Guide, "Permissions boundaries for IAM entities"). Documented, not recorded: no stack of the
# recording declares a tagged role or a bounded role in a target account.
TAGGED = {ROLE: "iam:TagRole", POLICY: "iam:TagPolicy"}
BOUNDED_ROLE = "iam:PutRolePermissionsBoundary"


class BootstrapError(ValueError):
    """The stack declares something the generator has no recorded calls for."""


@dataclass(frozen=True)
class Bootstrap:
    account: str
    role_arn: str
    """targetAccounts.<account>.roleArn: the role this document is for."""
    permissions: dict[str, Any]
    trust: dict[str, Any]


def _name_pattern(resource: RecordedResource) -> str:
    """The physical name: as declared, or Pulumi's auto-name `<logical name>-<random suffix>`."""
    inputs = resource.inputs
    if inputs.get("name"):
        return inputs["name"]
    if inputs.get("namePrefix"):
        return f"{inputs['namePrefix']}*"
    return f"{resource.name}-*"


def _arn(partition: str, account: str, kind: str, resource: RecordedResource) -> str:
    return (
        f"arn:{partition}:iam::{account}:{kind}{resource.inputs.get('path') or '/'}{_name_pattern(resource)}"
    )


def permissions_policy(
    resources: list[RecordedResource], account: str, partition: str = "aws"
) -> dict[str, Any]:
    """The identity policy that lets the provider create, update and delete `resources` (all
    declared in `account`), scoped to their ARNs."""
    unknown = sorted({r.type for r in resources} - PROVIDER_ACTIONS.keys())
    if unknown:
        raise BootstrapError(
            f"no recorded provider calls for {', '.join(unknown)}: record them with "
            "`python -m offline.provider_calls <stack>` and add them to PROVIDER_ACTIONS"
        )
    roles = {r.state["name"]: r for r in resources if r.type == ROLE}
    role_actions: dict[str, set[str]] = {name: set(PROVIDER_ACTIONS[ROLE]) for name in roles}
    attached: dict[str, set[str]] = {}
    bounded: dict[str, str] = {}
    for resource in resources:
        inputs = resource.inputs
        if resource.type == ROLE:
            if inputs.get("tags"):
                role_actions[resource.state["name"]].add(TAGGED[ROLE])
            if inputs.get("permissionsBoundary"):
                bounded[resource.state["name"]] = inputs["permissionsBoundary"]
        elif resource.type in (ROLE_POLICY, ATTACHMENT):
            role = inputs["role"]
            if role not in roles:
                raise BootstrapError(
                    f"{resource.name}: its role {role!r} is not declared in account {account}"
                )
            if resource.type == ROLE_POLICY:
                role_actions[role] |= set(PROVIDER_ACTIONS[ROLE_POLICY])
            else:
                attached.setdefault(role, set()).add(inputs["policyArn"])
    statements: list[dict[str, Any]] = []
    # Roles with the same calls share a statement; bounded roles are created only with their boundary.
    groups: dict[tuple[tuple[str, ...], Optional[str]], list[str]] = {}
    for name, actions in role_actions.items():
        boundary = bounded.get(name)
        unconditioned = actions - {"iam:CreateRole"} if boundary else actions
        groups.setdefault((tuple(sorted(unconditioned)), None), []).append(
            _arn(partition, account, "role", roles[name])
        )
        if boundary:
            groups.setdefault((("iam:CreateRole", BOUNDED_ROLE), boundary), []).append(
                _arn(partition, account, "role", roles[name])
            )
    for index, ((actions, boundary), arns) in enumerate(
        sorted(groups.items(), key=lambda g: (g[0][1] or "", g[0][0]))
    ):
        statement: dict[str, Any] = {
            "Sid": f"Roles{index + 1}" if len(groups) > 1 else "Roles",
            "Effect": "Allow",
            "Action": list(actions),
            "Resource": sorted(arns),
        }
        if boundary:
            statement["Sid"] = f"BoundedRoles{index + 1}"
            statement["Condition"] = {"ArnEquals": {"iam:PermissionsBoundary": boundary}}
        statements.append(statement)
    by_policies: dict[tuple[str, ...], list[str]] = {}
    for role, policy_arns in attached.items():
        by_policies.setdefault(tuple(sorted(policy_arns)), []).append(
            _arn(partition, account, "role", roles[role])
        )
    for index, (policy_arns, arns) in enumerate(sorted(by_policies.items())):
        statements.append(
            {
                "Sid": f"AttachDeclaredPolicies{index + 1}"
                if len(by_policies) > 1
                else "AttachDeclaredPolicies",
                "Effect": "Allow",
                "Action": ["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
                "Resource": sorted(arns),
                "Condition": {"ArnEquals": {"iam:PolicyARN": list(policy_arns)}},
            }
        )
    policies = [r for r in resources if r.type == POLICY]
    policy_groups: dict[tuple[str, ...], list[str]] = {}
    for policy in policies:
        actions = set(PROVIDER_ACTIONS[POLICY]) | ({TAGGED[POLICY]} if policy.inputs.get("tags") else set())
        policy_groups.setdefault(tuple(sorted(actions)), []).append(
            _arn(partition, account, "policy", policy)
        )
    for index, (actions, arns) in enumerate(sorted(policy_groups.items())):
        statements.append(
            {
                "Sid": f"Policies{index + 1}" if len(policy_groups) > 1 else "Policies",
                "Effect": "Allow",
                "Action": list(actions),
                "Resource": sorted(arns),
            }
        )
    statements += _function_statements(resources, roles, account, partition)
    return {"Version": "2012-10-17", "Statement": statements}


def _function_statements(
    resources: list[RecordedResource], roles: Mapping[str, RecordedResource], account: str, partition: str
) -> list[dict[str, Any]]:
    """Lambda functions and log groups, each on its own ARN (named in config, so known now),
    and the functions' execution roles passed to Lambda alone."""
    statements: list[dict[str, Any]] = []
    functions = [r for r in resources if r.type == FUNCTION]
    log_groups = [r for r in resources if r.type == LOG_GROUP]
    if functions:
        statements.append(
            {
                "Sid": "Functions",
                "Effect": "Allow",
                "Action": sorted(PROVIDER_ACTIONS[FUNCTION]),
                "Resource": sorted(f.state["arn"] for f in functions),
            }
        )
        by_arn = {r.state["arn"]: name for name, r in roles.items()}
        passed = []
        for function in functions:
            role = by_arn.get(function.inputs.get("role", ""))
            if role is None:
                raise BootstrapError(
                    f"{function.name}: its role {function.inputs.get('role')!r} is not declared "
                    f"in account {account}"
                )
            passed.append(_arn(partition, account, "role", roles[role]))
        statements.append(
            {
                "Sid": "PassFunctionRolesToLambda",
                "Effect": "Allow",
                "Action": [PASS_ROLE],
                "Resource": sorted(set(passed)),
                "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
            }
        )
    if log_groups:
        arns = sorted(g.state["arn"] for g in log_groups)
        statements.append(
            {
                "Sid": "LogGroups",
                "Effect": "Allow",
                "Action": sorted(PROVIDER_ACTIONS[LOG_GROUP]),
                # The ARN the recorded calls name (offline/provider_calls.py). Not verified
                # here: public reports (e.g. aws/serverless-application-model#527) say CloudWatch
                # Logs authorizes some log-group actions on `log-group:<name>:*`; if a real apply
                # is refused there, that form belongs here too.
                "Resource": arns,
            }
        )
        statements.append(
            {
                "Sid": "ReadLogGroups",
                "Effect": "Allow",
                "Action": [LIST_LOG_GROUPS],
                "Resource": ["*"],
            }
        )
    return statements


def trust_policy(trusted: Optional[str]) -> dict[str, Any]:
    """Whoever runs `pulumi up` may assume the role: one principal of the pipeline account, as
    the program's own cross-account roles trust (its account's root narrowed by
    `aws:PrincipalArn`, so the role need not exist when this one is created)."""
    if trusted is None:
        return named_roles_trust_policy(
            trusted_account_root="arn:aws:iam::<pipeline-account-id>:root",
            principal_arns=["arn:aws:iam::<pipeline-account-id>:role/<the role that runs pulumi up>"],
        )
    parts = trusted.split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[2] != "iam" or not parts[4].isdigit():
        raise BootstrapError(
            f"--trusted: {trusted!r} is not an IAM role or user ARN (arn:aws:iam::<account>:role/<name>)"
        )
    return named_roles_trust_policy(
        trusted_account_root=account_root(parts[1], parts[4]), principal_arns=[trusted]
    )


def bootstrap(
    mocks: RecordingMocks, role_arns: Mapping[str, str], account: str, trusted: Optional[str] = None
) -> Bootstrap:
    resources = account_resources(mocks, account)
    partition = next((r.state["arn"].split(":")[1] for r in resources if "arn" in r.state), "aws")
    return Bootstrap(
        account, role_arns[account], permissions_policy(resources, account, partition), trust_policy(trusted)
    )


def role_arns(config: StackConfig) -> dict[str, str]:
    """targetAccounts.<account>.roleArn, by account."""
    target_roles = json.loads(config.values.get("ecs-delivery:targetAccounts", "{}"))
    return {account: entry["roleArn"] for account, entry in target_roles.items()}


def for_stack(stack: str, stacks_dir: Path = PROJECT_DIR, trusted: Optional[str] = None) -> list[Bootstrap]:
    """One bootstrap role per target account of the stack (none without environments in
    other accounts)."""
    config = load_stack_config(stack, stacks_dir)
    mocks = run_program(config, stack=stack).mocks
    return [bootstrap(mocks, role_arns(config), account, trusted) for account in target_accounts(mocks)]


def render(found: Bootstrap) -> str:
    """What an administrator runs in the target account."""
    _, _, resource = found.role_arn.partition(":role")
    path, _, name = resource.rpartition("/")
    return "\n".join(
        [
            f"# In account {found.account}: the role Pulumi assumes ({found.role_arn})",
            f"# trust.json:\n{json.dumps(found.trust, indent=2)}",
            f"# permissions.json:\n{json.dumps(found.permissions, indent=2)}",
            f"aws iam create-role --role-name {name} --path {path}/ --assume-role-policy-document file://trust.json",
            f"aws iam put-role-policy --role-name {name} --policy-name ecs-delivery-bootstrap "
            "--policy-document file://permissions.json",
        ]
    )


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m offline.bootstrap_policy", description=__doc__.splitlines()[0]
    )
    parser.add_argument("stack", help="the stack (Pulumi.<stack>.yaml)")
    parser.add_argument("--account", help="only this target account")
    parser.add_argument("--trusted", help="the ARN of the role (or user) that runs `pulumi up`")
    parser.add_argument("--stacks-dir", type=Path, default=PROJECT_DIR)
    parser.add_argument("--out", type=Path, help="also write <out>/<account>/{trust,permissions}.json")
    args = parser.parse_args(argv)
    try:
        found = for_stack(args.stack, args.stacks_dir, args.trusted)
    except (BootstrapError, StackFileError) as error:
        print(f"bootstrap policy: {error}", file=sys.stderr)
        return 2
    if args.account:
        found = [b for b in found if b.account == args.account]
    if not found:
        print(
            f"stack {args.stack}: no environment in {args.account or 'another account'}: "
            "nothing to bootstrap",
            file=sys.stderr,
        )
        return 1
    for item in found:
        print(render(item))
        if args.out:
            folder = args.out / item.account
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "trust.json").write_text(json.dumps(item.trust, indent=2) + "\n")
            (folder / "permissions.json").write_text(json.dumps(item.permissions, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
