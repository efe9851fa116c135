"""`DeployRole`: the role CloudFormation assumes to deploy one environment's stack, and
the permissions boundary every role that stack creates must carry.

One per environment, so an ungated environment's deploy cannot reach a gated one's
roles: the role may create, change and pass only the roles under its own stack's IAM path
(`/<stack>/`), may write them only while they carry this environment's boundary, and
may never remove a boundary nor rewrite a boundary policy. Neither it nor any role its stack
creates may write the delivery system's stores (what a gated environment will run is read
from them), and it may not act on the stack's pipeline or CodeBuild projects. What it cannot isolate
within one account (data and services that are not IAM) is written in the README.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import pulumi
import pulumi_aws as aws

from components import cloudformation, iam_policies
from components.iam_policies import PolicyDocument

if TYPE_CHECKING:
    from components.config import EnvironmentConfig

# Every boundary this program declares lives under this path, so one Deny statement can
# protect all of them (those of other environments and other stacks included).
BOUNDARY_POLICY_PATH = iam_policies.DELIVERY_ROLE_PATH
BOUNDARY_TAG_KEY, BOUNDARY_TAG_VALUE = "ecs-delivery:use", "permissions-boundary"


def boundary_policy_arn_pattern(partition: str, account_id: str) -> str:
    return f"arn:{partition}:iam::{account_id}:policy{BOUNDARY_POLICY_PATH}*"


def neighbour_stacks(environments: Sequence[EnvironmentConfig], environment: EnvironmentConfig) -> list[str]:
    """The stacks of the other environments deployed into `environment`'s account: its deploy
    role keeps off them (`DeployRoleArgs.neighbour_stacks`)."""
    return [
        other.stack_name
        for other in environments
        if other.account == environment.account and other is not environment
    ]


def _store_guard(store_arns: Sequence[str]) -> list[dict]:
    return iam_policies.protected_stores_statements(store_arns) if store_arns else []


def boundary_policy(
    *, partition: str, account_id: str, stack_name: str, protected_stores: Sequence[str]
) -> PolicyDocument:
    """The boundary's document (a managed policy, IAM's 6,144 characters), of resolved values:
    the component declares it, the size refusal (components/policy_size.py) counts it."""
    return cloudformation.stack_role_boundary_policy(
        partition=partition,
        account_id=account_id,
        stack_name=stack_name,
        guard_statements=_store_guard(protected_stores),
    )


def inline_policy(
    *,
    partition: str,
    account_id: str,
    stack_name: str,
    boundary_policy_arn: str,
    protected_stores: Sequence[str],
    pipeline_arn: Optional[str],
    project_arn_pattern: Optional[str],
    neighbour_stacks: Sequence[str],
    ecs_passed_role_arns: Sequence[str],
) -> PolicyDocument:
    """The role's inline policy (its only one: IAM's 10,240 characters for a role's), of
    resolved values: the component declares it, the size refusal counts it."""
    return cloudformation.deploy_role_policy(
        partition=partition,
        account_id=account_id,
        stack_name=stack_name,
        boundary_policy_arn=boundary_policy_arn,
        protected_policy_arns=[boundary_policy_arn_pattern(partition, account_id)],
        ecs_passed_role_arns=ecs_passed_role_arns or (),
        guard_statements=[
            *_store_guard(protected_stores),
            *(
                [
                    iam_policies.delivery_system_statement(
                        pipeline_arn=pipeline_arn, project_arn_pattern=project_arn_pattern
                    )
                ]
                if pipeline_arn and project_arn_pattern
                else []
            ),
            *(
                [
                    iam_policies.other_stacks_statement(
                        partition=partition, account_id=account_id, stack_names=neighbour_stacks
                    )
                ]
                if neighbour_stacks
                else []
            ),
        ],
    )


@dataclass(frozen=True)
class DeployRoleArgs:
    environment: str
    """Environment name (pipeline stage); names the role and the boundary."""
    stack_name: str
    """The CloudFormation stack this role deploys; its roles live under `/<stack_name>/`."""
    account_id: pulumi.Input[str]
    managed_policy_arns: Optional[Sequence[str]] = None
    """Managed policies for everything but IAM; None means AWS's PowerUserAccess."""
    permissions_boundary_arn: Optional[str] = None
    """A boundary for the deploy role itself (an organisation's guardrail), if any."""
    protected_stores: pulumi.Input[list[str]] = ()
    """The ARNs of the delivery system's stores (artifact bucket and its objects, artifact key,
    image repositories, release record): neither this role nor any role its stack creates may
    write, replace or delete anything there."""
    pipeline_arn: Optional[pulumi.Input[str]] = None
    """The stack's pipeline: this role may not act on it (approve, update, run) ..."""
    project_arn_pattern: Optional[pulumi.Input[str]] = None
    """... nor on the stack's CodeBuild projects (`project/<app>-<stack>-*`)."""
    neighbour_stacks: Sequence[str] = ()
    """The stacks of the other environments deployed into this role's account: it may not act
    on them."""
    ecs_passed_role_arns: pulumi.Input[list[str]] = ()
    """Roles outside the stack's path its template hands to ECS (the lifecycle-hook invoke
    role): this role may pass them to ecs.amazonaws.com and to nothing else."""


