"""`CrossAccountAccess`: what an environment in another AWS account needs there, declared
with that account's provider (`aws.Provider` assuming `targetAccounts.<id>.roleArn`).

- The **action role** the pipeline role assumes for the environment's CloudFormation
  actions (each action's `roleArn`): it reads those actions' artifacts from the pipeline
  account's bucket with its key, drives the environment's stack only, passes it its deploy
  role (a `DeployRole` in the same account), and reads the alarms its rules watch.
- For a gated environment, the **review reader role** the change-set review assumes to
  describe the change set, read-only, and the **recovery role** the stack recovery assumes
  to delete the stack when its first create failed.

They live under paths this program owns (`/ecs-delivery/<prefix>/{action,review,recovery}/
<env>/`), so the pipeline account's policies can name them before they exist, and each
trusts only one role of the pipeline account: the pipeline's own (under `/ecs-delivery/
pipeline/<prefix>/`), the environment's review role or its recovery role (its root narrowed
by `aws:PrincipalArn`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
import pulumi_aws as aws

from components import cloudformation, iam_policies
from components.context import DeliveryContext


@dataclass(frozen=True)
class CrossAccountAccessArgs:
    environment: str
    stack_name: str
    context: DeliveryContext
    """The pipeline's account (the roles trust its roles), the region (the stack's: `region` is
    refused with `account`), the partition and the artifact store's key (a cross-account
    store always has one)."""
    artifact_bucket_arn: pulumi.Input[str]
    deploy_role_arn: pulumi.Input[str]
    """The environment's `DeployRole` in the target account."""
    review_role_arn: Optional[pulumi.Input[str]] = None
    """The pipeline account's review role, for a gated environment."""
    recovery_role_arn: Optional[pulumi.Input[str]] = None
    """The pipeline account's stack-recovery role, for a gated environment."""
    alarms: Sequence[str] = field(default_factory=tuple)


class CrossAccountAccess(pulumi.ComponentResource):
    action_role_arn: pulumi.Output[str]
    """Resolves once the role's policy is attached."""
    review_reader_role_arn: Optional[pulumi.Output[str]]
    recovery_role_arn: Optional[pulumi.Output[str]]

    def __init__(
        self, name: str, args: CrossAccountAccessArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        """`name` is the environment's (its roles are `<env>-action-role-…`,
        `<env>-reader-role-…` and `<env>-recover-role-…`, within IAM's 64 characters for any
        environment name config accepts)."""
        super().__init__("ecs-delivery:cross_account:CrossAccountAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        context = args.context
        partition = context.partition
        # The target account, as its own provider sees it.
        account_id = aws.get_caller_identity_output(opts=invoke).account_id
        pipeline = pulumi.Output.all(partition=partition, account_id=context.account_id)
        pipeline_root = pipeline.apply(lambda v: iam_policies.account_root(v["partition"], v["account_id"]))
        pipeline_roles = pipeline.apply(
            lambda v: iam_policies.role_path_pattern(
                v["partition"], v["account_id"], iam_policies.pipeline_role_path(context.name_prefix)
            )
        )
        # This environment's stack, in this account.
        stack = pulumi.Output.all(partition=partition, region=context.region, account_id=account_id).apply(
            lambda v: cloudformation.stack_arn(v["partition"], v["region"], v["account_id"], args.stack_name)
        )
        alarm_arns = pulumi.Output.all(
            partition=partition, region=context.region, account_id=account_id
        ).apply(
            lambda v: [
                iam_policies.alarm_arn(v["partition"], v["region"], v["account_id"], alarm)
                for alarm in args.alarms
            ]
        )
        action_role = aws.iam.Role(
            f"{name}-action-role",
            path=iam_policies.target_role_path(context.name_prefix, "action", args.environment),
            description=(
                f"CodePipeline ({context.name_prefix}): deploy {args.stack_name} ({args.environment})"
            ),
            assume_role_policy=pulumi.Output.all(root=pipeline_root, roles=pipeline_roles).apply(
                lambda v: json.dumps(
                    iam_policies.named_roles_trust_policy(
                        trusted_account_root=v["root"], principal_arns=[v["roles"]]
                    )
                )
            ),
            opts=child,
        )
        action_policy = aws.iam.RolePolicy(
            f"{name}-action-policy",
            role=action_role.id,
            policy=pulumi.Output.all(
                bucket_arn=args.artifact_bucket_arn,
                pipeline_account_id=context.account_id,
                kms_key_arn=context.kms_key_arn,
                stack_arn=stack,
                deploy_role_arn=args.deploy_role_arn,
                alarm_arns=alarm_arns,
            ).apply(lambda v: json.dumps(cloudformation.action_role_policy(**v))),
            opts=child,
        )
        # The role's ARN once its policy is attached.
        self.action_role_arn = pulumi.Output.all(arn=action_role.arn, policy=action_policy.id).apply(
            lambda v: v["arn"]
        )

        def role_for_one(
            logical: str,
            kind: str,
            description: str,
            trusted: pulumi.Input[str],
            policy: Callable[[str], Any],
        ) -> pulumi.Output[str]:
            """A role under this environment's `kind` path that only `trusted` (one role of the
            pipeline account) may assume, with `policy(stack ARN)`: its ARN once the policy is on."""
            role = aws.iam.Role(
                f"{name}-{logical}-role",
                path=iam_policies.target_role_path(context.name_prefix, kind, args.environment),
                description=description,
                assume_role_policy=pulumi.Output.all(root=pipeline_root, trusted=trusted).apply(
                    lambda v: json.dumps(
                        iam_policies.named_roles_trust_policy(
                            trusted_account_root=v["root"], principal_arns=[v["trusted"]]
                        )
                    )
                ),
                opts=child,
            )
            attached = aws.iam.RolePolicy(
                f"{name}-{logical}-policy",
                role=role.id,
                policy=stack.apply(lambda arn: json.dumps(policy(arn))),
                opts=child,
            )
            return pulumi.Output.all(arn=role.arn, policy=attached.id).apply(lambda v: v["arn"])

        self.review_reader_role_arn = (
            role_for_one(
                "reader",
                "review",
                f"CodeBuild ({context.name_prefix}): read the {args.stack_name} change set",
                args.review_role_arn,
                lambda arn: cloudformation.review_reader_policy(stack_arn=arn),
            )
            if args.review_role_arn is not None
            else None
        )
        self.recovery_role_arn = (
            role_for_one(
                "recover",
                "recovery",
                f"CodeBuild ({context.name_prefix}): clear a failed first create of {args.stack_name}",
                args.recovery_role_arn,
                lambda arn: cloudformation.stack_recovery_policy(stack_arn=arn),
            )
            if args.recovery_role_arn is not None
            else None
        )
        self.register_outputs(
            {
                "action_role_arn": self.action_role_arn,
                "review_reader_role_arn": self.review_reader_role_arn,
                "recovery_role_arn": self.recovery_role_arn,
            }
        )
