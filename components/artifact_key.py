"""`ArtifactKey`: the customer-managed KMS key of the artifact store, created when an
environment lives in another account. AWS requires one for cross-account artifacts (the
`aws/s3` managed key cannot be shared); its policy admits exactly the target accounts'
action and deploy roles, to decrypt."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components import iam_policies
from components.outputs import by_name


@dataclass(frozen=True)
class ArtifactKeyArgs:
    name_prefix: str
    account_id: pulumi.Input[str]
    readers: Mapping[str, Sequence[pulumi.Input[str]]]
    """Per target account id: the role ARNs there that read artifacts."""
    writers: Optional[pulumi.Input[list[str]]] = None
    """The role (or user) ARNs that may encrypt with the key (write artifacts), and no one else."""
    protect: bool = True


class ArtifactKey(pulumi.ComponentResource):
    key_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ArtifactKeyArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("ecs-delivery:artifact_key:ArtifactKey", name, None, opts)
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
        accounts = sorted(args.readers)
        policy = pulumi.Output.all(
            partition=partition,
            account_id=args.account_id,
            readers=by_name({a: pulumi.Output.all(*args.readers[a]) for a in accounts}) if accounts else {},
            writers=args.writers,
        ).apply(
            lambda v: json.dumps(
                iam_policies.artifact_key_policy(
                    pipeline_account_root=iam_policies.account_root(v["partition"], v["account_id"]),
                    readers={
                        iam_policies.account_root(v["partition"], account): arns
                        for account, arns in v["readers"].items()
                    },
                    writers=v["writers"],
                )
            )
        )
        key = aws.kms.Key(
            f"{name}-key",
            description=f"{args.name_prefix}: pipeline artifacts, shared with the target accounts' roles",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=policy,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect),
        )
        aws.kms.Alias(
            f"{name}-alias",
            name=f"alias/{args.name_prefix}-artifacts",
            target_key_id=key.key_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.key_arn = key.arn
        self.register_outputs({"key_arn": self.key_arn})
