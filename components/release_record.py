"""`ReleaseRecord`: the durable record of what each gated environment released.

One DynamoDB table per stack, one item per release a gated environment executed (partition key
the environment, sort key the pipeline execution): the release's identity (the template and the
parameters it deploys), the fingerprint of the change set that was approved, the image tag and
digest, who approved it and when, the commits of both repositories. `ReleaseRecorder` writes an
environment's items when its release has executed; the release's confirm reads them to let a
rollback through only to a release that was approved and executed before; an operator redeploys
the last good release from them when CodePipeline cannot roll back (docs/operations.md).

The artifact store expires, so the record lives apart from it. Its resource policy refuses
every write but the recorders' (and deleting or restoring the table to all but the deployer); point-in-time
recovery is on, and a protected stack also turns on deletion protection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components import iam_policies
from components.context import DeliveryContext

PARTITION_KEY = "environment"
SORT_KEY = "executionId"


@dataclass(frozen=True)
class ReleaseRecordArgs:
    context: DeliveryContext
    """Its name prefix names the table `<prefix>-releases`."""
    writers: pulumi.Input[list[str]]
    """The role ARNs that may write records: every environment's recorder."""
    administrators: pulumi.Input[list[str]] = ()
    """Who may delete or restore the table: the deployer."""
    protect: bool = True
    """Protect from `pulumi destroy` and turn on DynamoDB's deletion protection."""


class ReleaseRecord(pulumi.ComponentResource):
    table_name: pulumi.Output[str]
    table_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ReleaseRecordArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("ecs-delivery:release_record:ReleaseRecord", name, None, opts)
        table = aws.dynamodb.Table(
            f"{name}-table",
            name=f"{args.context.name_prefix}-releases",
            billing_mode="PAY_PER_REQUEST",
            hash_key=PARTITION_KEY,
            range_key=SORT_KEY,
            attributes=[{"name": PARTITION_KEY, "type": "S"}, {"name": SORT_KEY, "type": "S"}],
            point_in_time_recovery={"enabled": True},
            deletion_protection_enabled=args.protect,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect),
        )
        aws.dynamodb.ResourcePolicy(
            f"{name}-policy",
            resource_arn=table.arn,
            policy=pulumi.Output.all(
                table_arn=table.arn, writers=args.writers, administrators=args.administrators
            ).apply(
                lambda v: json.dumps(
                    iam_policies.release_record_policy(
                        table_arn=v["table_arn"], writers=v["writers"], administrators=v["administrators"]
                    )
                )
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.table_name = table.name
        self.table_arn = table.arn
        self.register_outputs({"table_name": self.table_name, "table_arn": self.table_arn})