class DeployRole(pulumi.ComponentResource):
    role_arn: pulumi.Output[str]
    """The role's ARN, resolved only once all its policies are attached, so a pipeline
    that references it cannot run a deploy with half its permissions."""
    principal_arn: pulumi.Output[str]
    """The role's ARN as soon as the role exists: for the resource policies that admit it
    (the artifact bucket and key), which its own policy names in turn (it keeps off them), so
    they must not wait for its policies."""
    boundary_policy_arn: pulumi.Output[str]
    """The boundary the stack's roles must carry; passed to the template as a parameter."""

    def __init__(self, name: str, args: DeployRoleArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("ecs-delivery:deploy_role:DeployRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition

        boundary = aws.iam.Policy(
            f"{name}-boundary",
            path=BOUNDARY_POLICY_PATH,
            description=(
                f"Ceiling of every role the {args.stack_name} stack creates (no IAM, no delivery services)"
            ),
            policy=pulumi.Output.all(
                partition=partition, account_id=args.account_id, stores=args.protected_stores
            ).apply(
                lambda v: json.dumps(
                    boundary_policy(
                        partition=v["partition"],
                        account_id=v["account_id"],
                        stack_name=args.stack_name,
                        protected_stores=v["stores"],
                    )
                )
            ),
            # Read by the policy pack: a boundary is judged as a ceiling, not as a grant.
            tags={BOUNDARY_TAG_KEY: BOUNDARY_TAG_VALUE},
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-role",
            description=f"CloudFormation: deploy the {args.stack_name} stack ({args.environment})",
            # CloudFormation does not document setting aws:SourceAccount/SourceArn when it
            # assumes a service role; only principals allowed to pass this role (the
            # pipeline role, by its PassRole statement) can make it act.
            assume_role_policy=json.dumps(iam_policies.service_trust_policy("cloudformation.amazonaws.com")),
            permissions_boundary=args.permissions_boundary_arn,
            opts=child,
        )
        if args.managed_policy_arns:
            policy_arns: list[pulumi.Input[str]] = list(args.managed_policy_arns)
        else:
            # Everything but IAM, Organizations and Account; the IAM the stack needs is
            # the inline policy below.
            policy_arns = [partition.apply(lambda p: f"arn:{p}:iam::aws:policy/PowerUserAccess")]
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-managed-{index}", role=role.name, policy_arn=arn, opts=child
            )
            for index, arn in enumerate(policy_arns)
        ]
        iam_policy = aws.iam.RolePolicy(
            f"{name}-iam",
            role=role.id,
            policy=pulumi.Output.all(
                partition=partition,
                account_id=args.account_id,
                boundary=boundary.arn,
                stores=args.protected_stores,
                pipeline=args.pipeline_arn,
                projects=args.project_arn_pattern,
                ecs_roles=args.ecs_passed_role_arns,
            ).apply(
                lambda v: json.dumps(
                    inline_policy(
                        partition=v["partition"],
                        account_id=v["account_id"],
                        stack_name=args.stack_name,
                        boundary_policy_arn=v["boundary"],
                        protected_stores=v["stores"],
                        pipeline_arn=v["pipeline"],
                        project_arn_pattern=v["projects"],
                        neighbour_stacks=args.neighbour_stacks,
                        ecs_passed_role_arns=v["ecs_roles"],
                    )
                )
            ),
            opts=child,
        )
        # The role's ARN once every policy is attached: what runs with it has all of them.
        self.role_arn = pulumi.Output.all(
            arn=role.arn, inline=iam_policy.id, attached=pulumi.Output.all(*(a.id for a in attachments))
        ).apply(lambda v: v["arn"])
        self.principal_arn = role.arn
        self.boundary_policy_arn = boundary.arn
        self.register_outputs({"role_arn": self.role_arn, "boundary_policy_arn": self.boundary_policy_arn})
