"""`Approvers`: who may answer one gated environment's approval.

Per gated environment: a managed policy (under `/ecs-delivery/`) that allows
`codepipeline:PutApprovalResult` on this environment's approval action alone, plus seeing the
pipeline, attached to each principal `environments[].approvers` names (IAM roles and users of
the pipeline's account) and, with `approverGroup`, to an IAM group the program creates.

An account-local policy can only add permissions: whoever already holds
`codepipeline:PutApprovalResult` on `*` (an administrator, `AWSCodePipelineApproverAccess`,
`PowerUserAccess`) can still answer. Two things close that: the release's confirm refuses a
release whose approval was answered by anyone not named here (`build-image/release_gate.py`),
and the organisation guard docs/security.md gives (an SCP denying PutApprovalResult on these
approvals to every other principal).

Roles under `/aws-reserved/` (IAM Identity Center's permission-set roles, `role/aws-reserved/
sso.amazonaws.com/<region>/AWSReservedSSO_<set>_<suffix>`: IAM Identity Center user guide,
"Referencing permission sets in resource policies, Amazon EKS, and Amazon KMS") are not
attached to: IAM refuses it ("Cannot perform the operation on the protected role", AWS
re:Post, "How do I resolve the IAM error ... protected role AWSReservedSSO"). Attach the
policy, by its fixed name and path, to the permission set instead (a permission set names a
customer managed policy by name and path); the confirm accepts the role by name like any other.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components import iam_policies
from components.config.schema import principal_kind_and_name
from components.context import DeliveryContext

APPROVAL_ACTION = "Approve"
RESERVED_ROLE_PATH_PREFIX = "/aws-reserved/"


def approver_policy_name(name_prefix: str, environment: str) -> str:
    return f"{name_prefix}-approve-{environment}"


def group_name(name_prefix: str, environment: str) -> str:
    return f"{name_prefix}-{environment}-approvers"


@dataclass(frozen=True)
class ApproversArgs:
    context: DeliveryContext
    """Its name prefix names the policy and the group `<prefix>-<environment>-approvers`."""
    environment: str
    pipeline_arn: pulumi.Input[str]
    approval_stage: str
    """The stage that holds the environment's approval (`<environment>-approval`)."""
    principals: Sequence[str] = ()
    """IAM role and user ARNs (`environments[].approvers`)."""
    create_group: bool = False


class Approvers(pulumi.ComponentResource):
    policy_arn: pulumi.Output[str]
    group_name: Optional[pulumi.Output[str]]
    group_arn: Optional[pulumi.Output[str]]

    def __init__(self, name: str, args: ApproversArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("ecs-delivery:approvers:Approvers", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        policy = aws.iam.Policy(
            f"{name}-policy",
            # A fixed name: a permission set refers to a customer managed policy by name and path.
            name=approver_policy_name(args.context.name_prefix, args.environment),
            path=iam_policies.DELIVERY_ROLE_PATH,
            description=(
                f"Approve {args.environment} releases of {args.context.name_prefix}, and nothing else"
            ),
            policy=pulumi.Output.from_input(args.pipeline_arn).apply(
                lambda pipeline: json.dumps(
                    iam_policies.approver_policy(
                        pipeline=pipeline,
                        approval_action=iam_policies.approval_action_arn(
                            pipeline, args.approval_stage, APPROVAL_ACTION
                        ),
                    )
                )
            ),
            opts=child,
        )
        for index, arn in enumerate(args.principals):
            kind, path, principal = principal_kind_and_name(arn)
            if kind == "role" and path.startswith(RESERVED_ROLE_PATH_PREFIX):
                continue
            attachment = aws.iam.RolePolicyAttachment if kind == "role" else aws.iam.UserPolicyAttachment
            target = {"role": principal} if kind == "role" else {"user": principal}
            attachment(f"{name}-{kind}-{index}", policy_arn=policy.arn, **target, opts=child)
        self.group_name = None
        self.group_arn = None
        if args.create_group:
            group = aws.iam.Group(
                f"{name}-group",
                name=group_name(args.context.name_prefix, args.environment),
                path=iam_policies.DELIVERY_ROLE_PATH,
                opts=child,
            )
            aws.iam.GroupPolicyAttachment(
                f"{name}-group-policy", group=group.name, policy_arn=policy.arn, opts=child
            )
            self.group_name = group.name
            self.group_arn = group.arn
        self.policy_arn = policy.arn
        outputs: dict[str, pulumi.Output[str]] = {"policy_arn": self.policy_arn}
        if self.group_name is not None and self.group_arn is not None:
            outputs.update(group_name=self.group_name, group_arn=self.group_arn)
        self.register_outputs(outputs)
