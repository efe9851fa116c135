"""`LifecycleHook`: per environment with `deployment.testPaths`, the function ECS runs against
the new revision on the test listener before production traffic moves, and the role ECS
invokes it with (docs/deployment-strategies.md).

Declared in the environment's account (its provider), next to the stack that uses it: the
template receives the function's ARN and the invoke role's as `TestHookFunctionArn` and
`TestHookRoleArn`, and the environment's deploy role may pass the invoke role to ECS and to
nothing else. Least privilege both ways: the function may write its own log group and nothing
more; the invoke role is trusted by ECS alone and may invoke this function alone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import pulumi
import pulumi_aws as aws

from components import iam_policies
from components.iam_policies import PolicyDocument, document, statement

if TYPE_CHECKING:
    from components.config import EnvironmentConfig

HANDLER_FILE = Path(__file__).with_name("lifecycle_hook_handler.py")
RUNTIME = "python3.12"
# Each invocation requests every test path once; ECS invokes again on IN_PROGRESS.
TIMEOUT_SECONDS = 60


# "Lambda quotas": a function name is at most 64 characters (CreateFunction, FunctionName).
FUNCTION_NAME_MAX = 64


def function_name(name_prefix: str, environment: str) -> str:
    """A name known before the function exists, under a prefix the environments' roles are
    denied (`protected_patterns`): dev's template must not rewrite production's test."""
    return f"{name_prefix}-hook-{environment}"


def log_group_name(name_prefix: str, environment: str) -> str:
    return f"/ecs-delivery/{name_prefix}/{environment}/lifecycle-hook"


def protected_patterns(
    partition: str, name_prefix: str, environments: Sequence[EnvironmentConfig]
) -> list[str]:
    """Every hook function of this stack and its log group, in any region and any account: what
    no role an environment controls may change (its code, configuration, concurrency, deletion;
    its logs), added to the stores every deploy role and boundary keeps off; none when no
    environment has a hook. ECS invokes the function through the invoke role, which is the
    delivery system's, not an environment's.

    The account is `*`, not each account with a hook: the list is in every deploy role and every
    boundary (IAM's 6,144 characters for a managed policy), and three patterns per account made
    it grow with the accounts. A deny wider in account refuses nothing an environment's roles
    need: `<prefix>-hook-*` and `/ecs-delivery/<prefix>/` are the delivery system's names in any
    account. IAM allows a wildcard in any segment of a resource ARN (IAM User Guide, "IAM JSON
    policy elements: Resource")."""
    if not any(env.has_test_hook for env in environments):
        return []
    return [
        f"arn:{partition}:lambda:*:*:function:{function_name(name_prefix, '*')}",
        f"arn:{partition}:logs:*:*:log-group:{log_group_name(name_prefix, '*')}",
        f"arn:{partition}:logs:*:*:log-group:{log_group_name(name_prefix, '*')}:*",
    ]


def function_policy(*, log_group_arn: str) -> PolicyDocument:
    """The function's own permissions: its log streams, nothing else (it reaches the test
    listener over HTTP, with no AWS call)."""
    return document(
        statement("WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group_arn}:*"]),
    )


def invoke_policy(*, function_arn: str) -> PolicyDocument:
    """What ECS may do with the invoke role (AWS, "Permissions required for Lambda functions in
    Amazon ECS blue/green deployments": lambda:InvokeFunction), on this function alone."""
    return document(statement("InvokeTestHook", ["lambda:InvokeFunction"], [function_arn]))


@dataclass(frozen=True)
class LifecycleHookArgs:
    name_prefix: str
    """`<app>-<stack>`: names the log group."""
    environment: str
    test_paths: Sequence[str]
    """Paths requested on the test listener; each must answer 2xx."""
    attempts: int = 3
    """Invocations (ECS invokes again on IN_PROGRESS) before a failing test fails the deployment."""
    log_retention_days: int = 30


class LifecycleHook(pulumi.ComponentResource):
    function_arn: pulumi.Output[str]
    """`TestHookFunctionArn`."""
    invoke_role_arn: pulumi.Output[str]
    """`TestHookRoleArn`: resolved once its policy is attached."""

    def __init__(self, name: str, args: LifecycleHookArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("ecs-delivery:lifecycle_hook:LifecycleHook", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=log_group_name(args.name_prefix, args.environment),
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        # Both roles under a path of this stack's and environment's own: a pattern that grants or
        # denies on them (the bootstrap policy in another account) reaches no other stack's.
        roles_path = iam_policies.target_role_path(args.name_prefix, "hook", args.environment)
        role = aws.iam.Role(
            f"{name}-role",
            path=roles_path,
            description=f"Lambda: the lifecycle-hook test of {args.environment}",
            assume_role_policy=json.dumps(iam_policies.service_trust_policy("lambda.amazonaws.com")),
            opts=child,
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=log_group.arn.apply(lambda arn: json.dumps(function_policy(log_group_arn=arn))),
            opts=child,
        )
        function = aws.lambda_.Function(
            f"{name}-function",
            name=function_name(args.name_prefix, args.environment),
            description=f"ECS lifecycle hook: {args.environment}'s test on the test listener",
            runtime=RUNTIME,
            handler="index.handler",
            code=pulumi.AssetArchive({"index.py": pulumi.FileAsset(str(HANDLER_FILE))}),
            role=role.arn,
            timeout=TIMEOUT_SECONDS,
            memory_size=128,
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables={
                    "TEST_PATHS": json.dumps(list(args.test_paths)),
                    "TEST_ATTEMPTS": str(args.attempts),
                }
            ),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="Text", log_group=log_group.name),
            # Its permissions before its first run.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy, log_group]),
        )
        invoke_role = aws.iam.Role(
            f"{name}-invoke-role",
            path=roles_path,
            description=f"ECS: invoke the lifecycle-hook test of {args.environment}",
            # As AWS's page gives it: ECS does not document the source keys it sets when it
            # assumes this role; only the deploy role may pass it, and only to ECS.
            assume_role_policy=json.dumps(iam_policies.service_trust_policy("ecs.amazonaws.com")),
            opts=child,
        )
        invoke_policy_resource = aws.iam.RolePolicy(
            f"{name}-invoke-policy",
            role=invoke_role.id,
            policy=function.arn.apply(lambda arn: json.dumps(invoke_policy(function_arn=arn))),
            opts=child,
        )
        self.function_arn = function.arn
        self.invoke_role_arn = pulumi.Output.all(arn=invoke_role.arn, policy=invoke_policy_resource.id).apply(
            lambda v: v["arn"]
        )
        self.register_outputs({"function_arn": self.function_arn, "invoke_role_arn": self.invoke_role_arn})
